package billing

import "time"

// PaymentMethodStatus follows the contract: pending_validation → validated | rejected | expired.
type PaymentMethodStatus string

const (
	PMPendingValidation PaymentMethodStatus = "pending_validation"
	PMValidated         PaymentMethodStatus = "validated"
	PMRejected          PaymentMethodStatus = "rejected"
	PMExpired           PaymentMethodStatus = "expired"
)

// Final reports whether no decision can change the status any more.
func (s PaymentMethodStatus) Final() bool { return s != PMPendingValidation }

// PaymentMethod is a card on file. Only the processor's token and the card's public facts
// are kept: the full number and the CVC never get this far.
type PaymentMethod struct {
	ID                 string
	AccountID          string
	Status             PaymentMethodStatus
	ProcessorToken     string
	Brand              string
	Last4              string
	ExpMonth           int
	ExpYear            int
	HolderName         string
	EUSupported        bool
	ContactEmail       string
	BillingAddress     Address
	CreatedAt          time.Time
	ValidationDeadline time.Time
	DecidedAt          *time.Time
	DecisionReason     string
	DecidedBy          string // the deciding rep's key id; empty when the deadline passed
	DecidedByName      string // that rep's name (the key's label)
	WorkflowID         string
	// Metadata is the customer's own key-value pairs, kept and shown back, never acted on.
	Metadata map[string]string
}

// Decision is a rep's verdict on a pending card.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
)

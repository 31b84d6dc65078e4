package billing

import "time"

// PaymentStatus: processing → succeeded | failed; PayPal passes through requires_action and
// may end canceled or expired.
type PaymentStatus string

const (
	PaymentProcessing     PaymentStatus = "processing"
	PaymentRequiresAction PaymentStatus = "requires_action"
	PaymentSucceeded      PaymentStatus = "succeeded"
	PaymentFailed         PaymentStatus = "failed"
	PaymentCanceled       PaymentStatus = "canceled"
	PaymentExpired        PaymentStatus = "expired"
)

// Final reports whether the payment can no longer change.
func (s PaymentStatus) Final() bool {
	switch s {
	case PaymentSucceeded, PaymentFailed, PaymentCanceled, PaymentExpired:
		return true
	}
	return false
}

// Phrase says where the payment stands as the rest of a sentence about it, with the status
// name in parentheses so a reader can match it to the API's field: "payment pay_1 " +
// "has already succeeded (succeeded)".
func (s PaymentStatus) Phrase() string {
	switch s {
	case PaymentProcessing:
		return "is still being processed (processing)"
	case PaymentRequiresAction:
		return "is waiting for the buyer (requires_action)"
	case PaymentSucceeded:
		return "has already succeeded (succeeded)"
	case PaymentFailed:
		return "has already failed (failed)"
	case PaymentCanceled:
		return "was already canceled (canceled)"
	case PaymentExpired:
		return "has already expired (expired)"
	}
	return "is " + string(s)
}

// Compensation is what undoing a payment that did not go through did with the money.
type Compensation string

const (
	CompensationNone Compensation = ""
	// CompensationHoldReleased: the card hold was voided or the PayPal order closed; no money
	// was taken.
	CompensationHoldReleased Compensation = "hold_released"
	// CompensationRefunded: money was taken and given back in full (RefundID).
	CompensationRefunded Compensation = "refunded"
	// CompensationRefundRefused: money was taken and the processor refused to give it back;
	// a person must act, and the reconciler reports it until then.
	CompensationRefundRefused Compensation = "refund_refused"
)

// PaymentMethodKind is how a one-time payment is made.
type PaymentMethodKind string

const (
	MethodCard   PaymentMethodKind = "card"
	MethodPayPal PaymentMethodKind = "paypal"
)

// Failure says why a payment failed; Code is a processor decline code or one of ours.
type Failure struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Payment is a one-time payment against an account's balance.
type Payment struct {
	ID             string
	AccountID      string
	Status         PaymentStatus
	Method         PaymentMethodKind
	Amount         Money
	CardToken      string // processor token for card payments; never the number
	CardBrand      string
	CardLast4      string
	BillingAddress *Address
	EUSupported    bool
	PayPalOrderID  string
	ApprovalURL    string
	ReturnURL      string
	CaptureID      string
	RefundID       string
	// AmountRefunded is what reps' refunds have given back or are giving back (minor units).
	AmountRefunded int64
	// AuthorizationID is the card hold the saga took; Compensation what undoing it did.
	AuthorizationID string
	Compensation    Compensation
	CompensatedAt   *time.Time
	Failure         *Failure
	CreatedAt       time.Time
	CompletedAt     *time.Time
	WorkflowID      string
	// InvoiceID is the invoice the payment was made for (a recurring charge); empty when it
	// pays the balance.
	InvoiceID string
	// Metadata is the customer's own key-value pairs, kept and shown back, never acted on.
	Metadata map[string]string
}

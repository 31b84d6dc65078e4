package billing

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// RefundStatus: pending while the processor gives the money back, then succeeded (booked,
// with its Refund invoice) or failed (the processor refused; nothing moved).
type RefundStatus string

const (
	RefundPending   RefundStatus = "pending"
	RefundSucceeded RefundStatus = "succeeded"
	RefundFailed    RefundStatus = "failed"
)

// Refund is a rep giving back part or all of a succeeded payment, with why.
type Refund struct {
	ID                string
	PaymentID         string
	AccountID         string
	Status            RefundStatus
	Amount            Money
	Reason            string
	CreatedBy         string // the rep's key id
	CreatedByName     string // the rep's name, when read for an answer
	ProcessorRefundID string
	Failure           *Failure
	InvoiceID         string // the Refund invoice, once succeeded
	WorkflowID        string
	CreatedAt         time.Time
	CompletedAt       *time.Time
}

// CreditStatus: pending until its Credit invoice is booked, then issued.
type CreditStatus string

const (
	CreditPending CreditStatus = "pending"
	CreditIssued  CreditStatus = "issued"
)

// Credit is a rep lowering what an account owes, with why; the customer sees a Credit invoice.
type Credit struct {
	ID            string
	AccountID     string
	Status        CreditStatus
	Amount        Money
	Reason        string
	CreatedBy     string
	CreatedByName string
	InvoiceID     string
	WorkflowID    string
	CreatedAt     time.Time
	IssuedAt      *time.Time
}

// MaxReasonLength bounds a rep's reason, in characters.
const MaxReasonLength = 500

// NormalizeReason folds a rep's reason's whitespace and checks it: required, plain text, at
// most MaxReasonLength characters.
func NormalizeReason(reason string) (string, error) {
	r := strings.Join(strings.Fields(reason), " ")
	switch {
	case r == "":
		return "", Invalid(CodeMissingField, "reason", "a reason is required")
	case !utf8.ValidString(r) || strings.ContainsFunc(r, unicode.IsControl):
		return "", Invalid(CodeInvalidValue, "reason", "reason must be plain text, without control characters")
	case utf8.RuneCountInString(r) > MaxReasonLength:
		return "", Invalid(CodeInvalidValue, "reason", "reason is limited to %d characters", MaxReasonLength)
	}
	return r, nil
}

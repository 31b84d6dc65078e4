// Package workflows holds PayPortal's business processes as deterministic Temporal workflows:
// card validation, the one-time payment saga and recurring billing. Side effects live in
// activities/; this package only orchestrates. The IDs, signal and query names and search
// attributes below are the contract with the API and with ops, declared once.
package workflows

import "go.temporal.io/sdk/temporal"

// Workflow IDs from the contract: ops find a workflow from the resource ID alone.
func CardValidationWorkflowID(paymentMethodID string) string {
	return "card-validation/" + paymentMethodID
}
func PaymentWorkflowID(paymentID string) string { return "payment/" + paymentID }
func RefundWorkflowID(refundID string) string   { return "refund/" + refundID }
func CreditWorkflowID(creditID string) string   { return "credit/" + creditID }

// Signal and query names.
const (
	SignalRepDecision  = "rep-decision"
	SignalPayPalReturn = "paypal-return"
	SignalCancel       = "cancel-payment"
	// SignalCardAuthenticationReturn is the cardholder back from 3-D Secure.
	SignalCardAuthenticationReturn = "card-authentication-return"
	QueryStatus                    = "status"
)

// Update names: requests the workflow answers itself. Each has a validator, so a request
// wrong for the workflow's state is refused before it enters the history.
const (
	// UpdatePaymentStarted is sent with the payment saga's start (update-with-start). It
	// answers the PaymentState once there is something to tell the buyer: a PayPal payment's
	// approval_url, or a final status.
	UpdatePaymentStarted = "payment-started"
	// UpdateCancelPayment cancels a payment waiting for the buyer, as SignalCancel does, and
	// answers the final PaymentState. Refused unless the payment is requires_action.
	UpdateCancelPayment = "cancel-payment"
	// UpdateRepDecision is a rep's decision on a card, as SignalRepDecision is, answered with
	// the CardValidationState once the outcome is recorded. Refused once the card is decided.
	UpdateRepDecision = "rep-decision"
)

// Error types of the updates' refusals, which the API turns into its 409s.
const (
	ErrTypeNotCancelable  = "not_cancelable"
	ErrTypeAlreadyDecided = "already_decided"
	ErrTypeInvalidRequest = "invalid_request"
)

// Search attributes registered on the server; every workflow sets the ones that apply.
var (
	AccountIDKey         = temporal.NewSearchAttributeKeyKeyword("AccountId")
	PaymentStatusKey     = temporal.NewSearchAttributeKeyKeyword("PaymentStatus")
	PaymentMethodKindKey = temporal.NewSearchAttributeKeyKeyword("PaymentMethodKind")
	AmountMinorKey       = temporal.NewSearchAttributeKeyInt64("AmountMinor")
)

// SearchAttributeTypes is what the dev server and tests register, as `NAME=Type` pairs for
// `temporal server start-dev --search-attribute`.
var SearchAttributeTypes = []string{"AccountId=Keyword", "PaymentStatus=Keyword", "PaymentMethodKind=Keyword", "AmountMinor=Int"}

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

// Signal and query names.
const (
	SignalRepDecision  = "rep-decision"
	SignalPayPalReturn = "paypal-return"
	SignalCancel       = "cancel-payment"
	QueryStatus        = "status"
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

package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Workflow type names. Running workflows and schedules name their type in Temporal: renaming
// a Go function must never rename its type, so every workflow is registered, started and run
// as a child under these names, never under its function's name. (Payment's name predates the
// "…Workflow" habit of the others; the server knows it as it is.)
const (
	TypeCardValidation       = "CardValidationWorkflow"
	TypePayment              = "Payment"
	TypeBillingDay           = "BillingDayWorkflow"
	TypeRecurringBilling     = "RecurringBillingWorkflow"
	TypeReconcile            = "Reconcile"
	TypeSyncBillingSchedules = "SyncBillingSchedules"
	TypeWebhookDelivery      = "WebhookDeliveryWorkflow"
	TypeWebhookDispatcher    = "WebhookDispatcher"
	TypeRefund               = "RefundWorkflow"
	TypeCredit               = "CreditWorkflow"
)

// RegisterAll registers every workflow under its type name.
func RegisterAll(r worker.WorkflowRegistry) {
	for name, fn := range map[string]any{
		TypeCardValidation:       CardValidationWorkflow,
		TypePayment:              Payment,
		TypeBillingDay:           BillingDayWorkflow,
		TypeRecurringBilling:     RecurringBillingWorkflow,
		TypeReconcile:            Reconcile,
		TypeSyncBillingSchedules: SyncBillingSchedules,
		TypeWebhookDelivery:      WebhookDeliveryWorkflow,
		TypeWebhookDispatcher:    WebhookDispatcher,
		TypeRefund:               RefundWorkflow,
		TypeCredit:               CreditWorkflow,
	} {
		r.RegisterWorkflowWithOptions(fn, workflow.RegisterOptions{Name: name})
	}
}

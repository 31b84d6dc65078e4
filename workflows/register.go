package workflows

import "go.temporal.io/sdk/worker"

// RegisterAll registers every workflow.
func RegisterAll(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(CardValidationWorkflow)
	r.RegisterWorkflow(Payment)
	r.RegisterWorkflow(BillingDayWorkflow)
	r.RegisterWorkflow(RecurringBillingWorkflow)
	r.RegisterWorkflow(Reconcile)
	r.RegisterWorkflow(SyncBillingSchedules)
}

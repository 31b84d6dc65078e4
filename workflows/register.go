package workflows

import (
	"time"

	"go.temporal.io/sdk/worker"
)

// Settings are the workflow-level knobs from the environment. They travel inside each
// workflow's input (not read from globals), so replays see the values the run started with.
type Settings struct {
	CardValidationTimeout time.Duration
	PayPalApprovalTimeout time.Duration
}

// RegisterAll registers every workflow. Each feature adds its line here.
func RegisterAll(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(CardValidationWorkflow)
	r.RegisterWorkflow(Payment)
	r.RegisterWorkflow(BillingDayWorkflow)
	r.RegisterWorkflow(RecurringBillingWorkflow)
}

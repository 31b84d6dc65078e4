package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
)

// WebhookDispatcherID is the one dispatcher of a task queue's events outbox: every worker
// asks for it at start, and the workflow ID makes that one workflow however many workers run.
func WebhookDispatcherID(taskQueue string) string { return "webhook-dispatcher/" + taskQueue }

// dispatchStretches is how many stretches a run dispatches before it goes on as a new run,
// keeping its history short: an hour of minutes.
const dispatchStretches = 60

// WebhookDispatcher hands the outbox's events to their delivery workflows, and mails the
// payment receipts due, for as long as it runs. Each stretch is one activity that dispatches for a minute, heartbeating: a worker
// that dies or stops gives it up within the heartbeat timeout and another worker takes over.
func WebhookDispatcher(ctx workflow.Context) error {
	var a *activities.Webhooks
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * activities.DispatchStretch,
		HeartbeatTimeout:    20 * time.Second,
		// No maximum of attempts: the dispatcher is never done.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	stretch := 0 // the query's answer only
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (WebhookDispatcherStatusQuery, error) {
		return WebhookDispatcherStatusQuery{Status: "dispatching", Stretch: stretch, Stretches: dispatchStretches}, nil
	}); err != nil {
		return err
	}
	for range dispatchStretches {
		stretch++
		if err := workflow.ExecuteActivity(actx, a.DispatchEvents).Get(ctx, nil); err != nil {
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, TypeWebhookDispatcher)
}

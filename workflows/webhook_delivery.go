package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
)

// WebhookDeliveryInput is one event for one endpoint, with the retry settings the run keeps
// (config.WebhookRetries when it started).
type WebhookDeliveryInput struct {
	EventID     string
	EndpointID  string
	RetryFirst  time.Duration // the wait after the first failed attempt, doubled each time
	RetryMax    time.Duration // the longest wait between attempts
	GiveUpAfter time.Duration // failing this long disables the endpoint
}

// WebhookDeliveryWorkflowID is the delivery of an event to an endpoint: starting it twice is
// one delivery. A redelivery the account asked for adds its own suffix.
func WebhookDeliveryWorkflowID(eventID, endpointID string) string {
	return "webhook-" + eventID + "-" + endpointID
}

// WebhookDeliveryWorkflow posts the event until the receiver takes it (a 2xx), retrying with
// exponential backoff for GiveUpAfter: the activity's retry policy is the loop, so the
// history stays a few events however many attempts it takes. An endpoint that failed the
// whole time is disabled and its owner mailed.
func WebhookDeliveryWorkflow(ctx workflow.Context, in WebhookDeliveryInput) error {
	var a *activities.Webhooks
	d := activities.WebhookDelivery{EventID: in.EventID, EndpointID: in.EndpointID}
	status := WebhookDelivering // the query's answer only: no command depends on it
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (WebhookDeliveryStatusQuery, error) {
		return WebhookDeliveryStatusQuery{Status: status, EventID: in.EventID, EndpointID: in.EndpointID}, nil
	}); err != nil {
		return err
	}
	deliverCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute, // the post itself gives up after 10 s
		ScheduleToCloseTimeout: in.GiveUpAfter,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: in.RetryFirst, BackoffCoefficient: 2,
			MaximumInterval: in.RetryMax},
	})
	err := workflow.ExecuteActivity(deliverCtx, a.DeliverWebhook, d).Get(ctx, nil)
	if err == nil {
		status = WebhookDelivered
		return nil
	}
	status = WebhookDisablingEndpoint
	workflow.GetLogger(ctx).Warn("webhook endpoint failed for the whole retry window; disabling it",
		"event", in.EventID, "endpoint", in.EndpointID)
	disableCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Minute},
	})
	if err := workflow.ExecuteActivity(disableCtx, a.DisableWebhookEndpoint, d).Get(ctx, nil); err != nil {
		return err
	}
	status = WebhookEndpointDisabled
	return nil
}

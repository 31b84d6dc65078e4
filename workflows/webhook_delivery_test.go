package workflows_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/workflows"
)

var webhookSteps *activities.Webhooks

// deliveryInput waits an hour, doubling up to 12 hours, for 3 days: 9 attempts, under the
// test environment's cap of 10 (the server has none).
func deliveryInput() workflows.WebhookDeliveryInput {
	return workflows.WebhookDeliveryInput{EventID: "evt_1", EndpointID: "we_1",
		RetryFirst: time.Hour, RetryMax: 12 * time.Hour, GiveUpAfter: 72 * time.Hour}
}

// A receiver that never takes the event is tried with growing waits for three days, then
// its endpoint is disabled (the activity mails the owner); the clock skips, nothing waits.
func TestWebhookDeliveryGivesUpAfterThreeDaysAndDisablesTheEndpoint(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: workflows.TypeWebhookDelivery})
	env.RegisterActivity(webhookSteps)
	var attempts []time.Time
	env.OnActivity(webhookSteps.DeliverWebhook, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.WebhookDelivery) error {
			attempts = append(attempts, env.Now())
			return errors.New("receiver answered 500")
		})
	disabled := 0
	env.OnActivity(webhookSteps.DisableWebhookEndpoint, mock.Anything, activities.WebhookDelivery{EventID: "evt_1", EndpointID: "we_1"}).Return(
		func(context.Context, activities.WebhookDelivery) error { disabled++; return nil })
	env.ExecuteWorkflow(workflows.TypeWebhookDelivery, deliveryInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if disabled != 1 {
		t.Fatalf("endpoint disabled %d times, want once", disabled)
	}
	if len(attempts) != 9 {
		t.Fatalf("%d attempts in three days, want 9 (1 h, doubling up to 12 h)", len(attempts))
	}
	if gap := attempts[2].Sub(attempts[1]); gap <= attempts[1].Sub(attempts[0]) {
		t.Errorf("waits do not grow: %s then %s", attempts[1].Sub(attempts[0]), gap)
	}
	if span := attempts[len(attempts)-1].Sub(attempts[0]); span < 60*time.Hour || span > 72*time.Hour {
		t.Errorf("attempts span %s, want about 3 days", span)
	}
}

// Taken on the third attempt: delivered, the endpoint stays.
func TestWebhookDeliveryStopsAtTheFirstSuccess(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: workflows.TypeWebhookDelivery})
	env.RegisterActivity(webhookSteps)
	calls := 0
	env.OnActivity(webhookSteps.DeliverWebhook, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.WebhookDelivery) error {
			if calls++; calls < 3 {
				return errors.New("receiver answered 503")
			}
			return nil
		})
	env.ExecuteWorkflow(workflows.TypeWebhookDelivery, deliveryInput())
	if err := env.GetWorkflowError(); err != nil || calls != 3 {
		t.Fatalf("%d attempts, %v; want delivered on the third", calls, err)
	}
	env.AssertNotCalled(t, "DisableWebhookEndpoint", mock.Anything, mock.Anything)
}

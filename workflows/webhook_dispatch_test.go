package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/workflows"
)

// The dispatcher dispatches stretch after stretch, a stretch that failed (its worker died) is
// tried again, and after an hour of stretches the run goes on as a new one.
func TestWebhookDispatcherRunsStretchesThenContinuesAsNew(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WebhookDispatcher, workflow.RegisterOptions{Name: workflows.TypeWebhookDispatcher})
	env.RegisterActivity(webhookSteps)
	calls := 0
	env.OnActivity(webhookSteps.DispatchEvents, mock.Anything).Return(func(context.Context) error {
		calls++
		if calls == 3 {
			return errors.New("the worker is stopping: another worker goes on")
		}
		return nil
	})
	env.ExecuteWorkflow(workflows.TypeWebhookDispatcher)

	var cont *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &cont) || cont.WorkflowType.Name != workflows.TypeWebhookDispatcher {
		t.Fatalf("the run ended %v; want it to continue as a new %s", err, workflows.TypeWebhookDispatcher)
	}
	if calls != 61 { // 60 stretches, one of them tried twice
		t.Errorf("%d DispatchEvents calls, want 61", calls)
	}
}

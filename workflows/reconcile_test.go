package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

var reconcileSteps *activities.Reconciler

// A pass runs its three steps in order and adds up what they found; the run ID ties the
// findings recorded in the database to the workflow run ops see in the UI.
func TestReconcileRunsEveryStepAndSumsTheFindings(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.Reconcile)
	env.RegisterActivity(reconcileSteps)
	var order []string
	var runIDs []string
	step := func(name string, rep activities.ReconcileReport) func(context.Context, activities.ReconcileInput) (activities.ReconcileReport, error) {
		return func(_ context.Context, in activities.ReconcileInput) (activities.ReconcileReport, error) {
			order = append(order, name)
			runIDs = append(runIDs, in.RunID)
			return rep, nil
		}
	}
	env.OnActivity(reconcileSteps.ResolveStrandedPayments, mock.Anything, mock.Anything).Return(step("stranded",
		activities.ReconcileReport{Checked: 3, Findings: []postgres.Finding{{Kind: postgres.FindingStrandedPayment, Resolved: true}}}))
	env.OnActivity(reconcileSteps.CheckCaptures, mock.Anything, mock.Anything).Return(step("captures",
		activities.ReconcileReport{Checked: 5}))
	env.OnActivity(reconcileSteps.CheckBooks, mock.Anything, mock.Anything).Return(step("books",
		activities.ReconcileReport{Findings: []postgres.Finding{{Kind: postgres.FindingBalanceMismatch}}, Unresolved: 1}))

	env.ExecuteWorkflow(workflows.Reconcile, activities.ReconcileInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var rep activities.ReconcileReport
	if err := env.GetWorkflowResult(&rep); err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != "stranded" || order[1] != "captures" || order[2] != "books" {
		t.Errorf("steps ran %v, want stranded, captures, books", order)
	}
	if rep.Checked != 8 || len(rep.Findings) != 2 || rep.Unresolved != 1 {
		t.Errorf("report %+v, want 8 checked, 2 findings, 1 unresolved", rep)
	}
	if runIDs[0] == "" || runIDs[0] != runIDs[2] {
		t.Errorf("run IDs %v, want the workflow's run ID on every step", runIDs)
	}
}

// A step that fails for good fails the pass, so the schedule's next run tries again and ops
// see the failed run.
func TestReconcileFailsWhenAStepFails(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.Reconcile)
	env.RegisterActivity(reconcileSteps)
	env.OnActivity(reconcileSteps.ResolveStrandedPayments, mock.Anything, mock.Anything).Return(activities.ReconcileReport{}, errors.New("database down"))
	env.ExecuteWorkflow(workflows.Reconcile, activities.ReconcileInput{})
	if env.GetWorkflowError() == nil {
		t.Error("pass succeeded though its first step failed")
	}
}

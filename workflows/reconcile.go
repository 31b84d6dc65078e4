package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
)

// ReconcileScheduleID names the schedule that runs the reconciler; ops pause or trigger it in
// the Temporal UI.
const ReconcileScheduleID = "reconcile"

// ReconcileEvery is how often the reconciler runs: a stranded payment holds the customer's
// balance for at most about this long past its grace period.
const ReconcileEvery = 5 * time.Minute

// reconcileSteps names the reconciler's activities; only its methods are used.
var reconcileSteps *activities.Reconciler

// Reconcile is one pass of the reconciler: settle payments whose saga is gone, refund money
// taken that the books do not show, then check the books' invariants. Every finding is
// recorded in reconciliation_findings; the report says how many need a person.
func Reconcile(ctx workflow.Context, in activities.ReconcileInput) (activities.ReconcileReport, error) {
	if in.RunID == "" {
		in.RunID = workflow.GetInfo(ctx).WorkflowExecution.RunID
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 3},
	})
	var all activities.ReconcileReport
	for _, step := range []any{reconcileSteps.ResolveStrandedPayments, reconcileSteps.CheckCaptures, reconcileSteps.CheckBooks} {
		var rep activities.ReconcileReport
		if err := workflow.ExecuteActivity(ctx, step, in).Get(ctx, &rep); err != nil {
			return all, err
		}
		all.Checked += rep.Checked
		all.Findings = append(all.Findings, rep.Findings...)
		all.Unresolved += rep.Unresolved
	}
	if all.Unresolved > 0 {
		workflow.GetLogger(ctx).Error("reconciliation found disagreements that need a person", "unresolved", all.Unresolved)
	}
	return all, nil
}

// SyncSchedulesScheduleID names the schedule that keeps billing schedules in step with the
// accounts.
const SyncSchedulesScheduleID = "sync-billing-schedules"

// SyncSchedulesEvery is how soon a new account or a changed billing day reaches its schedule.
const SyncSchedulesEvery = 10 * time.Minute

// scheduleSteps names the schedule sync's activity.
var scheduleSteps *activities.BillingSchedules

// SyncBillingSchedules ensures every account's billing schedule; accounts that fail are in
// the report and retried by the next pass.
func SyncBillingSchedules(ctx workflow.Context) (activities.ScheduleSyncReport, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, MaximumAttempts: 3},
	})
	var rep activities.ScheduleSyncReport
	err := workflow.ExecuteActivity(ctx, scheduleSteps.SyncBillingSchedules).Get(ctx, &rep)
	if len(rep.Failed) > 0 {
		workflow.GetLogger(ctx).Warn("billing schedules not synced", "failed", len(rep.Failed))
	}
	return rep, err
}

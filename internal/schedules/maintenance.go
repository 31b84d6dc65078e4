package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/workflows"
)

// EnsureMaintenance creates the schedules of PayPortal's periodic passes, or points existing
// ones at taskQueue: the reconciler and the billing-schedule sync. They run once across all
// workers (a schedule starts one workflow), and passes never overlap: a slow pass makes the
// next one skip.
func EnsureMaintenance(ctx context.Context, c client.Client, taskQueue string) error {
	return errors.Join(
		ensureEvery(ctx, c, workflows.ReconcileScheduleID, workflows.ReconcileEvery, &client.ScheduleWorkflowAction{
			ID: workflows.ReconcileScheduleID, Workflow: workflows.TypeReconcile, Args: []any{activities.ReconcileInput{}},
			TaskQueue: taskQueue, StaticSummary: "Reconcile the books with the processors",
		}, "Settles payments whose saga is gone, refunds money the books do not show, checks the ledger; see README, Money and faults"),
		ensureEvery(ctx, c, workflows.SyncSchedulesScheduleID, workflows.SyncSchedulesEvery, &client.ScheduleWorkflowAction{
			ID: workflows.SyncSchedulesScheduleID, Workflow: workflows.TypeSyncBillingSchedules,
			TaskQueue: taskQueue, StaticSummary: "Keep every account's billing schedule on its billing day",
		}, "Creates the billing schedule of new accounts and follows changed billing days"),
	)
}

func ensureEvery(ctx context.Context, c client.Client, id string, every time.Duration, action *client.ScheduleWorkflowAction, note string) error {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: note,
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = c.ScheduleClient().GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

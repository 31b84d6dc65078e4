package schedules

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/workflows"
)

// EnsureReconciler creates the schedule that runs the reconciler every
// workflows.ReconcileEvery, or points an existing one at taskQueue. Passes never overlap: a
// slow pass makes the next one skip.
func EnsureReconciler(ctx context.Context, c client.Client, taskQueue string) error {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: workflows.ReconcileEvery}}}
	action := &client.ScheduleWorkflowAction{
		ID:            workflows.ReconcileScheduleID,
		Workflow:      workflows.Reconcile,
		Args:          []any{activities.ReconcileInput{}},
		TaskQueue:     taskQueue,
		StaticSummary: "Reconcile the books with the processors",
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      workflows.ReconcileScheduleID,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "Settles payments whose saga is gone, refunds money the books do not show, checks the ledger; see README, Money and faults",
	})
	if err == nil || !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		if err != nil {
			return fmt.Errorf("create schedule %s: %w", workflows.ReconcileScheduleID, err)
		}
		return nil
	}
	err = c.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", workflows.ReconcileScheduleID, err)
	}
	return nil
}

package app

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/schedules"
	"github.com/payportal/payportal/workflows"
)

// Reconciler is the books' janitor over this app's connections: the Reconcile workflow's
// activities, and what `payportal reconcile` runs directly.
func (a *App) Reconciler() *activities.Reconciler {
	return &activities.Reconciler{
		DB:        a.DB,
		Temporal:  a.Temporal,
		Payments:  a.paymentActivities(),
		StartSaga: a.paymentService().StartSaga,
		Clock:     a.Clock,
		Logger:    a.Log,
	}
}

// Reconcile runs one reconciliation pass in this process: what `payportal reconcile` does.
func (a *App) Reconcile(ctx context.Context) (activities.ReconcileReport, error) {
	return activities.ReconcilePass(ctx, a.Reconciler(), activities.ReconcileInput{RunID: "manual-" + a.Clock.Now().UTC().Format("20060102T150405Z")})
}

// paymentActivities are the saga's side effects over this app's processors and mailer.
func (a *App) paymentActivities() *activities.Payments {
	return &activities.Payments{DB: a.DB, Cards: a.Cards, PayPal: a.PayPal, Mail: a.Mail, Clock: a.Clock,
		PublicURL: a.Config.PublicURL, Logger: a.Log}
}

// EnsureSchedules creates or updates the schedules of the periodic passes (the reconciler and
// the billing-schedule sync) and triggers a sync now, so accounts seeded or changed before this
// start get their billing schedule without waiting for the next pass. `payportal worker` calls
// it at start: two schedules and a trigger, whatever the number of accounts, and idempotent.
func (a *App) EnsureSchedules(ctx context.Context) error {
	if err := schedules.EnsureMaintenance(ctx, a.Temporal, a.Config.TaskQueue); err != nil {
		return fmt.Errorf("maintenance schedules: %w", err)
	}
	err := a.Temporal.ScheduleClient().GetHandle(ctx, workflows.SyncSchedulesScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil {
		return fmt.Errorf("trigger %s: %w", workflows.SyncSchedulesScheduleID, err)
	}
	return nil
}

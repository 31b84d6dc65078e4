package app

import (
	"context"
	"fmt"
	"time"

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
// the billing-schedule sync) and asks for a sync now, so accounts seeded or changed before this
// start get their billing schedule without waiting for the next pass. `payportal worker` calls
// it at start: two schedules, the webhook dispatcher (one workflow per task queue) and at most
// one sync whatever the number of accounts and of workers starting, since a sync running or
// started in the last minute is enough.
func (a *App) EnsureSchedules(ctx context.Context) error {
	if err := schedules.EnsureMaintenance(ctx, a.Temporal, a.Config.TaskQueue); err != nil {
		return fmt.Errorf("maintenance schedules: %w", err)
	}
	h := a.Temporal.ScheduleClient().GetHandle(ctx, workflows.SyncSchedulesScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		return fmt.Errorf("describe %s: %w", workflows.SyncSchedulesScheduleID, err)
	}
	if err := a.EnsureWebhookDispatcher(ctx); err != nil {
		return err
	}
	if recentSync(desc.Info, time.Now()) { // the schedule's times are the wall clock
		return nil
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}); err != nil {
		return fmt.Errorf("trigger %s: %w", workflows.SyncSchedulesScheduleID, err)
	}
	return nil
}

// EnsureWebhookDispatcher starts the task queue's one webhook dispatcher unless it runs: a
// start by every worker is one workflow, and one that ended (terminated by ops, failed) is
// started again.
func (a *App) EnsureWebhookDispatcher(ctx context.Context) error {
	_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.WebhookDispatcherID(a.Config.TaskQueue),
		TaskQueue:                a.Config.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "Hands the events outbox to the webhook deliveries and mails the payment receipts due",
	}, workflows.TypeWebhookDispatcher)
	if err != nil {
		return fmt.Errorf("start the webhook dispatcher: %w", err)
	}
	return nil
}

// recentSync reports whether a sync runs now or started within the last minute.
func recentSync(info client.ScheduleInfo, now time.Time) bool {
	if len(info.RunningWorkflows) > 0 {
		return true
	}
	for _, act := range info.RecentActions {
		if now.Sub(act.ActualTime) < time.Minute {
			return true
		}
	}
	return false
}

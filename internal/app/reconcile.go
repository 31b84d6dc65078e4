package app

import (
	"context"
	"fmt"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/schedules"
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
	return a.Reconciler().Pass(ctx, activities.ReconcileInput{RunID: "manual-" + a.Clock.Now().UTC().Format("20060102T150405Z")})
}

// paymentActivities are the saga's side effects over this app's processors and mailer.
func (a *App) paymentActivities() *activities.Payments {
	return &activities.Payments{DB: a.DB, Cards: a.Cards, PayPal: a.PayPal, Mail: a.Mail, Clock: a.Clock,
		PublicURL: a.Config.PublicURL, Logger: a.Log}
}

// EnsureSchedules creates or updates the Temporal Schedules: one recurring billing schedule
// per account on its billing day, and the reconciler's. `payportal dev` and every `payportal
// worker` call it at start; it is idempotent.
func (a *App) EnsureSchedules(ctx context.Context) error {
	if err := a.EnsureRecurringBillingSchedules(ctx); err != nil {
		return err
	}
	if err := schedules.EnsureReconciler(ctx, a.Temporal, a.Config.TaskQueue); err != nil {
		return fmt.Errorf("reconciler schedule: %w", err)
	}
	return nil
}

package activities

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

// BillingSchedules keeps every account's billing schedule in step with the account: new
// accounts get one, a changed billing day moves it.
type BillingSchedules struct {
	DB *postgres.DB
	// Ensure creates or updates one account's schedule (schedules.EnsureAccount, injected:
	// that package sits above this one).
	Ensure func(ctx context.Context, acct billing.Account) error
	Logger *slog.Logger
}

// ScheduleSyncReport says how a sync pass went; one failing account is reported, not fatal.
type ScheduleSyncReport struct {
	Accounts int               `json:"accounts"`
	Failed   map[string]string `json:"failed,omitempty"` // account → error
}

// SyncBillingSchedules ensures the schedule of every account.
func (b *BillingSchedules) SyncBillingSchedules(ctx context.Context) (ScheduleSyncReport, error) {
	accounts, err := b.DB.Accounts(ctx)
	if err != nil {
		return ScheduleSyncReport{}, err
	}
	rep := ScheduleSyncReport{Accounts: len(accounts)}
	for i, acct := range accounts {
		if err := b.Ensure(ctx, acct); err != nil {
			if rep.Failed == nil {
				rep.Failed = map[string]string{}
			}
			rep.Failed[acct.ID] = err.Error()
			b.logger().WarnContext(ctx, "billing schedule not synced; the next pass retries", "account_id", acct.ID, "err", err)
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, i)
		}
	}
	return rep, nil
}

func (b *BillingSchedules) logger() *slog.Logger {
	if b.Logger != nil {
		return b.Logger
	}
	return slog.Default()
}

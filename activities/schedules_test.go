package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/testenv"
)

// One account whose schedule cannot be ensured is reported; the others are still synced.
func TestSyncBillingSchedulesReportsAFailingAccountAndGoesOn(t *testing.T) {
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	var ensured []string
	s := &activities.BillingSchedules{DB: db, Ensure: func(_ context.Context, acct billing.Account) error {
		if acct.ID == devdata.DemoAccountID {
			return errors.New("temporal said no")
		}
		ensured = append(ensured, acct.ID)
		return nil
	}}
	rep, err := s.SyncBillingSchedules(context.Background())
	if err != nil {
		t.Fatalf("a failing account failed the pass: %v", err)
	}
	if rep.Accounts < 2 || len(ensured) != rep.Accounts-1 {
		t.Errorf("synced %v of %d accounts, want every account but the failing one", ensured, rep.Accounts)
	}
	if rep.Failed[devdata.DemoAccountID] != "temporal said no" || len(rep.Failed) != 1 {
		t.Errorf("failures %v, want the demo account's", rep.Failed)
	}
}

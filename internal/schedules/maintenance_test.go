package schedules_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/schedules"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// The periodic passes run from one schedule each, whatever the number of workers; ensuring
// them again (another worker starting) points them at the queue and changes nothing else.
func TestEnsureMaintenanceCreatesThePeriodicPasses(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	queue := "maintenance-" + billing.NewID("q_")
	for range 2 {
		if err := schedules.EnsureMaintenance(ctx, c, queue); err != nil {
			t.Fatal(err)
		}
	}
	for id, wf := range map[string]string{workflows.ReconcileScheduleID: "Reconcile", workflows.SyncSchedulesScheduleID: "SyncBillingSchedules"} {
		desc := describe(t, c, id)
		action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
		if !ok || action.Workflow != wf || action.TaskQueue != queue {
			t.Errorf("schedule %s runs %+v, want %s on %s", id, desc.Schedule.Action, wf, queue)
		}
		if len(desc.Schedule.Spec.Intervals) != 1 {
			t.Errorf("schedule %s spec %+v, want one interval", id, desc.Schedule.Spec)
		}
	}
}

// A new account gets its billing schedule from the sync pass, without a worker restart.
func TestSyncPassCreatesTheScheduleOfANewAccount(t *testing.T) {
	c := testenv.TemporalClient(t)
	db, _ := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct := uniqueAccount(t, 9)
	acct.Currency, acct.Language, acct.ContactEmail = "USD", "en", "billing@example.com"
	acct.Address = billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	acct.CreatedAt, acct.Status = time.Now().UTC(), billing.AccountActive
	if _, err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatalf("create account: %v", err)
	}
	queue := "sync-" + acct.ID
	id := workflows.RecurringBillingScheduleID(acct.ID)
	t.Cleanup(func() { _ = c.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background()) })

	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(workflows.SyncBillingSchedules)
	w.RegisterActivity(&activities.BillingSchedules{DB: db, Ensure: func(ctx context.Context, a billing.Account) error {
		if a.ID != acct.ID {
			return nil // the shared server holds other tests' accounts' schedules; leave them
		}
		return schedules.EnsureAccount(ctx, c, queue, a)
	}})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, workflows.SyncBillingSchedules)
	if err != nil {
		t.Fatal(err)
	}
	var rep activities.ScheduleSyncReport
	if err := run.Get(ctx, &rep); err != nil {
		t.Fatalf("sync pass: %v", err)
	}
	assertFiresOn(t, describe(t, c, id), 9)
}

package schedules_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/schedules"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// uniqueAccount keeps tests (and reruns against a shared server) from seeing each other's
// schedules and workflows.
func uniqueAccount(t *testing.T, day int) billing.Account {
	return billing.Account{ID: billing.NewID(billing.PrefixAccount), CompanyName: "Test Co " + t.Name(), BillingDay: day}
}

func TestEnsureRecurringBillingCreatesThenFollowsTheBillingDay(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct := uniqueAccount(t, 15)
	queue := "schedules-" + acct.ID
	id := workflows.RecurringBillingScheduleID(acct.ID)
	t.Cleanup(func() { _ = c.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background()) })

	if err := schedules.EnsureRecurringBilling(ctx, c, queue, []billing.Account{acct}); err != nil {
		t.Fatal(err)
	}
	desc := describe(t, c, id)
	assertFiresOn(t, desc, 15)
	action, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		t.Fatalf("action %T, want a workflow action", desc.Schedule.Action)
	}
	if action.Workflow != "BillingDayWorkflow" || action.TaskQueue != queue {
		t.Errorf("action runs %v on %q, want BillingDayWorkflow on %q", action.Workflow, action.TaskQueue, queue)
	}
	if next := desc.Info.NextActionTimes; len(next) == 0 || next[0].UTC().Day() != 15 || next[0].UTC().Hour() != schedules.BillingHourUTC {
		t.Errorf("next action times %v, want the 15th at %02d:00 UTC", next, schedules.BillingHourUTC)
	}

	// The account moves its billing day: running it again updates the schedule in place.
	acct.BillingDay = 3
	if err := schedules.EnsureRecurringBilling(ctx, c, queue, []billing.Account{acct}); err != nil {
		t.Fatal(err)
	}
	assertFiresOn(t, describe(t, c, id), 3)
}

func describe(t *testing.T, c client.Client, id string) *client.ScheduleDescription {
	t.Helper()
	desc, err := c.ScheduleClient().GetHandle(context.Background(), id).Describe(context.Background())
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return desc
}

func assertFiresOn(t *testing.T, desc *client.ScheduleDescription, day int) {
	t.Helper()
	cals := desc.Schedule.Spec.Calendars
	if len(cals) != 1 || len(cals[0].DayOfMonth) != 1 || cals[0].DayOfMonth[0].Start != day {
		t.Errorf("calendars %+v, want one firing on day %d", cals, day)
	}
}

// TestScheduledBillingDayBillsEachMonthOnce triggers the schedule for real and starts the
// billing day again by hand: the month's workflow runs once.
func TestScheduledBillingDayBillsEachMonthOnce(t *testing.T) {
	c := testenv.TemporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acct := uniqueAccount(t, 1)
	queue := "schedules-" + acct.ID
	id := workflows.RecurringBillingScheduleID(acct.ID)
	t.Cleanup(func() { _ = c.ScheduleClient().GetHandle(context.Background(), id).Delete(context.Background()) })

	// The month's billing is stubbed: this test is about who starts it and how often.
	runs := make(chan workflows.RecurringBillingInput, 10)
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(workflows.BillingDayWorkflow)
	w.RegisterWorkflowWithOptions(func(ctx workflow.Context, in workflows.RecurringBillingInput) (workflows.RecurringBillingState, error) {
		runs <- in
		return workflows.RecurringBillingState{Stage: workflows.StagePaid}, nil
	}, workflow.RegisterOptions{Name: "RecurringBillingWorkflow"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	if err := schedules.EnsureRecurringBilling(ctx, c, queue, []billing.Account{acct}); err != nil {
		t.Fatal(err)
	}
	if err := c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var first workflows.RecurringBillingInput
	select {
	case first = <-runs:
	case <-ctx.Done():
		t.Fatal("the triggered schedule billed nothing")
	}
	month := time.Now().UTC()
	if first.AccountID != acct.ID || first.BillingDate.Format("2006-01-02") != month.Format("2006-01-02") {
		t.Errorf("billed %+v, want %s on today's date", first, acct.ID)
	}
	monthID := workflows.RecurringBillingWorkflowID(acct.ID, first.BillingDate)
	if err := c.GetWorkflow(ctx, monthID, "").Get(ctx, nil); err != nil {
		t.Fatalf("month workflow %s: %v", monthID, err)
	}

	// The same day again, by hand: the month is already billed.
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "billing-day-again-" + acct.ID, TaskQueue: queue},
		workflows.BillingDayWorkflow, workflows.BillingDayInput{AccountID: acct.ID, BillingDate: first.BillingDate})
	if err != nil {
		t.Fatal(err)
	}
	var again workflows.BillingDayResult
	if err := run.Get(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if !again.AlreadyStarted || again.WorkflowID != monthID {
		t.Errorf("second billing day %+v, want %s already started", again, monthID)
	}
	select {
	case extra := <-runs:
		t.Errorf("the month was billed a second time: %+v", extra)
	case <-time.After(500 * time.Millisecond):
	}
}

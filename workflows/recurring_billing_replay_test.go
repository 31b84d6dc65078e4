package workflows_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// recordedVersion names the code the recorder runs. The v0 files were recorded by this test
// from the code before collection waited for payments in flight (commit fea2430), v1 ones
// from collectUntilPaidChange on, v2 ones from pollByActivityChange on (the waits are one
// polling activity). recurring_billing_resumed_v0_v1.json is one month started
// by the v0 code and left in its first dunning wait, then finished by the v1 code (with a
// checkout in flight when it woke up): the switch at the old loop's retry.
const recordedVersion = "v2"

// TestRecordRecurringBillingHistories runs the month's workflow on the real dev server with
// the real activities and payment saga, and saves its histories under testdata for the
// replay tests. It runs only when recording:
//
//	PAYPORTAL_RECORD_HISTORY=1 PAYPORTAL_TEST_TEMPORAL_ADDRESS=127.0.0.1:7233 go test ./workflows/ -run TestRecordRecurringBillingHistories
func TestRecordRecurringBillingHistories(t *testing.T) {
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" || os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS") == "" {
		t.Skip("records histories only with PAYPORTAL_RECORD_HISTORY=1 and PAYPORTAL_TEST_TEMPORAL_ADDRESS set")
	}
	c := testenv.TemporalClient(t)
	plan := workflows.DunningPlan
	t.Cleanup(func() { workflows.DunningPlan = plan })

	t.Run("dunning", func(t *testing.T) {
		// Every charge of this card is declined: the month goes into dunning, where the
		// history is saved while the workflow waits for the first retry.
		r := startRecording(t, c, devdata.OtherAccountID, "4000000000000341", time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
		waitForStage(t, c, r.id, workflows.StageDunning)
		testenv.RecordWorkflowHistory(t, c, r.id, "recurring_billing_dunning_"+recordedVersion+".json")
	})
	t.Run("past_due", func(t *testing.T) {
		workflows.DunningPlan = []time.Duration{time.Second, 2 * time.Second, 3 * time.Second}
		defer func() { workflows.DunningPlan = plan }()
		r := startRecording(t, c, devdata.OtherAccountID, "4000000000000341", time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
		r.finish(t, workflows.StagePastDue)
		testenv.RecordWorkflowHistory(t, c, r.id, "recurring_billing_past_due_"+recordedVersion+".json")
	})
	t.Run("paid", func(t *testing.T) {
		r := startRecording(t, c, devdata.DemoAccountID, "4242424242424242", time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		r.finish(t, workflows.StagePaid)
		testenv.RecordWorkflowHistory(t, c, r.id, "recurring_billing_paid_"+recordedVersion+".json")
	})
	t.Run("billing_day", func(t *testing.T) {
		// The schedule's workflow starts the month and returns; the month runs on.
		w := newBillingWorld(t)
		acct := w.newAccount(t, 1)
		queue := w.recordingWorker(t, c, "billing-day-record-")
		id := "billing-day-record/" + billing.NewID("wf")
		run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: queue},
			workflows.TypeBillingDay, workflows.BillingDayInput{AccountID: acct.ID, BillingDate: billingDecember})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.BillingDayResult
		if err := run.Get(context.Background(), &res); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), res.WorkflowID, "", "history recorded") })
		testenv.RecordWorkflowHistory(t, c, id, "billing_day_started_"+recordedVersion+".json")
	})
	t.Run("awaiting_payment", func(t *testing.T) {
		// A checkout for part of the invoice is in flight: the card pays the rest, the month
		// waits for the checkout, which expires, and the card pays what it left.
		first, maxCheck := workflows.InFlightFirstCheck, workflows.InFlightMaxCheck
		workflows.InFlightFirstCheck, workflows.InFlightMaxCheck = time.Second, 2*time.Second
		defer func() { workflows.InFlightFirstCheck, workflows.InFlightMaxCheck = first, maxCheck }()
		w := newBillingWorld(t)
		acct := w.newAccount(t, 1)
		w.issueBeforehand(t, acct, billingDecember)
		checkout := w.openPayPalCheckout(t, acct.ID, 7500)
		r := startRecordingIn(t, c, w, acct.ID, "4242424242424242", billingDecember)
		waitForStage(t, c, r.id, workflows.StageAwaitingPayment)
		time.Sleep(3 * time.Second)
		if err := w.db.FinishPayment(context.Background(), checkout.ID, billing.PaymentExpired, nil, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		r.finish(t, workflows.StagePaid)
		testenv.RecordWorkflowHistory(t, c, r.id, "recurring_billing_awaiting_payment_"+recordedVersion+".json")
	})
}

// recording is one month's workflow running on the dev server, on a worker of its own over a
// fresh seeded database.
type recording struct {
	w   *billingWorld
	c   client.Client
	id  string
	run client.WorkflowRun
}

func startRecording(t *testing.T, c client.Client, accountID, cardNumber string, billingDate time.Time) *recording {
	t.Helper()
	return startRecordingIn(t, c, newBillingWorld(t), accountID, cardNumber, billingDate)
}

func startRecordingIn(t *testing.T, c client.Client, w *billingWorld, accountID, cardNumber string, billingDate time.Time) *recording {
	t.Helper()
	queue := w.recordingWorker(t, c, "recurring-record-")
	w.putCardOnFile(t, accountID, cardNumber)
	r := &recording{w: w, c: c, id: "recurring-billing-record/" + billing.NewID("wf")}
	var err error
	r.run, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: r.id, TaskQueue: queue},
		workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: accountID, BillingDate: billingDate})
	if err != nil {
		t.Fatal(err)
	}
	// Ends a run still waiting once its history is saved (cleanups run last in, first out).
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), r.id, r.run.GetRunID(), "history recorded") })
	return r
}

// finish waits for the workflow to end in stage.
func (r *recording) finish(t *testing.T, stage workflows.RecurringBillingStage) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var s workflows.RecurringBillingState
	if err := r.run.Get(ctx, &s); err != nil {
		t.Fatal(err)
	}
	if s.Stage != stage {
		t.Fatalf("ended %+v, want %s", s, stage)
	}
}

// waitForStage polls the month's status query until it reports stage.
func waitForStage(t *testing.T, c client.Client, workflowID string, stage workflows.RecurringBillingStage) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var s workflows.RecurringBillingStatusQuery
		v, err := c.QueryWorkflow(context.Background(), workflowID, "", workflows.QueryStatus)
		if err == nil {
			err = v.Get(&s)
		}
		if err == nil && s.Stage == stage {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %s: %+v (%v)", workflowID, stage, s, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// recordingWorker runs every workflow and activity over w's database, clock, outbox and
// sandbox processors on a task queue of its own on the recording server, and answers the queue.
func (w *billingWorld) recordingWorker(t *testing.T, c client.Client, prefix string) string {
	t.Helper()
	w.clock.T = time.Now().UTC()
	queue := prefix + billing.NewID("q")
	wk := worker.New(c, queue, worker.Options{})
	workflows.RegisterAll(wk)
	activities.RegisterAll(wk, activities.Dependencies{DB: w.db, Clock: w.clock, Logger: testenv.Logger(io.Discard),
		Mail: w.outbox, Cards: w.cards, PayPal: sandbox.NewPayPal(w.db.Pool, "http://checkout.test"), PublicURL: "http://portal.test"})
	if err := wk.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wk.Stop)
	return queue
}

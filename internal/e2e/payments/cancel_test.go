package payments_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// Issue 8, scenario 3: an operator cancels a payment's workflow from the Temporal UI (which
// is client.CancelWorkflow). The saga's clean-up runs on a disconnected context, the money is
// settled with the processor, and the payment ends in a final status that tells the truth.

// lostAnswer is the processor failing in a way that says nothing about whether the work was
// done: a timeout, a 5xx.
func lostAnswer() error {
	return gateway.Transient(billing.CodeProcessingError, errors.New("sandbox fault: the answer was lost"))
}

// loseAnswers makes the processor do op and lose every answer after, until the test ends; it
// counts the answers lost.
func (p *portal) loseAnswers(processor interface{ SetFault(sandbox.Fault) }, op string) *atomic.Int32 {
	var lost atomic.Int32
	processor.SetFault(func(got string, committed bool) error {
		if got == op && committed {
			lost.Add(1)
			return lostAnswer()
		}
		return nil
	})
	p.t.Cleanup(func() { processor.SetFault(nil) })
	return &lost
}

// A PayPal payment waiting for the buyer, cancelled: the order is voided, the payment ends
// canceled, nothing stays counted in flight, and the mail says no money was taken.
func TestCancelledWorkflowOfWaitingPayPalPaymentEndsCanceled(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	pay := p.pay(paypalPayment(2500))
	p.awaitPayment(pay.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })
	orderID := p.row(pay.ID).PayPalOrderID
	if orderID == "" {
		t.Fatal("the waiting payment has no PayPal order recorded")
	}
	// While it waits, its amount is in flight: nothing more than the rest can be paid.
	if status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), cardPayment(before, "4242424242424242", "123")); status != http.StatusUnprocessableEntity {
		t.Fatalf("paying the whole balance while 2500 is in flight answered %d %s, want 422", status, raw)
	}

	if err := p.temporal.CancelWorkflow(ctx, pay.WorkflowID, ""); err != nil {
		t.Fatalf("cancel the workflow: %v", err)
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "canceled" || got.CompletedAt == nil {
		t.Fatalf("payment ended %+v, want canceled", got)
	}
	if st := p.awaitClosed(pay.WorkflowID, 30*time.Second); st != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("the workflow closed %s, want CANCELED", st)
	}
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_"+pay.Method+"_cancelled_v5.json")
	order, err := p.paypal().Order(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if order.Status != sandbox.OrderVoided || order.CaptureID != "" {
		t.Errorf("the PayPal order is %s (capture %q), want voided so the buyer can no longer approve it", order.Status, order.CaptureID)
	}
	if row := p.row(pay.ID); row.Compensation != billing.CompensationHoldReleased {
		t.Errorf("the payment records compensation %q, want %q", row.Compensation, billing.CompensationHoldReleased)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}
	if n := p.ledgerEntries(pay.ID); n != 0 {
		t.Errorf("%d ledger entries for the cancelled payment, want none", n)
	}
	p.checkNoMoneyTakenMail(pay.ID, "declined") // nobody declined it: it was cancelled

	// Nothing is in flight any more: the whole balance can be paid, and is.
	full := p.pay(cardPayment(before, "4242424242424242", "123"))
	if got := p.awaitFinal(full.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("paying the whole balance after the cancel ended %+v", got)
	}
	if after := p.balance(); after != 0 {
		t.Errorf("balance %d after paying all of it, want 0", after)
	}
	p.checkBooksAgree()
}

// A card payment whose capture keeps failing before the processor does anything, cancelled
// mid-retries: the authorization is voided, the payment ends canceled, nothing is booked.
func TestCancelledWorkflowWhileCaptureFailsVoidsTheHold(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	var failedCaptures atomic.Int32
	p.cards().SetFault(func(op string, committed bool) error {
		if op == sandbox.OpCapture && !committed {
			failedCaptures.Add(1)
			return lostAnswer()
		}
		return nil
	})
	t.Cleanup(func() { p.cards().SetFault(nil) })

	pay := p.pay(cardPayment(1500, "4242424242424242", "123"))
	p.eventually("the capture fails and is retried", 30*time.Second, func() bool { return failedCaptures.Load() >= 2 })
	if got := p.payment(pay.ID); got.Status != "processing" {
		t.Fatalf("with the capture failing the payment is %s, want processing", got.Status)
	}

	if err := p.temporal.CancelWorkflow(ctx, pay.WorkflowID, ""); err != nil {
		t.Fatalf("cancel the workflow: %v", err)
	}
	got := p.awaitFinal(pay.ID, 60*time.Second)
	if got.Status != "canceled" {
		t.Fatalf("payment ended %+v, want canceled", got)
	}
	if st := p.awaitClosed(pay.WorkflowID, 30*time.Second); st != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED {
		t.Errorf("the workflow closed %s, want CANCELED", st)
	}
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_"+pay.Method+"_cancelled_v5.json")
	row := p.row(pay.ID)
	if row.AuthorizationID == "" {
		t.Fatal("the payment records no authorization")
	}
	auth, err := p.cards().Authorization(ctx, row.AuthorizationID)
	if err != nil {
		t.Fatal(err)
	}
	if auth.Status != "voided" || auth.CaptureID != "" {
		t.Errorf("authorization %s is %s (capture %q), want voided", auth.ID, auth.Status, auth.CaptureID)
	}
	if row.Compensation != billing.CompensationHoldReleased || row.CaptureID != "" {
		t.Errorf("the payment records compensation %q and capture %q, want %q and none", row.Compensation, row.CaptureID, billing.CompensationHoldReleased)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_captures`); n != 0 {
		t.Errorf("%d captures at the processor, want none", n)
	}
	if n := p.ledgerEntries(pay.ID); n != 0 {
		t.Errorf("%d ledger entries for the cancelled payment, want none", n)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}
	p.checkNoMoneyTakenMail(pay.ID, "declined") // nobody declined it: it was cancelled
	p.checkBooksAgree()
}

// A card payment whose capture went through at the processor but whose every answer was
// lost, cancelled mid-retries: the saga asks the processor, finds the capture and books it.
// The customer paid, so the payment succeeds, once, with a receipt.
func TestCancelledWorkflowAfterLostCaptureAnswerBooksTheCapture(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	lost := p.loseAnswers(p.cards(), sandbox.OpCapture)

	pay := p.pay(cardPayment(1500, "4242424242424242", "123"))
	p.eventually("the capture commits and its answers are lost", 30*time.Second, func() bool { return lost.Load() >= 2 })
	if got := p.payment(pay.ID); got.Status != "processing" {
		t.Fatalf("with the capture's answers lost the payment is %s, want processing", got.Status)
	}

	if err := p.temporal.CancelWorkflow(ctx, pay.WorkflowID, ""); err != nil {
		t.Fatalf("cancel the workflow: %v", err)
	}
	got := p.awaitFinal(pay.ID, 60*time.Second)
	if got.Status != "succeeded" || got.Failure != nil {
		t.Fatalf("payment ended %+v, want succeeded: the money was taken", got)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_"+pay.Method+"_cancelled_capture_booked_v5.json")
	if n := p.ledgerEntries(pay.ID); n != 1 {
		t.Errorf("%d ledger entries for the payment, want 1", n)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-1500)
	}
	row := p.row(pay.ID)
	if row.CaptureID == "" || row.Compensation != billing.CompensationNone {
		t.Errorf("the payment records capture %q and compensation %q, want the capture and none", row.CaptureID, row.Compensation)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_captures`); n != 1 {
		t.Errorf("%d captures at the processor, want 1", n)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_refunds`); n != 0 {
		t.Errorf("%d refunds at the processor, want none: the capture was booked", n)
	}
	p.checkOneReceipt(pay.ID)
	p.checkBooksAgree()
}

// The PayPal twin of the above: the buyer approved, the capture went through at PayPal but
// every answer was lost, and the workflow is cancelled mid-retries. The saga asks PayPal,
// finds the capture and books it.
func TestCancelledWorkflowAfterLostPayPalCaptureAnswerBooksTheCapture(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	lost := p.loseAnswers(p.paypal(), sandbox.OpCaptureOrder)

	pay := p.pay(paypalPayment(2000))
	p.awaitPayment(pay.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })
	orderID := p.row(pay.ID).PayPalOrderID
	if err := p.paypal().Approve(ctx, orderID); err != nil {
		t.Fatal(err)
	}
	if err := p.temporal.SignalWorkflow(ctx, pay.WorkflowID, "", workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true}); err != nil {
		t.Fatal(err)
	}
	p.eventually("the order is captured and the answers are lost", 30*time.Second, func() bool { return lost.Load() >= 2 })

	if err := p.temporal.CancelWorkflow(ctx, pay.WorkflowID, ""); err != nil {
		t.Fatalf("cancel the workflow: %v", err)
	}
	got := p.awaitFinal(pay.ID, 60*time.Second)
	if got.Status != "succeeded" || got.Failure != nil {
		t.Fatalf("payment ended %+v, want succeeded: the money was taken", got)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_"+pay.Method+"_cancelled_capture_booked_v5.json")
	if n := p.ledgerEntries(pay.ID); n != 1 {
		t.Errorf("%d ledger entries for the payment, want 1", n)
	}
	if after := p.balance(); after != before-2000 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-2000)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_paypal_captures`); n != 1 {
		t.Errorf("%d PayPal captures, want 1", n)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_paypal_refunds`); n != 0 {
		t.Errorf("%d PayPal refunds, want none: the capture was booked", n)
	}
	p.checkOneReceipt(pay.ID)
	p.checkBooksAgree()
}

// Cancelling a payment that does not wait for the buyer: the saga's validator refuses the
// cancel-payment update, so the API answers 409 not_cancelable in the saga's own words and
// nothing reaches the history, neither the update nor a signal. Here a card payment whose
// capture is being retried (processing, as the database also says).
func TestCancelRefusedByTheSagaLeavesNoTrace(t *testing.T) {
	p := startPortal(t, portalOptions{})
	var failedCaptures atomic.Int32
	p.cards().SetFault(func(op string, committed bool) error {
		if op == sandbox.OpCapture && !committed {
			failedCaptures.Add(1)
			return lostAnswer()
		}
		return nil
	})
	t.Cleanup(func() { p.cards().SetFault(nil) })

	pay := p.pay(cardPayment(700, "4242424242424242", "123"))
	if pay.Status != "processing" {
		t.Fatalf("with the capture failing the POST answered %s, want processing", pay.Status)
	}
	// While the saga retries the capture inside one workflow task (a local activity), the
	// update waits for that task and the API may answer 503 "retry shortly": retry, as a
	// client does, until the saga answers.
	var status int
	var raw []byte
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		status, raw = p.call(http.MethodPost, demoPath+"/payments/"+pay.ID+"/cancel", "", nil)
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			break
		}
	}
	e := decode[apiError](t, raw)
	if status != http.StatusConflict || e.Error.Code != "not_cancelable" || !strings.Contains(e.Error.Message, "is still being processed (processing)") {
		t.Errorf("cancelling a card payment being charged answered %d %s, want 409 not_cancelable (the saga: processing)", status, raw)
	}
	r := p.requests(pay.WorkflowID)
	if r["update "+workflows.UpdateCancelPayment] != 0 || r["signal "+workflows.SignalCancel] != 0 {
		t.Errorf("the refused cancel reached the history: %v", r)
	}

	p.cards().SetFault(nil)
	if got := p.awaitFinal(pay.ID, 60*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %+v, want succeeded: the refused cancel changed nothing", got)
	}
}

// paymentBeforeUpdates stands in for a saga run from before the cancel-payment update, as the
// worker replays one today (the version-0 path): it answers the status query and the
// payment-started update (every version registers that one), and ends on the cancel-payment
// signal, recording the end. It knows no cancel-payment update.
func paymentBeforeUpdates(ctx workflow.Context, in workflows.PaymentInput) (workflows.PaymentState, error) {
	state := workflows.PaymentState{Status: billing.PaymentRequiresAction, ApprovalURL: "https://paypal.example/approve?token=OLD"}
	if err := workflow.SetQueryHandler(ctx, workflows.QueryStatus, func() (workflows.PaymentState, error) { return state, nil }); err != nil {
		return state, err
	}
	if err := workflow.SetUpdateHandler(ctx, workflows.UpdatePaymentStarted,
		func(workflow.Context) (workflows.PaymentState, error) { return state, nil }); err != nil {
		return state, err
	}
	var r workflows.CancelPaymentSignal
	workflow.GetSignalChannel(ctx, workflows.SignalCancel).Receive(ctx, &r)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteActivity(ctx, "finish-old-run", in.PaymentID).Get(ctx, nil); err != nil {
		return state, err
	}
	state.Status = billing.PaymentCanceled
	return state, nil
}

// A run that refuses the cancel-payment update as unknown (one from before it) is cancelled
// the old way: the API sends the cancel-payment signal and waits on the run's status query
// (not on Postgres) for the payment to leave requires_action, then answers 200 canceled.
func TestCancelOfARunFromBeforeTheUpdateFallsBackToTheSignal(t *testing.T) {
	p := startPortal(t, portalOptions{noWorker: true})
	ctx := context.Background()

	// The payment as the old saga left it: waiting for the buyer.
	id := billing.NewID(billing.PrefixPayment)
	pay := billing.Payment{ID: id, AccountID: devdata.DemoAccountID, Status: billing.PaymentProcessing, Method: billing.MethodPayPal,
		Amount: billing.Money{Amount: 800, Currency: "USD"}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		WorkflowID: workflows.PaymentWorkflowID(id)}
	if _, _, err := p.db.CreatePayment(ctx, pay, "old-"+randomHex(4), []byte("fingerprint")); err != nil {
		t.Fatal(err)
	}
	if err := p.db.MarkPaymentRequiresAction(ctx, id, "OLD"+randomHex(4), "https://paypal.example/approve?token=OLD"); err != nil {
		t.Fatal(err)
	}
	queue := "old-runs-" + randomHex(4)
	w := sdkworker.New(p.temporal, queue, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(paymentBeforeUpdates, workflow.RegisterOptions{Name: "PaymentBeforeUpdates"})
	w.RegisterActivityWithOptions(func(ctx context.Context, paymentID string) error {
		return p.db.FinishPayment(ctx, paymentID, billing.PaymentCanceled, nil, time.Now())
	}, activity.RegisterOptions{Name: "finish-old-run"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if _, err := p.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pay.WorkflowID, TaskQueue: queue},
		"PaymentBeforeUpdates", workflows.PaymentInput{PaymentID: id, Method: billing.MethodPayPal}); err != nil {
		t.Fatal(err)
	}

	status, raw := p.call(http.MethodPost, demoPath+"/payments/"+id+"/cancel", "", nil)
	if got := decode[payment](t, raw); status != http.StatusOK || got.Status != "canceled" {
		t.Fatalf("cancelling an old run answered %d %s, want 200 canceled", status, raw)
	}
	if r := p.requests(pay.WorkflowID); r["signal "+workflows.SignalCancel] != 1 || r["update "+workflows.UpdateCancelPayment] != 0 {
		t.Errorf("the old run's history holds %v, want the cancel-payment signal and no update", r)
	}
}

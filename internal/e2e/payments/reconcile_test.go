package payments_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// Issue 8, scenario 3, terminated: a terminated workflow runs no clean-up at all; the
// reconciler finds its payment, asks the processor where the money is, and settles it.

// A card payment whose capture went through but whose answers were lost, terminated: it stays
// processing until the reconciler books the capture it finds.
func TestTerminatedPaymentWithLostCaptureIsBookedByReconciler(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	lost := p.loseAnswers(p.cards(), sandbox.OpCapture)

	pay := p.pay(cardPayment(1500, "4242424242424242", "123"))
	p.eventually("the capture commits and its answers are lost", 30*time.Second, func() bool { return lost.Load() >= 2 })
	if err := p.temporal.TerminateWorkflow(ctx, pay.WorkflowID, "", "test: operator terminates the saga"); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	// The capture's answers stay lost: a local capture the worker may still be retrying for
	// the terminated run must not book anything either (if an answer got through, that run
	// would book the money itself, which is also true, but not what this test is about).
	time.Sleep(300 * time.Millisecond)
	if got := p.payment(pay.ID); got.Status != "processing" {
		t.Fatalf("with its saga terminated the payment is %s, want processing (stranded)", got.Status)
	}
	if n := p.ledgerEntries(pay.ID); n != 0 {
		t.Fatalf("%d ledger entries before the reconciler ran, want 0", n)
	}

	// Within the grace period the reconciler leaves the payment alone; past it, it books it.
	if f := findingsFor(mustReconcile(t, p), pay.ID); len(f) != 0 {
		t.Errorf("the reconciler acted on a payment younger than its grace period: %+v", f)
	}
	p.backdate(pay.ID, 10*time.Minute)
	report := mustReconcile(t, p)
	found := findingsFor(report, pay.ID)
	if len(found) != 1 || found[0].Kind != postgres.FindingStrandedPayment || found[0].Action != "booked" || !found[0].Resolved {
		t.Errorf("findings about the payment %+v, want one resolved stranded_payment with action booked", found)
	}
	if report.Unresolved != 0 {
		t.Errorf("%d unresolved findings: %+v", report.Unresolved, report.Findings)
	}
	if got := p.payment(pay.ID); got.Status != "succeeded" || got.Failure != nil {
		t.Fatalf("after the reconciler the payment is %+v, want succeeded", got)
	}
	if n := p.ledgerEntries(pay.ID); n != 1 {
		t.Errorf("%d ledger entries for the payment, want 1", n)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-1500)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_captures`); n != 1 {
		t.Errorf("%d captures at the processor, want 1", n)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_refunds`); n != 0 {
		t.Errorf("%d refunds, want none", n)
	}
	p.checkOneReceipt(pay.ID)
	p.checkBooksAgree()
	// Another pass has nothing to add about the payment.
	if f := findingsFor(mustReconcile(t, p), pay.ID); len(f) != 0 {
		t.Errorf("a second pass found %+v", f)
	}
}

// A PayPal payment waiting for the buyer, terminated: the reconciler voids the order and
// fails the payment (its saga, which would have waited for the buyer, is gone), and the mail
// says no money was taken.
func TestTerminatedWaitingPayPalPaymentIsFailedByReconciler(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	pay := p.pay(paypalPayment(before))
	p.awaitPayment(pay.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })
	orderID := p.row(pay.ID).PayPalOrderID
	if err := p.temporal.TerminateWorkflow(ctx, pay.WorkflowID, "", "test: operator terminates the saga"); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	if got := p.payment(pay.ID); got.Status != "requires_action" {
		t.Fatalf("with its saga terminated the payment is %s, want requires_action (stranded)", got.Status)
	}
	// Stranded, it still counts in flight.
	if status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), cardPayment(1, "4242424242424242", "123")); status != http.StatusUnprocessableEntity {
		t.Fatalf("paying 1 while the whole balance is in flight answered %d %s, want 422", status, raw)
	}

	p.backdate(pay.ID, 10*time.Minute)
	report := mustReconcile(t, p)
	found := findingsFor(report, pay.ID)
	if len(found) != 1 || found[0].Kind != postgres.FindingStrandedPayment || found[0].Action != "failed_hold_released" || !found[0].Resolved {
		t.Errorf("findings about the payment %+v, want one resolved stranded_payment with action failed_hold_released", found)
	}
	if report.Unresolved != 0 {
		t.Errorf("%d unresolved findings: %+v", report.Unresolved, report.Findings)
	}
	got := p.payment(pay.ID)
	if got.Status != "failed" || got.Failure == nil || got.CompletedAt == nil {
		t.Fatalf("after the reconciler the payment is %+v, want failed", got)
	}
	order, err := p.paypal().Order(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	if order.Status != sandbox.OrderVoided || order.CaptureID != "" {
		t.Errorf("the PayPal order is %s (capture %q), want voided", order.Status, order.CaptureID)
	}
	if n := p.ledgerEntries(pay.ID); n != 0 {
		t.Errorf("%d ledger entries for the payment, want none", n)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}
	p.checkNoMoneyTakenMail(pay.ID)
	p.checkBooksAgree()

	// Nothing is in flight any more: the whole balance can be paid.
	full := p.pay(cardPayment(before, "4242424242424242", "123"))
	if got := p.awaitFinal(full.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("paying the whole balance after the reconciler ended %+v", got)
	}
}

func mustReconcile(t *testing.T, p *portal) activities.ReconcileReport {
	t.Helper()
	report, err := p.app.Reconcile(context.Background())
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return report
}

// Issue 8, scenario 3, the sweep: a hundred and more stuck rows must not starve the rest, and
// one row that cannot be resolved must not stop the pass. 130 payments whose sagas were
// terminated before they did anything, 20 stored without a saga, one whose card token the
// processor does not know, and, oldest of all so it comes first, one whose saga Temporal
// refuses to start (its workflow ID is longer than Temporal allows).
func TestReconcilerPagesPastAHundredStuckPaymentsAndSkipsABadOne(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	const terminated, missing, amount = 130, 20, 100
	before := p.balance()
	if before < (terminated+missing+2)*amount {
		t.Fatalf("the seeded balance %d cannot hold %d payments of %d", before, terminated+missing+2, amount)
	}
	acct, err := p.db.Account(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.app.Cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3,
		CVC: "123", HolderName: "Ada Lovelace"}, acct.Address)
	if err != nil {
		t.Fatalf("tokenize: %v", err)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
	n := 0
	store := func(token string, customize func(*billing.Payment)) billing.Payment {
		t.Helper()
		pay := billing.Payment{
			ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
			Method: billing.MethodCard, Amount: billing.Money{Amount: amount, Currency: acct.Currency},
			CardToken: token, CardBrand: tok.Brand, CardLast4: tok.Last4, BillingAddress: &acct.Address,
			CreatedAt: base.Add(time.Duration(n) * time.Second),
		}
		n++
		pay.WorkflowID = workflows.PaymentWorkflowID(pay.ID)
		if customize != nil {
			customize(&pay)
		}
		if _, _, err := p.db.CreatePayment(ctx, pay, "stuck-"+pay.ID, []byte("fingerprint")); err != nil {
			t.Fatalf("store payment %d: %v", n, err)
		}
		return pay
	}

	bad := store(tok.Token, func(pay *billing.Payment) { pay.WorkflowID += "/" + strings.Repeat("x", 1100) })
	var dead []billing.Payment
	for range terminated {
		dead = append(dead, store(tok.Token, nil))
	}
	var sagaless []billing.Payment
	for range missing {
		sagaless = append(sagaless, store(tok.Token, nil))
	}
	unknownCard := store("tok_unknown_to_the_processor", nil)

	// The terminated ones: started on a task queue no worker polls, so they never did
	// anything, then terminated, as an operator would.
	deadQueue := "nobody-polls-" + randomHex(4)
	var wg sync.WaitGroup
	work := make(chan billing.Payment)
	errs := make(chan error, len(dead))
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pay := range work {
				_, err := p.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pay.WorkflowID, TaskQueue: deadQueue},
					workflows.Payment, workflows.PaymentInput{PaymentID: pay.ID, AccountID: pay.AccountID, Method: pay.Method,
						Amount: pay.Amount, CardToken: pay.CardToken})
				if err == nil {
					err = p.temporal.TerminateWorkflow(ctx, pay.WorkflowID, "", "test: terminated before it ran")
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, pay := range dead {
		work <- pay
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("start and terminate a saga: %v", err)
	}

	started := time.Now()
	report, err := p.app.Reconciler().ResolveStrandedPayments(ctx, activities.ReconcileInput{RunID: "paging-" + randomHex(4)})
	t.Logf("one pass over %d stuck payments took %s", n, time.Since(started))
	if err != nil {
		t.Fatalf("the pass stopped: %v", err)
	}
	if report.Checked < n {
		t.Errorf("the pass checked %d payments, want all %d", report.Checked, n)
	}
	if report.Unresolved != 1 {
		t.Errorf("%d unresolved findings, want 1 (the bad row)", report.Unresolved)
	}
	if f := findingsFor(report, bad.ID); len(f) != 1 || f[0].Resolved || f[0].Detail == "" {
		t.Errorf("findings about the bad row %+v, want one unresolved finding saying why", f)
	} else {
		t.Logf("the bad row's finding: %s %q", f[0].Kind, f[0].Detail)
	}
	for _, pay := range dead {
		if f := findingsFor(report, pay.ID); len(f) != 1 || f[0].Kind != postgres.FindingStrandedPayment || f[0].Action != "failed_hold_released" || !f[0].Resolved {
			t.Fatalf("findings about terminated payment %s: %+v, want one resolved with action failed_hold_released", pay.ID, f)
		}
	}
	for _, pay := range append(sagaless, unknownCard) {
		if f := findingsFor(report, pay.ID); len(f) != 1 || f[0].Action != "started_saga" || !f[0].Resolved {
			t.Fatalf("findings about saga-less payment %s: %+v, want one resolved with action started_saga", pay.ID, f)
		}
	}
	if got := p.count(`SELECT count(*)::int FROM reconciliation_findings WHERE run_id LIKE 'paging-%'`); got != n {
		t.Errorf("%d findings recorded, want %d", got, n)
	}

	ids := func(ps []billing.Payment) []string {
		var out []string
		for _, pay := range ps {
			out = append(out, pay.ID)
		}
		return out
	}
	if got := p.count(`SELECT count(*)::int FROM payments WHERE status = 'failed' AND id = ANY($1)`, ids(dead)); got != terminated {
		t.Errorf("%d of the %d terminated payments failed, want all", got, terminated)
	}
	// The started sagas run to the end before the test does.
	p.eventually("the started sagas finish", 120*time.Second, func() bool {
		return p.count(`SELECT count(*)::int FROM payments WHERE status IN ('processing', 'requires_action') AND id = ANY($1)`,
			ids(append(sagaless, unknownCard))) == 0
	})
	if got := p.count(`SELECT count(*)::int FROM payments WHERE status = 'succeeded' AND id = ANY($1)`, ids(sagaless)); got != missing {
		t.Errorf("%d of the %d saga-less payments succeeded, want all", got, missing)
	}
	if got := p.payment(unknownCard.ID); got.Status != "failed" {
		t.Errorf("the payment with the unknown card ended %+v, want failed", got)
	}
	if got := p.payment(bad.ID); got.Status != "processing" {
		t.Errorf("the bad row is %s, want untouched (processing)", got.Status)
	}
	if got := p.count(`SELECT count(*)::int FROM ledger_entries WHERE kind = 'payment'`); got != missing {
		t.Errorf("%d payment ledger entries, want %d", got, missing)
	}
	if after := p.balance(); after != before-missing*amount {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-missing*amount)
	}
	p.checkNoMoneyTakenMail(unknownCard.ID) // waits for the saga's mail, sent after the payment ends
	notTaken := 0
	for _, m := range p.outbox.Messages() {
		if strings.Contains(m.Text, "No money was taken") {
			notTaken++
		}
	}
	if notTaken != terminated+1 {
		t.Errorf("%d failure mails saying no money was taken, want %d", notTaken, terminated+1)
	}

	// A whole pass now: only the bad row remains for a person, and the books agree.
	again := mustReconcile(t, p)
	if again.Unresolved != 1 || len(findingsFor(again, bad.ID)) != 1 {
		t.Errorf("second pass: %d unresolved, findings %+v; want only the bad row", again.Unresolved, again.Findings)
	}
	findings, err := p.app.DB.CheckBooks(ctx)
	if err != nil || len(findings) != 0 {
		t.Errorf("the books disagree: %+v (err %v)", findings, err)
	}
}

// `payportal reconcile` exits 0 when the books agree and 1, printing what disagrees, when
// they do not.
func TestPayportalReconcileExitsNonZeroWhenTheBooksDisagree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payportal binary")
	}
	bin := testenv.Payportal(t)
	p := startPortal(t, portalOptions{})
	pay := p.pay(cardPayment(1200, "4242424242424242", "123"))
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %+v", got)
	}

	out, code := runReconcile(t, bin, p)
	if code != 0 || !strings.Contains(out, "reconciled:") || !strings.Contains(out, " 0 unresolved") {
		t.Fatalf("payportal reconcile on agreeing books exited %d:\n%s", code, out)
	}

	// A ledger entry for a payment that does not exist (the ledger is append-only; inserting
	// is what a bug would do).
	if _, err := p.db.Pool.Exec(context.Background(), `INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		VALUES ('acct_demo', 'payment', 'pay_ghost', -700, 'USD', now())`); err != nil {
		t.Fatal(err)
	}
	out, code = runReconcile(t, bin, p)
	if code != 1 {
		t.Errorf("payportal reconcile on disagreeing books exited %d, want 1:\n%s", code, out)
	}
	var line string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "pay_ghost") {
			line = l
		}
	}
	if !strings.HasPrefix(line, "UNRESOLVED") || !strings.Contains(line, postgres.FindingLedgerMismatch) {
		t.Errorf("no UNRESOLVED ledger_mismatch line names the ghost payment:\n%s", out)
	}
	if !strings.Contains(out, "reconciled:") {
		t.Errorf("no summary line:\n%s", out)
	}
	if n := p.count(`SELECT count(*)::int FROM reconciliation_findings WHERE payment_id = 'pay_ghost' AND NOT resolved`); n < 1 {
		t.Errorf("the finding was not recorded")
	}
}

// runReconcile runs `payportal reconcile` against the test's database and Temporal and
// answers its standard output and exit code.
func runReconcile(t *testing.T, bin string, p *portal) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "reconcile")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+p.dbURL,
		"TEMPORAL_ADDRESS="+testenv.TemporalAddress(t),
		"TEMPORAL_NAMESPACE=default",
		"PAYPORTAL_TASK_QUEUE="+p.taskQueue,
		"PAYPORTAL_PUBLIC_URL="+p.base,
		"PAYPORTAL_SMTP_ADDR=",
		"PAYPORTAL_CARD_PROCESSOR=sandbox",
		"PAYPORTAL_PAYPAL=sandbox",
		"PAYPORTAL_ENV=development",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), 0
	case errors.As(err, &exit):
		t.Logf("payportal reconcile exited %d; stderr:\n%s", exit.ExitCode(), stderr.String())
		return stdout.String(), exit.ExitCode()
	}
	t.Fatalf("run payportal reconcile: %v\n%s", err, stderr.String())
	return "", -1
}

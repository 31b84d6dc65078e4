// Package faults_test is the fault matrix of issue 8: every external step of the payment saga
// (card authorize, capture, void, refund; PayPal create, capture, void, refund; the ledger
// write; the recurring charge) against each fault that can be replayed on the time-skipping
// test server: the processor's answer lost after it committed, the processor failing past the
// step's retries, and Postgres down for longer than one retry. The real activities run against
// a fresh Postgres database and the sandbox processors; only the clock is skipped.
//
// After every cell the product's own invariant checks (the reconciler's CheckBooks and
// CheckCaptures, which `payportal reconcile` runs) must find nothing, no hold may be left on
// the card, and the customer's mail must tell what happened to the money.
//
// The faults that need the real server run in internal/e2e/payments: worker SIGKILL
// (crash_test.go), workflow cancelled and workflow terminated then reconciled
// (cancel_test.go, reconcile_test.go).
package faults_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// Faults.
const (
	answerLost       = "answer_lost"       // the processor committed; its answers are lost
	processorFailing = "processor_failing" // the processor fails before doing anything
	postgresDown     = "postgres_down"     // right after the step, Postgres goes away for a while
)

// step is one external step of a saga, and how to make the saga reach it.
type step struct {
	name   string
	method billing.PaymentMethodKind
	op     string // the sandbox operation faulted; "" for the ledger write
	// limited: the step gives up after its retries (asking for money). Unlimited steps
	// (releasing holds, refunds, booking) retry until they succeed; their faults pass.
	limited bool
	// reach makes the saga take the path through the step.
	reach func(c *cell, op string, committed bool) error
	// buyerCancels: the customer cancels the PayPal payment instead of approving it.
	buyerCancels bool
}

var steps = []step{
	{name: "card_authorize", method: billing.MethodCard, op: sandbox.OpAuthorize, limited: true},
	{name: "card_capture", method: billing.MethodCard, op: sandbox.OpCapture, limited: true},
	{name: "card_void", method: billing.MethodCard, op: sandbox.OpVoid, reach: declineCapture},
	{name: "card_refund", method: billing.MethodCard, op: sandbox.OpRefund, reach: endPaymentOnCapture(sandbox.OpCapture)},
	{name: "paypal_create", method: billing.MethodPayPal, op: sandbox.OpCreateOrder, limited: true},
	{name: "paypal_capture", method: billing.MethodPayPal, op: sandbox.OpCaptureOrder, limited: true},
	{name: "paypal_void", method: billing.MethodPayPal, op: sandbox.OpVoidOrder, buyerCancels: true},
	{name: "paypal_refund", method: billing.MethodPayPal, op: sandbox.OpRefundCapture, reach: endPaymentOnCapture(sandbox.OpCaptureOrder)},
	{name: "ledger_write", method: billing.MethodCard},
}

func TestFaultMatrix(t *testing.T) {
	for _, st := range steps {
		for _, fault := range []string{answerLost, processorFailing, postgresDown} {
			t.Run(st.name+"/"+fault, func(t *testing.T) {
				t.Parallel()
				c := newCell(t, st, fault)
				payment := c.newPayment(st.method)
				c.run(payment)
				c.checkInvariants(payment)
			})
		}
	}
}

// declineCapture makes the capture decline, so the saga releases the hold: the void step.
func declineCapture(_ *cell, op string, committed bool) error {
	if op == sandbox.OpCapture && !committed {
		return &gateway.Decline{Code: billing.CodeCardDeclined, Message: "The authorization expired."}
	}
	return nil
}

// endPaymentOnCapture ends the payment another way as the capture commits (a race the saga
// must survive), so booking is refused and the capture refunded: the refund step.
func endPaymentOnCapture(captureOp string) func(*cell, string, bool) error {
	return func(c *cell, op string, committed bool) error {
		if op == captureOp && committed {
			_, err := c.db.Pool.Exec(context.Background(), `UPDATE payments SET status = 'expired', completed_at = now()
				WHERE id = $1 AND status IN ('processing', 'requires_action')`, c.paymentID)
			return err
		}
		return nil
	}
}

// cell is one run of the matrix: its own database, processors, outbox and test server.
type cell struct {
	t      *testing.T
	st     step
	fault  string
	db     *postgres.DB // direct: the processors' and the checks' view
	booked *postgres.DB // through the proxy: the activities' view
	proxy  *pgProxy
	cards  *sandbox.CardProcessor
	paypal *sandbox.PayPal
	outbox *mailtest.Outbox
	env    *testsuite.TestWorkflowEnvironment
	pays   *activities.Payments

	mu        sync.Mutex
	paymentID string
	faulted   map[string]int
	wentDown  bool
	ledger    int
}

func newCell(t *testing.T, st step, fault string) *cell {
	t.Helper()
	db, booked, proxy := seededBehindProxy(t, time.Now().UTC())

	c := &cell{t: t, st: st, fault: fault, db: db, booked: booked, proxy: proxy, outbox: &mailtest.Outbox{},
		cards: sandbox.NewCardProcessor(db.Pool, billing.SystemClock{}), paypal: sandbox.NewPayPal(db.Pool, "http://checkout.test"),
		faulted: map[string]int{}}
	c.cards.SetFault(c.inject)
	c.paypal.SetFault(c.inject)
	c.pays = &activities.Payments{DB: booked, Cards: c.cards, PayPal: c.paypal, Mail: c.outbox, Clock: billing.SystemClock{},
		PublicURL: "http://portal.test", Logger: testenv.Logger(&testenv.LogBuffer{})}

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(testenv.NopTemporalLogger())
	c.env = suite.NewTestWorkflowEnvironment()
	c.env.RegisterWorkflow(workflows.Payment)
	c.env.RegisterActivity(&ledgerFaults{Payments: c.pays, cell: c})
	return c
}

// inject is the processors' fault hook.
func (c *cell) inject(op string, committed bool) error {
	if c.st.reach != nil {
		if err := c.st.reach(c, op, committed); err != nil {
			return err
		}
	}
	if op != c.st.op {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.faulted[op]
	// Steps that retry forever get a fault that passes; the rest get one that outlasts them.
	lasting := c.st.limited || n < 4
	switch c.fault {
	case answerLost:
		if committed && lasting {
			c.faulted[op]++
			return gateway.Transient(billing.CodeProcessingError, errors.New("answer lost after the commit"))
		}
	case processorFailing:
		if !committed && lasting {
			c.faulted[op]++
			return gateway.Transient(billing.CodeProcessingError, errors.New("processor unavailable"))
		}
	case postgresDown:
		if committed && !c.wentDown {
			c.wentDown = true
			c.faulted[op]++
			c.proxy.Down(6) // several attempts of the step's bookkeeping fail
		}
	}
	return nil
}

// ledgerFaults puts the faults of the ledger write on BookPaymentMailingReceipt (the saga's
// booking since its version 5), which touches no processor.
type ledgerFaults struct {
	*activities.Payments
	cell *cell
}

func (l *ledgerFaults) BookPaymentMailingReceipt(ctx context.Context, in activities.BookInput) (activities.ApplyResult, error) {
	c := l.cell
	if c.st.op != "" {
		return l.Payments.BookPaymentMailingReceipt(ctx, in)
	}
	c.mu.Lock()
	c.ledger++
	n := c.ledger
	c.mu.Unlock()
	switch c.fault {
	case answerLost:
		res, err := l.Payments.BookPaymentMailingReceipt(ctx, in)
		if err == nil && n <= 4 {
			return activities.ApplyResult{}, errors.New("answer lost after the commit")
		}
		return res, err
	case processorFailing:
		if n <= 5 {
			return activities.ApplyResult{}, errors.New("ledger write failed")
		}
	case postgresDown:
		if n == 1 {
			c.proxy.Down(6)
		}
	}
	return l.Payments.BookPaymentMailingReceipt(ctx, in)
}

// newPayment stores a payment as the API would, ready for its saga.
func (c *cell) newPayment(method billing.PaymentMethodKind) billing.Payment {
	c.t.Helper()
	ctx := context.Background()
	acct, err := c.db.Account(ctx, devdata.DemoAccountID)
	if err != nil {
		c.t.Fatal(err)
	}
	p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
		Method: method, Amount: billing.Money{Amount: 2500, Currency: acct.Currency},
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	p.WorkflowID = workflows.PaymentWorkflowID(p.ID)
	if method == billing.MethodCard {
		tok, err := c.cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2035, CVC: "123",
			HolderName: "Ada Lovelace"}, acct.Address)
		if err != nil {
			c.t.Fatalf("tokenize: %v", err)
		}
		p.CardToken, p.CardBrand, p.CardLast4, p.BillingAddress = tok.Token, tok.Brand, tok.Last4, &acct.Address
	}
	stored, _, err := c.db.CreatePayment(ctx, p, "matrix-"+p.ID, []byte("fingerprint"))
	if err != nil {
		c.t.Fatalf("store payment: %v", err)
	}
	c.paymentID = stored.ID
	return stored
}

// run runs the saga to its end; a PayPal buyer approves (or cancels) a minute in.
func (c *cell) run(p billing.Payment) {
	c.t.Helper()
	if p.Method == billing.MethodPayPal {
		c.env.RegisterDelayedCallback(func() {
			cur, err := c.db.PaymentByID(context.Background(), p.ID)
			if err != nil || cur.PayPalOrderID == "" {
				return // no order: the create step failed for good
			}
			if c.st.buyerCancels {
				c.env.SignalWorkflow(workflows.SignalCancel, workflows.CancelPaymentSignal{Reason: "customer"})
				return
			}
			if err := c.paypal.Approve(context.Background(), cur.PayPalOrderID); err != nil {
				c.t.Errorf("approve: %v", err)
			}
			c.env.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
		}, time.Minute)
	}
	c.env.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{PaymentID: p.ID, AccountID: p.AccountID,
		Method: p.Method, Amount: p.Amount, CardToken: p.CardToken, PayPalApprovalTimeout: time.Hour})
	if !c.env.IsWorkflowCompleted() {
		c.t.Fatal("the saga did not complete")
	}
	if err := c.env.GetWorkflowError(); err != nil {
		c.t.Fatalf("the saga failed: %v", err)
	}
	c.mu.Lock()
	faulted := c.faulted[c.st.op] + c.ledger
	c.mu.Unlock()
	if faulted == 0 {
		c.t.Fatalf("the fault was never injected: the cell tests nothing")
	}
	if c.fault == postgresDown && c.proxy.Refused() == 0 {
		c.t.Fatalf("Postgres never went down: the cell tests nothing")
	}
}

// checkInvariants is what must hold after any fault: the books agree with the processors,
// nothing is left half done, and the customer was told the truth.
func (c *cell) checkInvariants(before billing.Payment) {
	c.t.Helper()
	ctx := context.Background()
	p, err := c.db.PaymentByID(ctx, before.ID)
	if err != nil {
		c.t.Fatal(err)
	}
	if !p.Status.Final() {
		c.t.Fatalf("payment is %s after its saga closed", p.Status)
	}

	captured, refunded := c.money(p) // before the checks below, which would repair the books

	// The product's own checks, as `payportal reconcile` runs them, find nothing to repair.
	rec := &activities.Reconciler{DB: c.db, Payments: &activities.Payments{DB: c.db, Cards: c.cards, PayPal: c.paypal,
		Mail: &mailtest.Outbox{}, Clock: billing.SystemClock{}}, Clock: billing.SystemClock{}}
	c.cards.SetFault(nil)
	c.paypal.SetFault(nil)
	for _, check := range []func(context.Context, activities.ReconcileInput) (activities.ReconcileReport, error){rec.CheckCaptures, rec.CheckBooks} {
		rep, err := check(ctx, activities.ReconcileInput{RunID: "matrix"})
		if err != nil {
			c.t.Fatalf("invariant check: %v", err)
		}
		for _, f := range rep.Findings {
			c.t.Errorf("invariant broken (%s): %s", f.Kind, f.Detail)
		}
	}

	// Money: taken exactly once and booked, or not taken, or given back in full.
	ledger := c.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, p.ID)
	switch {
	case p.Status == billing.PaymentSucceeded:
		if captured != p.Amount.Amount || refunded != 0 || ledger != 1 {
			c.t.Errorf("succeeded with %d captured, %d refunded and %d ledger entries; want the amount captured once and booked once",
				captured, refunded, ledger)
		}
	case ledger != 0:
		c.t.Errorf("%s payment has %d ledger entries", p.Status, ledger)
	case captured != refunded:
		c.t.Errorf("%s payment: %d captured but only %d refunded", p.Status, captured, refunded)
	}
	if held := c.count(`SELECT count(*) FROM sandbox_authorizations WHERE idempotency_key = $1 AND status = 'authorized'`,
		p.ID+"/authorize"); held != 0 {
		c.t.Errorf("a hold is left on the card after the payment ended %s", p.Status)
	}

	// The customer's mail tells what happened to the money. A receipt comes from the books'
	// outbox: its mailer's passes, the second after every lease has run out, mail it once.
	for _, at := range []time.Time{time.Now(), time.Now().Add(time.Hour)} {
		receipts := &activities.ReceiptOutbox{DB: c.db, Mail: c.outbox, Clock: &billing.FixedClock{T: at}}
		if _, err := receipts.MailDue(ctx); err != nil {
			c.t.Fatalf("mail due receipts: %v", err)
		}
	}
	var mails []string
	for _, m := range c.outbox.Messages() {
		mails = append(mails, m.Subject+"\n"+m.Text)
	}
	want := "No money was taken"
	switch {
	case p.Status == billing.PaymentSucceeded:
		want = "Payment received"
	case captured > 0:
		want = "refunded to you in full"
	case p.Status == billing.PaymentCanceled || p.Status == billing.PaymentExpired:
		want = "" // the customer's own cancel: no mail
	}
	switch {
	case want == "" && len(mails) != 0:
		c.t.Errorf("mails %q for a payment the customer cancelled, want none", mails)
	case want != "" && (len(mails) != 1 || !strings.Contains(mails[0], want)):
		c.t.Errorf("mails %q for a payment that ended %s (captured %d, refunded %d), want one saying %q",
			mails, p.Status, captured, refunded, want)
	}
	c.t.Logf("%s under %s: payment %s, captured %d, refunded %d", c.st.name, c.fault, p.Status, captured, refunded)
}

// money is what the processors captured and refunded for the payment.
func (c *cell) money(p billing.Payment) (captured, refunded int64) {
	ctx := context.Background()
	switch p.Method {
	case billing.MethodCard:
		ch, err := c.cards.LookupCharge(ctx, p.ID+"/authorize")
		if err != nil {
			c.t.Fatal(err)
		}
		if ch.Status == gateway.ChargeCaptured {
			return ch.Amount.Amount, ch.Refunded
		}
	default:
		var orderID string
		if err := c.db.Pool.QueryRow(ctx, `SELECT coalesce(max(id), '') FROM sandbox_paypal_orders WHERE request_id = $1`,
			p.ID+"/order").Scan(&orderID); err != nil {
			c.t.Fatal(err)
		}
		if orderID == "" {
			return 0, 0
		}
		o, err := c.paypal.LookupOrder(ctx, orderID)
		if err != nil {
			c.t.Fatal(err)
		}
		if o.Status == gateway.OrderCaptured {
			return o.Amount.Amount, o.Refunded
		}
	}
	return 0, 0
}

func (c *cell) count(sql string, arg any) int {
	c.t.Helper()
	var n int
	if err := c.db.Pool.QueryRow(context.Background(), sql, arg).Scan(&n); err != nil {
		c.t.Fatal(fmt.Errorf("count: %w", err))
	}
	return n
}

// TestFaultMatrixRecurringCharge puts the same faults on the monthly charge of the card on
// file, run by the month's workflow as a child saga: a capture whose answers are lost is found
// and the invoice paid; a processor failing past every attempt ends the month past due with
// nothing taken; Postgres down while the charge is booked delays the booking, nothing more.
func TestFaultMatrixRecurringCharge(t *testing.T) {
	for _, tc := range []struct {
		fault, op string
		want      workflows.RecurringBillingStage
	}{
		{answerLost, sandbox.OpCapture, workflows.StagePaid},
		{processorFailing, sandbox.OpAuthorize, workflows.StagePastDue},
		{postgresDown, sandbox.OpCapture, workflows.StagePaid},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			t.Parallel()
			c := newCell(t, step{name: "recurring_charge", method: billing.MethodCard, op: tc.op, limited: true}, tc.fault)
			ctx := context.Background()
			c.putCardOnFile(devdata.DemoAccountID)
			billingDate := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

			var suite testsuite.WorkflowTestSuite
			suite.SetLogger(testenv.NopTemporalLogger())
			env := suite.NewTestWorkflowEnvironment()
			env.SetStartTime(billingDate.Add(6 * time.Hour))
			workflows.RegisterAll(env)
			activities.RegisterAll(env, activities.Dependencies{DB: c.booked, Clock: billing.SystemClock{},
				Logger: testenv.Logger(&testenv.LogBuffer{}), Mail: c.outbox, Cards: c.cards, PayPal: c.paypal})
			env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{
				AccountID: devdata.DemoAccountID, BillingDate: billingDate})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("the month failed: %v", err)
			}
			var st workflows.RecurringBillingState
			if err := env.GetWorkflowResult(&st); err != nil {
				t.Fatal(err)
			}
			if st.Stage != tc.want {
				t.Errorf("the month ended %s, want %s", st.Stage, tc.want)
			}
			c.mu.Lock()
			faulted := c.faulted[tc.op]
			c.mu.Unlock()
			if faulted == 0 || (tc.fault == postgresDown && c.proxy.Refused() == 0) {
				t.Fatal("the fault was never injected: the cell tests nothing")
			}

			inv, err := c.db.Invoice(ctx, devdata.DemoAccountID, st.InvoiceID)
			if err != nil {
				t.Fatal(err)
			}
			if paid := inv.Status == billing.InvoicePaid; paid != (tc.want == workflows.StagePaid) {
				t.Errorf("invoice is %s after a month that ended %s", inv.Status, st.Stage)
			}
			rec := &activities.Reconciler{DB: c.db, Payments: &activities.Payments{DB: c.db, Cards: c.cards, PayPal: c.paypal,
				Mail: &mailtest.Outbox{}, Clock: billing.SystemClock{}}, Clock: billing.SystemClock{}}
			c.cards.SetFault(nil)
			for _, check := range []func(context.Context, activities.ReconcileInput) (activities.ReconcileReport, error){rec.CheckCaptures, rec.CheckBooks} {
				rep, err := check(ctx, activities.ReconcileInput{RunID: "matrix"})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range rep.Findings {
					t.Errorf("invariant broken (%s): %s", f.Kind, f.Detail)
				}
			}
			if held := c.count(`SELECT count(*) FROM sandbox_authorizations WHERE status = 'authorized' AND $1::int = 0`, 0); held != 0 {
				t.Errorf("%d holds left on the card", held)
			}
			if open := c.count(`SELECT count(*) FROM payments WHERE status IN ('processing', 'requires_action') AND $1::int = 0`, 0); open != 0 {
				t.Errorf("%d payments left unfinished", open)
			}
		})
	}
}

// putCardOnFile makes a fresh sandbox card the account's validated monthly card.
func (c *cell) putCardOnFile(accountID string) {
	c.t.Helper()
	ctx := context.Background()
	acct, err := c.db.Account(ctx, accountID)
	if err != nil {
		c.t.Fatal(err)
	}
	tok, err := c.cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2035, CVC: "123",
		HolderName: "Pat Doe"}, acct.Address)
	if err != nil {
		c.t.Fatal(err)
	}
	now := time.Now().UTC()
	pm := billing.PaymentMethod{ID: billing.NewID(billing.PrefixPaymentMethod), AccountID: accountID,
		Status: billing.PMPendingValidation, ProcessorToken: tok.Token, Brand: tok.Brand, Last4: tok.Last4,
		ExpMonth: tok.ExpMonth, ExpYear: tok.ExpYear, HolderName: "Pat Doe", ContactEmail: acct.ContactEmail,
		BillingAddress: acct.Address, CreatedAt: now, ValidationDeadline: now.Add(24 * time.Hour), WorkflowID: "card-validation/matrix"}
	if err := c.db.CreatePaymentMethod(ctx, pm); err != nil {
		c.t.Fatal(err)
	}
	if _, _, err := c.db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMValidated, At: now}); err != nil {
		c.t.Fatal(err)
	}
}

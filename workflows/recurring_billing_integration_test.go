package workflows_test

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// billingWorld is the real thing minus Temporal's server: seeded Postgres, the real activities
// and payment saga, the sandbox card processor, and an outbox for mail. Workflows run in the
// time-skipping test environment, so dunning's days pass at once.
type billingWorld struct {
	db     *postgres.DB
	clock  *billing.FixedClock
	cards  *sandbox.CardProcessor
	outbox *mailtest.Outbox
}

func newBillingWorld(t *testing.T) *billingWorld {
	t.Helper()
	db, _ := testenv.Database(t)
	w := &billingWorld{db: db, clock: &billing.FixedClock{T: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}, outbox: &mailtest.Outbox{}}
	if _, err := devdata.Seed(context.Background(), db, w.clock.Now()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	w.cards = sandbox.NewCardProcessor(db.Pool, w.clock)
	return w
}

// putCardOnFile makes a sandbox card the account's validated monthly card.
func (w *billingWorld) putCardOnFile(t *testing.T, accountID, number string) {
	t.Helper()
	ctx := context.Background()
	addr := billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	tc, err := w.cards.Tokenize(ctx, gateway.Card{Number: number, ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Pat Doe"}, addr)
	if err != nil {
		t.Fatalf("tokenize: %v", err)
	}
	pm := billing.PaymentMethod{ID: billing.NewID(billing.PrefixPaymentMethod), AccountID: accountID,
		Status: billing.PMPendingValidation, ProcessorToken: tc.Token, Brand: tc.Brand, Last4: tc.Last4,
		ExpMonth: tc.ExpMonth, ExpYear: tc.ExpYear, HolderName: "Pat Doe", ContactEmail: "pat@example.com",
		BillingAddress: addr, CreatedAt: w.clock.Now(), ValidationDeadline: w.clock.Now().Add(24 * time.Hour), WorkflowID: "card-validation/test"}
	if err := w.db.CreatePaymentMethod(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMValidated, At: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
}

func (w *billingWorld) run(t *testing.T, accountID string, billingDate time.Time) workflows.RecurringBillingState {
	t.Helper()
	return w.runWith(t, accountID, billingDate, nil)
}

// runWith runs the month's workflow; meanwhile, when it is not nil, sets up what happens
// while the month runs (env.RegisterDelayedCallback).
func (w *billingWorld) runWith(t *testing.T, accountID string, billingDate time.Time, meanwhile func(env *testsuite.TestWorkflowEnvironment)) workflows.RecurringBillingState {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(billingDate.Add(6 * time.Hour))
	workflows.RegisterAll(env)
	activities.RegisterAll(env, activities.Dependencies{DB: w.db, Clock: w.clock, Logger: testenv.Logger(io.Discard),
		Mail: w.outbox, Cards: w.cards})
	if meanwhile != nil {
		meanwhile(env)
	}
	env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: accountID, BillingDate: billingDate})
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var state workflows.RecurringBillingState
	if err := env.GetWorkflowResult(&state); err != nil {
		t.Fatal(err)
	}
	return state
}

// mailDueReceipts runs a pass of the receipt outbox, as the worker's dispatcher does.
func (w *billingWorld) mailDueReceipts(t *testing.T) {
	t.Helper()
	o := &activities.ReceiptOutbox{DB: w.db, Mail: w.outbox, Clock: w.clock, Logger: testenv.Logger(io.Discard)}
	if _, err := o.MailDue(context.Background()); err != nil {
		t.Fatalf("mail due receipts: %v", err)
	}
}

func (w *billingWorld) balance(t *testing.T, accountID string) int64 {
	t.Helper()
	b, err := w.db.Balance(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (w *billingWorld) recurringInvoices(t *testing.T, accountID string) []billing.Invoice {
	t.Helper()
	invs, _, err := w.db.Invoices(context.Background(), accountID, billing.InvoiceRecurring, billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return invs
}

func (w *billingWorld) subjects() []string {
	var out []string
	for _, m := range w.outbox.Messages() {
		out = append(out, m.Subject)
	}
	return out
}

func TestRecurringBillingAgainstPostgres(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	w.putCardOnFile(t, devdata.DemoAccountID, "4242424242424242")

	summary, err := (&portal.Billing{DB: w.db, Clock: w.clock}).Summary(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	before := w.balance(t, devdata.DemoAccountID)
	invoicesBefore := len(w.recurringInvoices(t, devdata.DemoAccountID))

	state := w.run(t, devdata.DemoAccountID, summary.NextRecurringInvoiceDate)
	if state.Stage != workflows.StagePaid || state.PaymentStatus != billing.PaymentSucceeded {
		t.Fatalf("state %+v, want paid", state)
	}

	// The invoice is the one the billing summary announced: its total is exactly the
	// estimated next balance minus the balance.
	invs := w.recurringInvoices(t, devdata.DemoAccountID)
	if len(invs) != invoicesBefore+1 {
		t.Fatalf("recurring invoices %d, want %d", len(invs), invoicesBefore+1)
	}
	inv := invs[0]
	if inv.ID != state.InvoiceID || inv.Total != summary.EstimatedNextBalance-summary.CurrentBalance {
		t.Errorf("invoice %s total %d, want %s with the estimated %d", inv.ID, inv.Total, state.InvoiceID,
			summary.EstimatedNextBalance-summary.CurrentBalance)
	}
	if got := inv.PeriodStart.Format(time.DateOnly); got != "2026-11-01" {
		t.Errorf("period starts %s, want 2026-11-01", got)
	}
	if _, ok, err := w.db.InvoicePDF(ctx, inv.ID, "en", state.PDFHash); err != nil || !ok {
		t.Errorf("no stored PDF under the rendered hash %q (%v)", state.PDFHash, err)
	}
	pay, err := w.db.Payment(ctx, devdata.DemoAccountID, workflows.RecurringPaymentID(inv.ID, 1))
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != billing.PaymentSucceeded || pay.Amount.Amount != inv.Total || pay.CardLast4 != "4242" {
		t.Errorf("payment %+v, want %d succeeded on the 4242 card", pay, inv.Total)
	}
	if got := w.balance(t, devdata.DemoAccountID); got != before {
		t.Errorf("balance %d after the month, want it back at %d", got, before)
	}
	// The month's events, written with the invoice and with its payment.
	if got := w.eventTypes(t, devdata.DemoAccountID, inv.ID); !slices.Equal(got, []billing.EventType{billing.EventInvoiceIssued, billing.EventInvoicePaid}) {
		t.Errorf("events of the invoice %v, want issued then paid", got)
	}
	if got := w.eventTypes(t, devdata.DemoAccountID, pay.ID); !slices.Equal(got, []billing.EventType{billing.EventPaymentSucceeded}) {
		t.Errorf("events of the payment %v, want succeeded", got)
	}
	w.mailDueReceipts(t) // the receipt outbox's pass
	subjects := strings.Join(w.subjects(), " | ")
	if !strings.Contains(subjects, inv.Number) || len(w.outbox.Messages()) != 2 {
		t.Errorf("mails %q, want the invoice announcement and the receipt", subjects)
	}

	// The same period again: the invoice is found, the payment is found, nothing is charged.
	stats, _ := w.cards.Stats(ctx)
	again := w.run(t, devdata.DemoAccountID, summary.NextRecurringInvoiceDate)
	if again.InvoiceID != inv.ID || again.Stage != workflows.StagePaid {
		t.Errorf("second run %+v, want the same invoice, paid", again)
	}
	if n := len(w.recurringInvoices(t, devdata.DemoAccountID)); n != invoicesBefore+1 {
		t.Errorf("recurring invoices after a re-run: %d, want %d", n, invoicesBefore+1)
	}
	statsAfter, _ := w.cards.Stats(ctx)
	if statsAfter.Authorizations != stats.Authorizations || statsAfter.Captures != 1 {
		t.Errorf("card authorizations %d → %d, captures %d; want no new charge and one capture in all",
			stats.Authorizations, statsAfter.Authorizations, statsAfter.Captures)
	}
	if got := w.balance(t, devdata.DemoAccountID); got != before {
		t.Errorf("balance %d after a re-run, want %d", got, before)
	}
	w.mailDueReceipts(t)
	if len(w.outbox.Messages()) != 2 {
		t.Errorf("mails after a re-run %q, want no new one", w.subjects())
	}
}

func TestRecurringBillingDeclinedCardEndsPastDue(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	w.putCardOnFile(t, devdata.OtherAccountID, "4000000000000341") // tokenizes; every charge declined
	before := w.balance(t, devdata.OtherAccountID)

	billingDay := time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)
	state := w.run(t, devdata.OtherAccountID, billingDay)
	if state.Stage != workflows.StagePastDue || state.Attempts != 4 {
		t.Fatalf("state %+v, want past due after 4 attempts", state)
	}
	inv, err := w.db.Invoice(ctx, devdata.OtherAccountID, state.InvoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != billing.InvoiceOpen || inv.AmountDue() != inv.Total {
		t.Errorf("invoice %s with %d due, want open with everything due", inv.Status, inv.AmountDue())
	}
	acct, err := w.db.Account(ctx, devdata.OtherAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Status != billing.AccountPastDue {
		t.Errorf("account %s, want past_due", acct.Status)
	}
	if got := w.balance(t, devdata.OtherAccountID); got != before+inv.Total {
		t.Errorf("balance %d, want %d: the invoice is owed, nothing was paid", got, before+inv.Total)
	}
	for attempt := 1; attempt <= 4; attempt++ {
		p, err := w.db.Payment(ctx, devdata.OtherAccountID, workflows.RecurringPaymentID(inv.ID, attempt))
		if err != nil || p.Status != billing.PaymentFailed || p.Failure == nil || p.Failure.Code != billing.CodeCardDeclined {
			t.Errorf("attempt %d payment %+v (%v), want failed card_declined", attempt, p, err)
		}
	}
	// The account writes in French: so do its dunning mails, three announcing a retry and the
	// last one saying the account is past due.
	retry := "Action requise\u202f: le paiement de la facture " + inv.Number + " a échoué"
	pastDue := "Votre compte est en retard de paiement\u202f: la facture " + inv.Number + " est impayée"
	counts := map[string]int{}
	for _, s := range w.subjects() {
		counts[s]++
	}
	if counts[retry] != 3 || counts[pastDue] != 1 {
		t.Errorf("mails %q, want 3 × %q and 1 × %q", w.subjects(), retry, pastDue)
	}
	if got := w.eventTypes(t, devdata.OtherAccountID, inv.ID); !slices.Equal(got, []billing.EventType{billing.EventInvoiceIssued, billing.EventInvoicePastDue}) {
		t.Errorf("events of the invoice %v, want issued then past_due", got)
	}
}

// eventTypes are the types of the outbox's events about one object, oldest first.
func (w *billingWorld) eventTypes(t *testing.T, accountID, objectID string) []billing.EventType {
	t.Helper()
	events, _, err := w.db.AccountEvents(context.Background(), accountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var types []billing.EventType
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].ObjectID == objectID {
			types = append(types, events[i].Type)
		}
	}
	return types
}

// newAccount adds an account without history, billed monthly on billingDay for one recurring
// charge of monthlyCharge USD cents (no tax), so a test knows every cent on it.
func (w *billingWorld) newAccount(t *testing.T, billingDay int) billing.Account {
	t.Helper()
	ctx := context.Background()
	acct := billing.Account{ID: billing.NewID(billing.PrefixAccount), CompanyName: "Fresh Co", Currency: "USD",
		Address:    billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		BillingDay: billingDay, Language: "en", ContactEmail: "ap@fresh.example", Status: billing.AccountActive,
		CreatedAt: w.clock.Now().AddDate(0, -2, 0)}
	if _, err := w.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := w.db.AddRecurringCharge(ctx, billing.RecurringCharge{ID: "rc_" + acct.ID, AccountID: acct.ID,
		Description: "Managed database", Category: "compute", Quantity: 1, UnitAmount: monthlyCharge}); err != nil {
		t.Fatal(err)
	}
	return acct
}

const monthlyCharge = 20000

// issueBeforehand issues the account's recurring invoice of the month before its workflow runs,
// as a run that failed after issuing it would have, so a test can act on it first.
func (w *billingWorld) issueBeforehand(t *testing.T, acct billing.Account, billingDate time.Time) billing.Invoice {
	t.Helper()
	start, end := billing.BillingPeriod(billingDate)
	draft := billing.RecurringInvoiceDraft(acct, []billing.RecurringCharge{{Description: "Managed database",
		Category: "compute", Quantity: 1, UnitAmount: monthlyCharge}}, start, end)
	draft.CreatedAt = billingDate.Add(6 * time.Hour)
	inv, _, err := w.db.CreateInvoice(context.Background(), draft)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// openPayPalCheckout stores a one-time PayPal payment waiting for the buyer, as the API does
// when the customer starts a PayPal checkout in the portal.
func (w *billingWorld) openPayPalCheckout(t *testing.T, accountID string, amount int64) billing.Payment {
	t.Helper()
	ctx := context.Background()
	p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: accountID, Status: billing.PaymentProcessing,
		Method: billing.MethodPayPal, Amount: billing.Money{Amount: amount, Currency: "USD"}, CreatedAt: w.clock.Now(),
		WorkflowID: "payment/test"}
	p, _, err := w.db.CreatePayment(ctx, p, "checkout-"+p.ID, []byte("hash"))
	if err != nil {
		t.Fatalf("open checkout: %v", err)
	}
	if err := w.db.MarkPaymentRequiresAction(ctx, p.ID, "ORDER-"+p.ID, "https://paypal.example/approve"); err != nil {
		t.Fatal(err)
	}
	return p
}

// afterStart runs fn at offset after the month's workflow started, on the test's clock.
func afterStart(t *testing.T, env *testsuite.TestWorkflowEnvironment, offset time.Duration, fn func() error) {
	env.RegisterDelayedCallback(func() {
		if err := fn(); err != nil {
			t.Errorf("at %s: %v", offset, err)
		}
	}, offset)
}

func (w *billingWorld) recurringCardPayments(t *testing.T, invoiceID string) []billing.Payment {
	t.Helper()
	var out []billing.Payment
	for attempt := 1; ; attempt++ {
		p, err := w.db.PaymentByID(context.Background(), workflows.RecurringPaymentID(invoiceID, attempt))
		if billing.KindOf(err) == billing.KindNotFound {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
}

// Scenario (a) against Postgres: in dunning, the customer opens a PayPal checkout for the
// amount due and abandons it. The month waits for it, charges the card again when it has
// expired, and ends past due with the invoice open: never paid.
func TestRecurringBillingAbandonedCheckoutDuringDunningEndsPastDueAgainstPostgres(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	acct := w.newAccount(t, 1)
	w.putCardOnFile(t, acct.ID, "4000000000000341") // every charge declined
	var checkout billing.Payment
	state := w.runWith(t, acct.ID, billingDecember, func(env *testsuite.TestWorkflowEnvironment) {
		afterStart(t, env, 23*time.Hour, func() error {
			checkout = w.openPayPalCheckout(t, acct.ID, monthlyCharge)
			return nil
		})
		afterStart(t, env, 25*time.Hour, func() error {
			s := queryStage(t, env)
			if s.Stage != workflows.StageAwaitingPayment || s.InFlight.Amount != monthlyCharge {
				t.Errorf("status during the checkout %+v, want awaiting_payment for %d", s, monthlyCharge)
			}
			return nil
		})
		afterStart(t, env, 26*time.Hour, func() error { // PayPal's approval window ran out
			return w.db.FinishPayment(ctx, checkout.ID, billing.PaymentExpired, nil, w.clock.Now())
		})
	})

	if state.Stage != workflows.StagePastDue {
		t.Fatalf("state %+v, want past_due", state)
	}
	inv, err := w.db.Invoice(ctx, acct.ID, state.InvoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != billing.InvoiceOpen || inv.AmountDue() != monthlyCharge {
		t.Errorf("invoice %s with %d due, want open with %d due", inv.Status, inv.AmountDue(), monthlyCharge)
	}
	charges := w.recurringCardPayments(t, inv.ID)
	if len(charges) != 4 {
		t.Fatalf("card charges %d, want 4 (the plan, the checkout waited out)", len(charges))
	}
	for i, p := range charges {
		if p.Status != billing.PaymentFailed || p.Amount.Amount != monthlyCharge {
			t.Errorf("charge %d: %s for %d, want failed for %d", i+1, p.Status, p.Amount.Amount, monthlyCharge)
		}
	}
	if a, _ := w.db.Account(ctx, acct.ID); a.Status != billing.AccountPastDue {
		t.Errorf("account %s, want past_due", a.Status)
	}
	if got := w.balance(t, acct.ID); got != monthlyCharge {
		t.Errorf("balance %d, want %d owed", got, monthlyCharge)
	}
}

// Scenario (b) against Postgres: the customer's PayPal payment for the invoice is in flight
// when the month comes to charge it; it succeeds, pays the invoice, and the card is never
// charged.
func TestRecurringBillingPayPalPaymentInFlightPaysTheMonthAgainstPostgres(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	acct := w.newAccount(t, 1)
	w.putCardOnFile(t, acct.ID, "4242424242424242")
	inv := w.issueBeforehand(t, acct, billingDecember)
	checkout := w.openPayPalCheckout(t, acct.ID, monthlyCharge)
	state := w.runWith(t, acct.ID, billingDecember, func(env *testsuite.TestWorkflowEnvironment) {
		afterStart(t, env, 30*time.Minute, func() error { // approved and captured
			_, err := w.db.ApplyPayment(ctx, checkout.ID, w.clock.Now())
			return err
		})
	})

	if state.Stage != workflows.StagePaid || state.InvoiceID != inv.ID {
		t.Fatalf("state %+v, want %s paid", state, inv.ID)
	}
	if charges := w.recurringCardPayments(t, inv.ID); len(charges) != 0 {
		t.Errorf("card charges %+v, want none", charges)
	}
	stats, _ := w.cards.Stats(ctx)
	if stats.Authorizations != 0 {
		t.Errorf("card authorizations %d, want 0", stats.Authorizations)
	}
	if got, _ := w.db.Invoice(ctx, acct.ID, inv.ID); got.Status != billing.InvoicePaid {
		t.Errorf("invoice %s, want paid", got.Status)
	}
	if got := w.balance(t, acct.ID); got != 0 {
		t.Errorf("balance %d, want 0", got)
	}
}

// Scenario (c) against Postgres: a PayPal checkout for part of the invoice is in flight; the
// card is charged for the rest only (never more than owed), which leaves the invoice open.
// The checkout is abandoned: what it would have paid is charged next, and only then is the
// month paid.
func TestRecurringBillingChargesTheRemainderAgainstPostgres(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	acct := w.newAccount(t, 1)
	w.putCardOnFile(t, acct.ID, "4242424242424242")
	inv := w.issueBeforehand(t, acct, billingDecember)
	const part = 7500
	checkout := w.openPayPalCheckout(t, acct.ID, part)
	state := w.runWith(t, acct.ID, billingDecember, func(env *testsuite.TestWorkflowEnvironment) {
		afterStart(t, env, time.Hour, func() error {
			s := queryStage(t, env)
			got, err := w.db.Invoice(ctx, acct.ID, inv.ID)
			if err != nil {
				return err
			}
			if s.Stage != workflows.StageAwaitingPayment || got.Status != billing.InvoiceOpen || got.AmountDue() != part {
				t.Errorf("after the first charge: status %+v, invoice %s with %d due; want awaiting_payment, open with %d due",
					s, got.Status, got.AmountDue(), part)
			}
			return nil
		})
		afterStart(t, env, 3*time.Hour, func() error {
			return w.db.FinishPayment(ctx, checkout.ID, billing.PaymentExpired, nil, w.clock.Now())
		})
	})

	if state.Stage != workflows.StagePaid {
		t.Fatalf("state %+v, want paid", state)
	}
	charges := w.recurringCardPayments(t, inv.ID)
	if len(charges) != 2 || charges[0].Amount.Amount != monthlyCharge-part || charges[1].Amount.Amount != part ||
		charges[0].Status != billing.PaymentSucceeded || charges[1].Status != billing.PaymentSucceeded {
		t.Fatalf("card charges %+v, want %d then %d, both succeeded", charges, monthlyCharge-part, part)
	}
	if got, _ := w.db.Invoice(ctx, acct.ID, inv.ID); got.Status != billing.InvoicePaid || got.AmountPaid != monthlyCharge {
		t.Errorf("invoice %s with %d paid, want paid in full", got.Status, got.AmountPaid)
	}
	if got := w.balance(t, acct.ID); got != 0 {
		t.Errorf("balance %d, want 0", got)
	}
}

// Scenario (d) against Postgres: the month was billed on the billing day; later, with its
// workflow gone from retention, the billing is started again on another day of the month (a
// manual trigger, an operator's date). It finds the invoice already issued: no second
// invoice, no second charge.
func TestRecurringBillingAnotherDayOfABilledMonthBillsNothingMoreAgainstPostgres(t *testing.T) {
	w := newBillingWorld(t)
	ctx := context.Background()
	w.putCardOnFile(t, devdata.OtherAccountID, "4242424242424242")
	before := len(w.recurringInvoices(t, devdata.OtherAccountID))

	first := w.run(t, devdata.OtherAccountID, time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
	again := w.run(t, devdata.OtherAccountID, time.Date(2026, 12, 22, 0, 0, 0, 0, time.UTC))
	if first.Stage != workflows.StagePaid || again.Stage != workflows.StagePaid || again.InvoiceID != first.InvoiceID {
		t.Fatalf("runs %+v and %+v, want one invoice, paid", first, again)
	}
	if n := len(w.recurringInvoices(t, devdata.OtherAccountID)); n != before+1 {
		t.Errorf("recurring invoices %d, want %d", n, before+1)
	}
	inv, err := w.db.Invoice(ctx, devdata.OtherAccountID, first.InvoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if got := inv.PeriodStart.Format(time.DateOnly); got != "2026-11-15" {
		t.Errorf("period starts %s, want 2026-11-15 (the billing day's)", got)
	}
	stats, _ := w.cards.Stats(ctx)
	if stats.Captures != 1 {
		t.Errorf("captures %d, want 1", stats.Captures)
	}
}

package workflows_test

import (
	"context"
	"io"
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
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(billingDate.Add(6 * time.Hour))
	workflows.RegisterAll(env)
	activities.RegisterAll(env, activities.Dependencies{DB: w.db, Clock: w.clock, Logger: testenv.Logger(io.Discard),
		Mail: w.outbox, Cards: w.cards})
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
	retry := "Action requise : le paiement de la facture " + inv.Number + " a échoué"
	pastDue := "Votre compte est en retard de paiement : la facture " + inv.Number + " est impayée"
	counts := map[string]int{}
	for _, s := range w.subjects() {
		counts[s]++
	}
	if counts[retry] != 3 || counts[pastDue] != 1 {
		t.Errorf("mails %q, want 3 × %q and 1 × %q", w.subjects(), retry, pastDue)
	}
}

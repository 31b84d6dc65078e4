package activities_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/pdfstore"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

type billingActivities struct {
	db        *postgres.DB
	clock     *billing.FixedClock
	invoices  *activities.Invoices
	recurring *activities.RecurringBilling
}

func newBillingActivities(t *testing.T) *billingActivities {
	t.Helper()
	db, _ := testenv.Database(t)
	clock := &billing.FixedClock{T: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	if _, err := devdata.Seed(context.Background(), db, clock.Now()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	outbox := &mailtest.Outbox{}
	return &billingActivities{
		db: db, clock: clock,
		invoices:  &activities.Invoices{DB: db, PDFs: &pdfstore.Store{DB: db, Clock: clock}, Mail: outbox, Clock: clock},
		recurring: &activities.RecurringBilling{DB: db, Mail: outbox, Clock: clock},
	}
}

// call runs one activity the way a worker would, in its own activity environment.
func runBillingActivity[T any](t *testing.T, activity any, registered any, arg any) (T, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(registered)
	var out T
	v, err := env.ExecuteActivity(activity, arg)
	if err != nil {
		return out, err
	}
	return out, v.Get(&out)
}

func TestIssueRecurringInvoiceOncePerPeriodEvenConcurrently(t *testing.T) {
	b := newBillingActivities(t)
	ctx := context.Background()
	summary, err := (&portal.Billing{DB: b.db, Clock: b.clock}).Summary(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	req := activities.RecurringInvoiceRequest{AccountID: devdata.DemoAccountID, BillingDate: summary.NextRecurringInvoiceDate}

	// Two workers pick the same activity up at once (a retry racing a slow first attempt).
	results := make([]activities.IssuedInvoice, 3)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := runBillingActivity[activities.IssuedInvoice](t, b.invoices.IssueRecurringInvoice, b.invoices, req)
			if err != nil {
				t.Errorf("issue: %v", err)
			}
			results[i] = out
		}()
	}
	wg.Wait()

	created := 0
	for _, r := range results {
		if r.Created {
			created++
		}
		if r.InvoiceID == "" || r.InvoiceID != results[0].InvoiceID {
			t.Errorf("results name different invoices: %+v", results)
		}
	}
	if created != 1 {
		t.Errorf("%d calls created the invoice, want exactly 1", created)
	}
	// What was issued is what the billing summary estimated, and it was booked once.
	balance, err := b.db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if balance != summary.EstimatedNextBalance {
		t.Errorf("balance %d after issuing, want the estimated next balance %d", balance, summary.EstimatedNextBalance)
	}
	if results[0].Total.Amount != summary.EstimatedNextBalance-summary.CurrentBalance || results[0].Language != "en" {
		t.Errorf("issued %+v", results[0])
	}
}

func TestRenderInvoicePDFStoresOneFilePerContent(t *testing.T) {
	b := newBillingActivities(t)
	ctx := context.Background()
	issued, err := runBillingActivity[activities.IssuedInvoice](t, b.invoices.IssueRecurringInvoice, b.invoices,
		activities.RecurringInvoiceRequest{AccountID: devdata.OtherAccountID, BillingDate: time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	req := activities.InvoicePDFRequest{AccountID: devdata.OtherAccountID, InvoiceID: issued.InvoiceID, Language: issued.Language}
	first, err := runBillingActivity[activities.RenderedInvoicePDF](t, b.invoices.RenderInvoicePDF, b.invoices, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := runBillingActivity[activities.RenderedInvoicePDF](t, b.invoices.RenderInvoicePDF, b.invoices, req)
	if err != nil {
		t.Fatal(err)
	}
	if first.ContentHash != again.ContentHash || first.Size < 1000 {
		t.Errorf("renders %+v and %+v, want one content", first, again)
	}
	n, err := b.db.InvoicePDFCount(ctx, issued.InvoiceID, "fr")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("stored files %d, want 1", n)
	}
	// An invoice of another account is not there for this one: final, not retried.
	_, err = runBillingActivity[activities.RenderedInvoicePDF](t, b.invoices.RenderInvoicePDF, b.invoices,
		activities.InvoicePDFRequest{AccountID: devdata.DemoAccountID, InvoiceID: issued.InvoiceID})
	if err == nil {
		t.Error("rendered another account's invoice")
	}
}

func TestPrepareRecurringCharge(t *testing.T) {
	b := newBillingActivities(t)
	ctx := context.Background()
	issued, err := runBillingActivity[activities.IssuedInvoice](t, b.invoices.IssueRecurringInvoice, b.invoices,
		activities.RecurringInvoiceRequest{AccountID: devdata.DemoAccountID, BillingDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	req := activities.RecurringChargeRequest{AccountID: devdata.DemoAccountID, InvoiceID: issued.InvoiceID,
		PaymentID: "pay_rb_test_1", WorkflowID: "payment/pay_rb_test_1"}

	out, err := runBillingActivity[activities.RecurringChargeOutcome](t, b.recurring.PrepareRecurringCharge, b.recurring, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Reason != activities.ChargeNoCard || !out.NoCard || out.AmountDue.Amount != issued.Total.Amount {
		t.Errorf("without a card: %+v, want no_card with %d due", out, issued.Total.Amount)
	}

	pm := billing.PaymentMethod{ID: "pm_test", AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation,
		ProcessorToken: "tok_test", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Pat",
		ContactEmail: "pat@example.com", BillingAddress: billing.Address{Line1: "1 Main St", City: "X", PostalCode: "1", Country: "US"},
		CreatedAt: b.clock.Now(), ValidationDeadline: b.clock.Now().Add(time.Hour), WorkflowID: "card-validation/pm_test"}
	if err := b.db.CreatePaymentMethod(ctx, pm); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMValidated, At: b.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call is a retry: same payment, no second one
		out, err = runBillingActivity[activities.RecurringChargeOutcome](t, b.recurring.PrepareRecurringCharge, b.recurring, req)
		if err != nil {
			t.Fatal(err)
		}
		p := out.Payment
		if out.Reason != activities.ChargeCard || out.NoCard || out.NothingDue || p.ID != req.PaymentID || p.Status != billing.PaymentProcessing ||
			p.Amount != issued.Total || p.CardToken != "tok_test" || p.Last4 != "4242" {
			t.Errorf("with a card: %+v", out)
		}
	}
	var payments int
	if err := b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE invoice_id = $1`, issued.InvoiceID).Scan(&payments); err != nil {
		t.Fatal(err)
	}
	if payments != 1 {
		t.Errorf("payments for the invoice: %d, want 1", payments)
	}

	// A credit larger than everything owed pays the invoice: the next attempt has nothing to
	// charge, and the invoice says so (collection ends only on a paid invoice).
	if _, _, err := b.db.CreateInvoice(ctx, billing.Invoice{AccountID: devdata.DemoAccountID, Type: billing.InvoiceCredit,
		Status: billing.InvoicePaid, Currency: "USD", Subtotal: -10_000_000, Total: -10_000_000, CreatedAt: b.clock.Now(),
		Items: []billing.InvoiceItem{{Description: "Goodwill credit", Category: "credit", Quantity: 1, UnitAmount: -10_000_000, Amount: -10_000_000}}}); err != nil {
		t.Fatal(err)
	}
	req.PaymentID = "pay_rb_test_2"
	out, err = runBillingActivity[activities.RecurringChargeOutcome](t, b.recurring.PrepareRecurringCharge, b.recurring, req)
	if err != nil {
		t.Fatal(err)
	}
	if out.Reason != activities.ChargePaidByCredit || !out.NothingDue || out.AmountDue.Amount != 0 {
		t.Errorf("with the balance in credit: %+v, want paid_by_credit", out)
	}
	if inv, _ := b.db.Invoice(ctx, devdata.DemoAccountID, issued.InvoiceID); inv.Status != billing.InvoicePaid {
		t.Errorf("invoice %s after the credit, want paid", inv.Status)
	}
	req.PaymentID = "pay_rb_test_3"
	out, err = runBillingActivity[activities.RecurringChargeOutcome](t, b.recurring.PrepareRecurringCharge, b.recurring, req)
	if err != nil || out.Reason != activities.ChargeInvoicePaid {
		t.Errorf("once paid: %+v (%v), want invoice_paid", out, err)
	}
}

// freshAccount adds an account without history (USD, no tax), billed on billingDay for one
// recurring charge of amount, with a validated card when card is set.
func (b *billingActivities) freshAccount(t *testing.T, billingDay int, amount int64, card bool) billing.Account {
	t.Helper()
	ctx := context.Background()
	acct := billing.Account{ID: billing.NewID(billing.PrefixAccount), CompanyName: "Fresh Co", Currency: "USD",
		Address:    billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		BillingDay: billingDay, Language: "en", ContactEmail: "ap@fresh.example", Status: billing.AccountActive,
		CreatedAt: b.clock.Now().AddDate(0, -2, 0)}
	if _, err := b.db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if err := b.db.AddRecurringCharge(ctx, billing.RecurringCharge{ID: "rc_" + acct.ID, AccountID: acct.ID,
		Description: "Managed database", Category: "compute", Quantity: 1, UnitAmount: amount}); err != nil {
		t.Fatal(err)
	}
	if card {
		pm := billing.PaymentMethod{ID: billing.NewID(billing.PrefixPaymentMethod), AccountID: acct.ID, Status: billing.PMPendingValidation,
			ProcessorToken: "tok_" + acct.ID, Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Pat",
			ContactEmail: "pat@example.com", BillingAddress: acct.Address,
			CreatedAt: b.clock.Now(), ValidationDeadline: b.clock.Now().Add(time.Hour), WorkflowID: "card-validation/test"}
		if err := b.db.CreatePaymentMethod(ctx, pm); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMValidated, At: b.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return acct
}

// openCheckout stores a one-time PayPal payment of the account waiting for the buyer.
func (b *billingActivities) openCheckout(t *testing.T, accountID string, amount int64) billing.Payment {
	t.Helper()
	p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: accountID, Status: billing.PaymentProcessing,
		Method: billing.MethodPayPal, Amount: billing.Money{Amount: amount, Currency: "USD"}, CreatedAt: b.clock.Now(),
		WorkflowID: "payment/test"}
	p, _, err := b.db.CreatePayment(context.Background(), p, "key-"+p.ID, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Money in flight is not a payment: PrepareRecurringCharge says "wait" while a checkout covers
// what is due, charges only what it does not cover, and says "paid" only for a paid invoice.
func TestPrepareRecurringChargeWaitsForMoneyInFlight(t *testing.T) {
	b := newBillingActivities(t)
	ctx := context.Background()
	acct := b.freshAccount(t, 1, 20000, true)
	issued, err := runBillingActivity[activities.IssuedInvoice](t, b.invoices.IssueRecurringInvoice, b.invoices,
		activities.RecurringInvoiceRequest{AccountID: acct.ID, BillingDate: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	prepare := func(charge int) activities.RecurringChargeOutcome {
		t.Helper()
		id := fmt.Sprintf("pay_rb_%s_%d", strings.TrimPrefix(issued.InvoiceID, "inv_"), charge)
		out, err := runBillingActivity[activities.RecurringChargeOutcome](t, b.recurring.PrepareRecurringCharge, b.recurring,
			activities.RecurringChargeRequest{AccountID: acct.ID, InvoiceID: issued.InvoiceID, PaymentID: id, WorkflowID: "payment/" + id})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	// The customer opened a checkout for the whole invoice: nothing is charged, and the
	// invoice is not paid either.
	checkout := b.openCheckout(t, acct.ID, 20000)
	out := prepare(1)
	if out.Reason != activities.ChargeInFlight || out.NothingDue || out.Payment.ID != "" ||
		out.AmountDue.Amount != 20000 || out.InFlight.Amount != 20000 {
		t.Fatalf("with the whole invoice in flight: %+v, want in_flight", out)
	}
	// It was abandoned; another covers part: the card is charged for the rest only.
	if err := b.db.FinishPayment(ctx, checkout.ID, billing.PaymentExpired, nil, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b.openCheckout(t, acct.ID, 5000)
	out = prepare(1)
	if out.Reason != activities.ChargeCard || out.Payment.Amount.Amount != 15000 || out.AmountDue.Amount != 20000 {
		t.Fatalf("with 5000 in flight: %+v, want a charge of 15000", out)
	}
	// That charge succeeded: 5000 is still due on the invoice, covered by the checkout.
	if _, err := b.db.ApplyPayment(ctx, out.Payment.ID, b.clock.Now()); err != nil {
		t.Fatal(err)
	}
	out = prepare(2)
	if out.Reason != activities.ChargeInFlight || out.AmountDue.Amount != 5000 || out.InFlight.Amount != 5000 {
		t.Fatalf("after a partial charge: %+v, want in_flight with 5000 due", out)
	}
	if inv, _ := b.db.Invoice(ctx, acct.ID, issued.InvoiceID); inv.Status != billing.InvoiceOpen || inv.AmountDue() != 5000 {
		t.Errorf("invoice %s with %d due, want open with 5000 due", inv.Status, inv.AmountDue())
	}
}

// Scenario (d) of issue 8 at the activity: the month's billing started on two different days
// of one month (the billing day, then a manual trigger once the month's workflow has left
// retention) issues one invoice, for the period of the account's billing day.
func TestIssueRecurringInvoiceOncePerBillingMonthWhateverTheDay(t *testing.T) {
	b := newBillingActivities(t)
	ctx := context.Background()
	acct := b.freshAccount(t, 15, 20000, false)
	issue := func(day time.Time) activities.IssuedInvoice {
		t.Helper()
		out, err := runBillingActivity[activities.IssuedInvoice](t, b.invoices.IssueRecurringInvoice, b.invoices,
			activities.RecurringInvoiceRequest{AccountID: acct.ID, BillingDate: day})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := issue(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
	later := issue(time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC))
	earlier := issue(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if !first.Created || later.Created || earlier.Created || later.InvoiceID != first.InvoiceID || earlier.InvoiceID != first.InvoiceID {
		t.Fatalf("issued %+v, then %+v and %+v; want one invoice, created once", first, later, earlier)
	}
	inv, err := b.db.Invoice(ctx, acct.ID, first.InvoiceID)
	if err != nil {
		t.Fatal(err)
	}
	if inv.PeriodStart.Format(time.DateOnly) != "2026-11-15" || inv.PeriodEnd.Format(time.DateOnly) != "2026-12-14" {
		t.Errorf("period %s..%s, want 2026-11-15..2026-12-14", inv.PeriodStart.Format(time.DateOnly), inv.PeriodEnd.Format(time.DateOnly))
	}
	if balance, _ := b.db.Balance(ctx, acct.ID); balance != 20000 {
		t.Errorf("balance %d, want one month booked (20000)", balance)
	}
	// The next month is another invoice.
	if next := issue(time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC)); !next.Created || next.InvoiceID == first.InvoiceID {
		t.Errorf("January: %+v, want a new invoice", next)
	}
}

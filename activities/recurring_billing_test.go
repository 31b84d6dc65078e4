package activities_test

import (
	"context"
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
	if !out.NoCard || out.AmountDue.Amount != issued.Total.Amount {
		t.Errorf("without a card: %+v, want NoCard with %d due", out, issued.Total.Amount)
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
		if out.NoCard || out.NothingDue || p.ID != req.PaymentID || p.Status != billing.PaymentProcessing ||
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

	// A credit larger than everything owed: the next attempt has nothing to charge.
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
	if !out.NothingDue {
		t.Errorf("with the balance in credit: %+v, want NothingDue", out)
	}
}

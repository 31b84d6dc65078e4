package workflows_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/workflows"
)

// fakeBooks stands in for the database behind the billing activities, so one test can run
// the workflow twice against the same books, as a re-run would. Its prepare decides as
// postgres.PrepareInvoiceCharge does: only what the balance owes minus the payments in flight
// is charged, and only a paid invoice ends collection.
type fakeBooks struct {
	mu             sync.Mutex
	balance        int64
	invoices       map[string]*billing.Invoice // by period start
	payments       map[string]*billing.Payment
	card           *billing.PaymentMethod // the validated monthly card, nil for none
	declines       map[int]string         // charge (1, 2, ...) → decline code the card gives
	declineAll     string                 // decline code of every charge, when set
	outside        []*outsidePayment      // payments the customer makes meanwhile (PayPal checkouts)
	charges        int                    // payment sagas run
	chargeInputs   []workflows.PaymentInput
	invoiceMails   int
	dunning        []activities.DunningNotice
	pdfs           []activities.InvoicePDFRequest
	pastDue        int
	prepareTimes   []time.Time
	prepares       []activities.RecurringChargeOutcome
	chargeAttempt  map[string]int    // payment id → charge number
	paymentInvoice map[string]string // payment id → the invoice it charges
}

// outsidePayment is a one-time payment of the customer's, in flight from start until end,
// when it succeeds (paying the oldest open invoice) or expires. end zero: never ends.
type outsidePayment struct {
	amount     int64
	start, end time.Time
	succeeds   bool
	settled    bool
}

const monthTotal = 18540

func newBooks(balance int64, card bool) *fakeBooks {
	b := &fakeBooks{balance: balance, invoices: map[string]*billing.Invoice{}, payments: map[string]*billing.Payment{},
		declines: map[int]string{}, chargeAttempt: map[string]int{}, paymentInvoice: map[string]string{}}
	if card {
		b.card = &billing.PaymentMethod{ID: "pm_card", Status: billing.PMValidated, ProcessorToken: "tok_visa", Brand: "visa", Last4: "4242"}
	}
	return b
}

func (b *fakeBooks) issue(_ context.Context, req activities.RecurringInvoiceRequest) (activities.IssuedInvoice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start, end := billing.BillingPeriod(req.BillingDate)
	inv, ok := b.invoices[start.Format(time.DateOnly)]
	created := !ok
	if created {
		inv = &billing.Invoice{ID: "inv_" + start.Format("200601"), Number: "INV-2026-00" + start.Format("0102"),
			AccountID: req.AccountID, Type: billing.InvoiceRecurring, Status: billing.InvoiceOpen, Currency: "USD",
			PeriodStart: &start, PeriodEnd: &end, Subtotal: monthTotal, Total: monthTotal}
		b.invoices[start.Format(time.DateOnly)] = inv
		b.balance += inv.Total
	}
	return activities.IssuedInvoice{InvoiceID: inv.ID, Number: inv.Number, Status: inv.Status,
		Total: billing.Money{Amount: inv.Total, Currency: inv.Currency}, AmountDue: inv.AmountDue(), Created: created,
		CompanyName: "Demo Corp", ContactEmail: "billing@demo.example", Language: "en"}, nil
}

func (b *fakeBooks) invoiceByID(id string) *billing.Invoice {
	for _, inv := range b.invoices {
		if inv.ID == id {
			return inv
		}
	}
	return nil
}

// applyLocked books a payment: off the balance, onto the invoice (the first open one when
// none is named), marking it paid once nothing is due.
func (b *fakeBooks) applyLocked(amount int64, inv *billing.Invoice) {
	b.balance -= amount
	for _, period := range slices.Sorted(maps.Keys(b.invoices)) { // the oldest open one
		if inv == nil && b.invoices[period].AmountDue() > 0 {
			inv = b.invoices[period]
		}
	}
	if inv == nil {
		return
	}
	inv.AmountPaid += min(amount, inv.AmountDue())
	if inv.AmountPaid >= inv.Total {
		inv.Status = billing.InvoicePaid
	}
}

// inFlightLocked settles the outside payments that ended by now and sums those in flight.
func (b *fakeBooks) inFlightLocked(now time.Time) int64 {
	var sum int64
	for _, o := range b.outside {
		switch {
		case now.Before(o.start) || o.settled:
		case !o.end.IsZero() && !now.Before(o.end):
			o.settled = true
			if o.succeeds {
				b.applyLocked(o.amount, nil)
			}
		default:
			sum += o.amount
		}
	}
	return sum
}

func (b *fakeBooks) prepare(env *testsuite.TestWorkflowEnvironment) func(context.Context, activities.RecurringChargeRequest) (activities.RecurringChargeOutcome, error) {
	return func(_ context.Context, req activities.RecurringChargeRequest) (out activities.RecurringChargeOutcome, _ error) {
		b.mu.Lock()
		defer b.mu.Unlock()
		defer func() { b.prepares = append(b.prepares, out) }()
		b.prepareTimes = append(b.prepareTimes, env.Now())
		inFlight := b.inFlightLocked(env.Now())
		inv := b.invoiceByID(req.InvoiceID)
		out.AmountDue = billing.Money{Amount: inv.AmountDue(), Currency: inv.Currency}
		if p, ok := b.payments[req.PaymentID]; ok {
			out.Reason = activities.ChargeCard
			out.Payment = activities.RecurringPayment{ID: p.ID, Status: p.Status, Amount: p.Amount, Failure: p.Failure}
			return out, nil
		}
		due := inv.AmountDue()
		if credit := due - max(b.balance, 0); due > 0 && credit > 0 {
			inv.AmountPaid += credit
			due -= credit
			if due == 0 {
				inv.Status = billing.InvoicePaid
			}
			out.AmountDue.Amount = due
			if due == 0 {
				out.Reason, out.NothingDue = activities.ChargePaidByCredit, true
				return out, nil
			}
		}
		amount := min(due, b.balance-inFlight)
		switch {
		case due == 0:
			out.Reason, out.NothingDue = activities.ChargeInvoicePaid, true
		case amount <= 0:
			out.Reason, out.InFlight = activities.ChargeInFlight, billing.Money{Amount: inFlight, Currency: inv.Currency}
		case b.card == nil:
			out.Reason, out.NoCard = activities.ChargeNoCard, true
		default:
			p := &billing.Payment{ID: req.PaymentID, AccountID: req.AccountID, Status: billing.PaymentProcessing,
				Method: billing.MethodCard, Amount: billing.Money{Amount: amount, Currency: inv.Currency}, CardToken: b.card.ProcessorToken}
			b.payments[p.ID] = p
			b.chargeAttempt[p.ID] = len(b.chargeAttempt) + 1
			b.paymentInvoice[p.ID] = inv.ID
			out.Reason = activities.ChargeCard
			out.Payment = activities.RecurringPayment{ID: p.ID, Status: p.Status, Amount: p.Amount,
				CardToken: p.CardToken, Brand: b.card.Brand, Last4: b.card.Last4}
		}
		return out, nil
	}
}

// pay is the payment saga as the billing workflow sees it: it charges the card and applies the
// payment to its invoice, or fails with the card's decline.
func (b *fakeBooks) pay(_ workflow.Context, in workflows.PaymentInput) (workflows.PaymentState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charges++
	b.chargeInputs = append(b.chargeInputs, in)
	p := b.payments[in.PaymentID]
	code, ok := b.declines[b.chargeAttempt[in.PaymentID]]
	if b.declineAll != "" {
		code, ok = b.declineAll, true
	}
	if ok {
		p.Status, p.Failure = billing.PaymentFailed, &billing.Failure{Code: code, Message: "declined"}
		return workflows.PaymentState{Status: p.Status, Failure: p.Failure}, nil
	}
	p.Status = billing.PaymentSucceeded
	b.applyLocked(in.Amount.Amount, b.invoiceByID(b.paymentInvoice[in.PaymentID]))
	return workflows.PaymentState{Status: billing.PaymentSucceeded}, nil
}

// billingEnv is a time-skipping test environment with the billing activities mocked onto
// books and the payment saga replaced by books.pay.
func billingEnv(t *testing.T, books *fakeBooks) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetStartTime(time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC))
	env.RegisterWorkflow(workflows.RecurringBillingWorkflow)
	env.RegisterWorkflow(workflows.Payment)
	var inv *activities.Invoices
	var rb *activities.RecurringBilling
	env.RegisterActivity(inv)
	env.RegisterActivity(rb)

	env.OnActivity(inv.IssueRecurringInvoice, mock.Anything, mock.Anything).Return(books.issue)
	env.OnActivity(inv.RenderInvoicePDF, mock.Anything, mock.Anything).Return(
		func(_ context.Context, req activities.InvoicePDFRequest) (activities.RenderedInvoicePDF, error) {
			books.mu.Lock()
			defer books.mu.Unlock()
			books.pdfs = append(books.pdfs, req)
			return activities.RenderedInvoicePDF{ContentHash: "hash-" + req.InvoiceID, Size: 1234}, nil
		})
	env.OnActivity(inv.SendInvoiceIssuedMail, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.InvoiceNotice) error {
			books.mu.Lock()
			defer books.mu.Unlock()
			books.invoiceMails++
			return nil
		})
	env.OnActivity(rb.PrepareRecurringCharge, mock.Anything, mock.Anything).Return(books.prepare(env))
	env.OnActivity(rb.AwaitPaymentsSettled, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.RecurringChargeRequest) error {
			books.mu.Lock()
			defer books.mu.Unlock()
			if b := books.inFlightLocked(env.Now()); b > 0 {
				return temporal.NewApplicationError("still in flight", activities.ErrTypeStillInFlight)
			}
			return nil
		})
	env.OnActivity(rb.SendDunningMail, mock.Anything, mock.Anything).Return(
		func(_ context.Context, n activities.DunningNotice) error {
			books.mu.Lock()
			defer books.mu.Unlock()
			books.dunning = append(books.dunning, n)
			return nil
		})
	env.OnActivity(rb.MarkAccountPastDue, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error {
			books.mu.Lock()
			defer books.mu.Unlock()
			books.pastDue++
			return nil
		})
	env.OnWorkflow(workflows.Payment, mock.Anything, mock.Anything).Return(books.pay)
	return env
}

var billingDecember = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func runMonth(t *testing.T, books *fakeBooks) (workflows.RecurringBillingState, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	env := billingEnv(t, books)
	env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: "acct_demo", BillingDate: billingDecember})
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
	return state, env
}

func TestRecurringBillingChargesTheCardOnFile(t *testing.T) {
	books := newBooks(5000, true)
	state, _ := runMonth(t, books)

	if state.Stage != workflows.StagePaid || state.PaymentStatus != billing.PaymentSucceeded {
		t.Errorf("stage %s, payment %s; want paid, succeeded", state.Stage, state.PaymentStatus)
	}
	if len(books.invoices) != 1 || books.invoices["2026-11-01"] == nil {
		t.Fatalf("invoices %v, want one for the period starting 2026-11-01", books.invoices)
	}
	inv := books.invoices["2026-11-01"]
	if inv.Status != billing.InvoicePaid {
		t.Errorf("invoice %s, want paid", inv.Status)
	}
	if len(books.pdfs) != 1 || books.pdfs[0].InvoiceID != inv.ID || state.PDFHash == "" {
		t.Errorf("pdfs rendered %v (state hash %q), want the invoice's", books.pdfs, state.PDFHash)
	}
	if books.invoiceMails != 1 {
		t.Errorf("invoice mails %d, want 1", books.invoiceMails)
	}
	if books.charges != 1 {
		t.Fatalf("charges %d, want 1", books.charges)
	}
	in := books.chargeInputs[0]
	if in.PaymentID != workflows.RecurringPaymentID(inv.ID, 1) || in.Method != billing.MethodCard ||
		in.CardToken != "tok_visa" || in.Amount != (billing.Money{Amount: monthTotal, Currency: "USD"}) {
		t.Errorf("payment saga input %+v", in)
	}
	if books.balance != 5000 {
		t.Errorf("balance %d after the month, want it back at 5000", books.balance)
	}
	if len(books.dunning) != 0 || books.pastDue != 0 {
		t.Errorf("dunning mails %d, past due %d; want none", len(books.dunning), books.pastDue)
	}
}

func TestRecurringBillingWithoutCardDunsThenMarksPastDue(t *testing.T) {
	books := newBooks(0, false)
	state, _ := runMonth(t, books)

	if state.Stage != workflows.StagePastDue {
		t.Errorf("stage %s, want past_due", state.Stage)
	}
	inv := books.invoices["2026-11-01"]
	if inv == nil || inv.Status != billing.InvoiceOpen || inv.AmountDue() != monthTotal {
		t.Fatalf("invoice %+v, want it open with everything due", inv)
	}
	if books.invoiceMails != 1 || books.charges != 0 {
		t.Errorf("invoice mails %d, charges %d; want 1 and 0", books.invoiceMails, books.charges)
	}
	// Attempts on the billing day, then 1, 3 and 7 days after the first failure.
	start := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	wantAt := []time.Duration{0, 24 * time.Hour, 72 * time.Hour, 168 * time.Hour}
	if len(books.prepareTimes) != len(wantAt) {
		t.Fatalf("charge attempts %d, want %d", len(books.prepareTimes), len(wantAt))
	}
	for i, at := range books.prepareTimes {
		if got := at.Sub(start).Round(time.Minute); got != wantAt[i] {
			t.Errorf("attempt %d after %v, want %v", i+1, got, wantAt[i])
		}
	}
	if len(books.dunning) != 4 {
		t.Fatalf("dunning mails %d, want 4 (three retries announced, then past due)", len(books.dunning))
	}
	for i, n := range books.dunning {
		if n.Attempt != i+1 || n.MaxAttempts != 4 || !n.NoPaymentMethod || n.AmountDue.Amount != monthTotal || n.InvoiceNumber != inv.Number {
			t.Errorf("dunning mail %d: %+v", i+1, n)
		}
		last := i == 3
		if n.PastDue != last || (n.NextAttempt == nil) != last {
			t.Errorf("dunning mail %d: past due %v, next attempt %v", i+1, n.PastDue, n.NextAttempt)
		}
		if !last && !n.NextAttempt.Equal(start.Add(wantAt[i+1])) {
			t.Errorf("dunning mail %d announces %v, want %v", i+1, n.NextAttempt, start.Add(wantAt[i+1]))
		}
	}
	if books.pastDue != 1 {
		t.Errorf("account marked past due %d times, want 1", books.pastDue)
	}
}

func TestRecurringBillingRetriesADeclinedCard(t *testing.T) {
	books := newBooks(0, true)
	books.declines[1] = billing.CodeInsufficientFunds
	state, _ := runMonth(t, books)

	if state.Stage != workflows.StagePaid || state.Attempts != 2 {
		t.Errorf("stage %s after %d attempts, want paid after 2", state.Stage, state.Attempts)
	}
	if books.charges != 2 || books.chargeInputs[0].PaymentID == books.chargeInputs[1].PaymentID {
		t.Errorf("charges %d (%v), want 2 with distinct payment ids", books.charges, books.chargeInputs)
	}
	if len(books.dunning) != 1 || books.dunning[0].Failure == nil || books.dunning[0].Failure.Code != billing.CodeInsufficientFunds ||
		books.dunning[0].Last4 != "4242" {
		t.Errorf("dunning mails %+v, want one naming the card and insufficient_funds", books.dunning)
	}
	if books.pastDue != 0 || books.balance != 0 {
		t.Errorf("past due %d, balance %d; want 0 and 0", books.pastDue, books.balance)
	}
}

func TestRecurringBillingSamePeriodTwiceBillsAndChargesOnce(t *testing.T) {
	books := newBooks(5000, true)
	first, _ := runMonth(t, books)
	second, _ := runMonth(t, books)

	if len(books.invoices) != 1 {
		t.Errorf("invoices %d, want 1", len(books.invoices))
	}
	if books.charges != 1 || len(books.payments) != 1 {
		t.Errorf("charges %d, payments %d; want 1 and 1", books.charges, len(books.payments))
	}
	if books.invoiceMails != 1 {
		t.Errorf("invoice mails %d, want 1: a re-run does not announce the invoice again", books.invoiceMails)
	}
	if first.InvoiceID != second.InvoiceID || second.Stage != workflows.StagePaid {
		t.Errorf("second run: %+v, want the same invoice, paid", second)
	}
	if books.balance != 5000 {
		t.Errorf("balance %d, want 5000", books.balance)
	}
}

func TestRecurringBillingStatusQuery(t *testing.T) {
	books := newBooks(0, false)
	env := billingEnv(t, books)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryStatus)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		var s workflows.RecurringBillingStatusQuery
		if err := v.Get(&s); err != nil {
			t.Error(err)
			return
		}
		if s.Stage != workflows.StageDunning || s.Attempts != 2 || s.NextAttemptAt == nil || s.InvoiceNumber == "" {
			t.Errorf("status two days in: %+v, want dunning after 2 attempts with the next one set", s)
		}
	}, 48*time.Hour)
	env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: "acct_demo", BillingDate: billingDecember})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
}

func TestBillingDayWorkflowBillsTheScheduledMonth(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.BillingDayWorkflow)
	env.RegisterWorkflow(workflows.RecurringBillingWorkflow)
	// The schedule fired for December 1st at 06:00 but the run starts late, on the 2nd.
	scheduled := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	env.SetStartTime(scheduled.Add(26 * time.Hour))
	if err := env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime").ValueSet(scheduled))); err != nil {
		t.Fatal(err)
	}
	var gotID string
	var gotIn workflows.RecurringBillingInput
	env.OnWorkflow(workflows.RecurringBillingWorkflow, mock.Anything, mock.Anything).Return(
		func(ctx workflow.Context, in workflows.RecurringBillingInput) (workflows.RecurringBillingState, error) {
			gotID, gotIn = workflow.GetInfo(ctx).WorkflowExecution.ID, in
			return workflows.RecurringBillingState{Stage: workflows.StagePaid}, nil
		})
	env.ExecuteWorkflow(workflows.BillingDayWorkflow, workflows.BillingDayInput{AccountID: "acct_demo"})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.BillingDayResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.WorkflowID != "recurring-billing/acct_demo/2026-12" || gotID != res.WorkflowID {
		t.Errorf("month workflow %q (ran as %q), want recurring-billing/acct_demo/2026-12", res.WorkflowID, gotID)
	}
	if !gotIn.BillingDate.Equal(billingDecember) || gotIn.AccountID != "acct_demo" {
		t.Errorf("month input %+v, want acct_demo billed on 2026-12-01", gotIn)
	}
}

func TestRecurringPaymentIDIsValidAndPerAttempt(t *testing.T) {
	id := workflows.RecurringPaymentID("inv_abc123", 2)
	if id != "pay_rb_abc123_2" || !billing.HasPrefix(id, billing.PrefixPayment) {
		t.Errorf("RecurringPaymentID = %q", id)
	}
	if workflows.RecurringPaymentID("inv_abc123", 1) == id {
		t.Error("attempts share a payment id")
	}
}

var billingStart = time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC) // when runMonth's workflow starts

// queryStage answers the month's status at the current time of env.
func queryStage(t *testing.T, env *testsuite.TestWorkflowEnvironment) workflows.RecurringBillingStatusQuery {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	var s workflows.RecurringBillingStatusQuery
	if err := v.Get(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// runMonthWatched runs the month like runMonth, and records the status query's answer every
// interval until horizon, so a test can see the stages the month went through.
func runMonthWatched(t *testing.T, books *fakeBooks, interval, horizon time.Duration) (workflows.RecurringBillingState, []workflows.RecurringBillingStatusQuery) {
	t.Helper()
	env := billingEnv(t, books)
	var seen []workflows.RecurringBillingStatusQuery
	for at := interval; at < horizon; at += interval {
		env.RegisterDelayedCallback(func() { seen = append(seen, queryStage(t, env)) }, at)
	}
	env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: "acct_demo", BillingDate: billingDecember})
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
	return state, seen
}

// Scenario (a) of issue 8 item 2: while the month is in dunning the customer opens a PayPal
// checkout for the amount due and abandons it. The retry waits for it instead of calling the
// month paid; once it expires the card is charged again, and when the plan runs out the
// account is past due. The month is never "paid" while its invoice is open.
func TestRecurringBillingAbandonedPayPalCheckoutInDunningEndsPastDue(t *testing.T) {
	books := newBooks(0, true)
	books.declineAll = billing.CodeInsufficientFunds
	// Opened 23 hours after the first failure, an hour before the first retry; PayPal's
	// approval window of 3 hours then runs out.
	books.outside = []*outsidePayment{{amount: monthTotal, start: billingStart.Add(23 * time.Hour),
		end: billingStart.Add(26 * time.Hour)}}
	state, seen := runMonthWatched(t, books, time.Hour, 9*24*time.Hour)

	if state.Stage != workflows.StagePastDue || books.pastDue != 1 {
		t.Fatalf("state %+v (past due marked %d times), want past_due", state, books.pastDue)
	}
	inv := books.invoices["2026-11-01"]
	if inv.Status != billing.InvoiceOpen || inv.AmountDue() != monthTotal {
		t.Errorf("invoice %s with %d due, want open with everything due", inv.Status, inv.AmountDue())
	}
	for _, s := range seen {
		if s.Stage == workflows.StagePaid {
			t.Fatalf("the month was reported paid while its invoice was open: %+v", s)
		}
	}
	// The first retry came at the day mark, found the checkout open and waited for it, then
	// charged the card once the checkout had expired; the plan went on from there.
	if books.charges != 4 {
		t.Errorf("card charges %d, want 4", books.charges)
	}
	awaited := false
	for _, s := range seen {
		if s.Stage == workflows.StageAwaitingPayment && s.InFlight.Amount == monthTotal {
			awaited = true
		}
	}
	if !awaited {
		t.Error("the status never showed the month awaiting the payment in flight")
	}
	secondCharge := time.Time{}
	for i, o := range books.prepares {
		if o.Reason == activities.ChargeCard && secondCharge.IsZero() && i > 0 {
			secondCharge = books.prepareTimes[i]
		}
	}
	if secondCharge.Before(billingStart.Add(26*time.Hour)) || secondCharge.After(billingStart.Add(27*time.Hour)) {
		t.Errorf("second charge prepared at %s, want within the hour after the checkout expired", secondCharge)
	}
	if len(books.dunning) != 4 || !books.dunning[3].PastDue {
		t.Errorf("dunning mails %+v, want 4 ending with past due", books.dunning)
	}
	// Bounded: the waiting took a handful of looks, not one a minute.
	if len(books.prepareTimes) > 12 {
		t.Errorf("%d looks at the invoice, want a handful", len(books.prepareTimes))
	}
}

// A checkout that never ends (its saga died) does not hold the month forever: each attempt
// waits until the next dunning date, then counts as failed, and the plan runs out.
func TestRecurringBillingPaymentStuckInFlightEndsPastDue(t *testing.T) {
	books := newBooks(0, false)
	books.outside = []*outsidePayment{{amount: monthTotal, start: billingStart}}
	state, seen := runMonthWatched(t, books, time.Hour, 10*24*time.Hour)

	if state.Stage != workflows.StagePastDue || books.pastDue != 1 || books.charges != 0 {
		t.Fatalf("state %+v, past due %d, charges %d; want past_due without a charge", state, books.pastDue, books.charges)
	}
	for _, s := range seen {
		if s.Stage == workflows.StagePaid {
			t.Fatalf("reported paid while owed: %+v", s)
		}
	}
	if len(books.dunning) != 4 {
		t.Fatalf("dunning mails %d, want 4", len(books.dunning))
	}
	for i, n := range books.dunning {
		if n.Failure == nil || n.Failure.Code != "payment_in_progress" || n.Attempt != i+1 {
			t.Errorf("dunning mail %d: %+v, want payment_in_progress", i+1, n)
		}
	}
	// The first attempt waits a day, and its failure starts the plan; each retry then waits
	// until the next one's date, and the last one a day.
	first := billingStart.Add(24 * time.Hour)
	wantNext := []time.Time{first.Add(24 * time.Hour), first.Add(3 * 24 * time.Hour), first.Add(7 * 24 * time.Hour)}
	for i, at := range wantNext {
		if n := books.dunning[i].NextAttempt; n == nil || !n.Equal(at) {
			t.Errorf("dunning mail %d announces %v, want %s", i+1, n, at)
		}
	}
	if got, want := books.prepareTimes[len(books.prepareTimes)-1], first.Add(8*24*time.Hour); !got.Equal(want) {
		t.Errorf("last look at %s, want %s", got, want)
	}
	if n := len(books.prepareTimes); n > 250 {
		t.Errorf("%d looks at the invoice over 9 days, want about one an hour at most", n)
	}
}

// Scenario (b): a payment in flight on the billing day that succeeds and pays the invoice
// ends the month paid, and the card is never charged.
func TestRecurringBillingInFlightPaymentThatPaysEndsPaidWithoutCharge(t *testing.T) {
	books := newBooks(0, true)
	books.outside = []*outsidePayment{{amount: monthTotal, start: billingStart.Add(-time.Hour),
		end: billingStart.Add(30 * time.Minute), succeeds: true}}
	state, seen := runMonthWatched(t, books, 10*time.Minute, time.Hour)

	if state.Stage != workflows.StagePaid || books.charges != 0 {
		t.Fatalf("state %+v after %d charges, want paid without a charge", state, books.charges)
	}
	if inv := books.invoices["2026-11-01"]; inv.Status != billing.InvoicePaid {
		t.Errorf("invoice %s, want paid", inv.Status)
	}
	if len(seen) == 0 || seen[0].Stage != workflows.StageAwaitingPayment || seen[0].NextAttemptAt == nil {
		t.Errorf("status at 10 minutes %+v, want awaiting_payment with the next look", seen)
	}
	if len(books.dunning) != 0 || books.balance != 0 {
		t.Errorf("dunning mails %d, balance %d; want none and 0", len(books.dunning), books.balance)
	}
	// One look, then one wait (its retries poll at 5, 15 and 35 minutes), then the look that
	// finds it paid.
	if n := len(books.prepareTimes); n != 2 || !books.prepareTimes[1].Equal(billingStart.Add(35*time.Minute)) {
		t.Errorf("looks at %v, want two, the second at 35 minutes", books.prepareTimes)
	}
}

// Scenario (c): the customer's one-time payment for part of the invoice is in flight on the
// billing day. The card is charged for the rest (never more than owed), which leaves the
// invoice open: not paid. When the one-time payment expires, what it would have paid is
// charged too, and only then is the month paid.
func TestRecurringBillingChargesTheRemainderAfterAPartialCharge(t *testing.T) {
	books := newBooks(0, true)
	const partial = 5000
	books.outside = []*outsidePayment{{amount: partial, start: billingStart.Add(-time.Hour), end: billingStart.Add(3 * time.Hour)}}
	state, seen := runMonthWatched(t, books, 10*time.Minute, 4*time.Hour)

	if state.Stage != workflows.StagePaid || state.Attempts != 2 {
		t.Fatalf("state %+v, want paid after 2 attempts", state)
	}
	if books.charges != 2 {
		t.Fatalf("charges %d, want 2", books.charges)
	}
	inv := books.invoices["2026-11-01"]
	first, second := books.chargeInputs[0], books.chargeInputs[1]
	if first.Amount.Amount != monthTotal-partial || first.PaymentID != workflows.RecurringPaymentID(inv.ID, 1) {
		t.Errorf("first charge %+v, want %d as payment 1", first, monthTotal-partial)
	}
	if second.Amount.Amount != partial || second.PaymentID != workflows.RecurringPaymentID(inv.ID, 2) {
		t.Errorf("second charge %+v, want the remaining %d as payment 2", second, partial)
	}
	if inv.Status != billing.InvoicePaid || books.balance != 0 {
		t.Errorf("invoice %s, balance %d; want paid and 0", inv.Status, books.balance)
	}
	for _, s := range seen[:len(seen)-1] {
		if s.Stage == workflows.StagePaid {
			t.Fatalf("reported paid while %d was still due: %+v", s.AmountDue.Amount, s)
		}
	}
	if len(seen) < 2 || seen[1].Stage != workflows.StageAwaitingPayment || seen[1].AmountDue.Amount != partial {
		t.Errorf("status after 20 minutes %+v, want awaiting the %d in flight", seen, partial)
	}
	if len(books.dunning) != 0 {
		t.Errorf("dunning mails %+v, want none", books.dunning)
	}
}

// Credit on the account that covers the invoice pays it: the month ends paid, nothing charged.
func TestRecurringBillingCoveredByCreditEndsPaid(t *testing.T) {
	books := newBooks(-monthTotal-100, true)
	state, _ := runMonth(t, books)
	if state.Stage != workflows.StagePaid || books.charges != 0 {
		t.Errorf("state %+v, charges %d; want paid without a charge", state, books.charges)
	}
	if inv := books.invoices["2026-11-01"]; inv.Status != billing.InvoicePaid || books.prepares[0].Reason != activities.ChargePaidByCredit {
		t.Errorf("invoice %s after %+v, want paid by credit", inv.Status, books.prepares)
	}
}

// A charge stuck in flight for a day costs the month's history no more than one stuck for an
// hour: the wait is one activity whose retries (which add no history) do the polling.
func TestRecurringBillingHistoryStaysConstantWhileAPaymentIsStuck(t *testing.T) {
	commands := func(stuck time.Duration) (activitiesScheduled, timers int) {
		books := newBooks(0, true)
		books.outside = []*outsidePayment{{amount: monthTotal, start: billingStart.Add(-time.Hour),
			end: billingStart.Add(stuck), succeeds: true}}
		env := billingEnv(t, books)
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			if info.Attempt == 1 { // a new ActivityTaskScheduled event; retries are not in history
				activitiesScheduled++
			}
		})
		env.SetOnTimerScheduledListener(func(string, time.Duration) { timers++ })
		env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: "acct_demo", BillingDate: billingDecember})
		var st workflows.RecurringBillingState
		if err := env.GetWorkflowResult(&st); err != nil || st.Stage != workflows.StagePaid {
			t.Fatalf("month %+v (err %v), want paid once the payment lands", st, err)
		}
		return activitiesScheduled, timers
	}
	hourA, hourT := commands(time.Hour)
	dayA, dayT := commands(23 * time.Hour)
	if dayA != hourA || dayT != hourT {
		t.Errorf("stuck an hour: %d activities and %d timers; stuck a day: %d and %d; want the same", hourA, hourT, dayA, dayT)
	}
	if dayA > 8 {
		t.Errorf("%d activities scheduled for the month, want a handful", dayA)
	}
}

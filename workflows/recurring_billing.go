package workflows

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
)

// Recurring billing: a Temporal Schedule per account fires BillingDayWorkflow on the account's
// billing day. It starts the period's RecurringBillingWorkflow under an ID made of the account
// and the month, which the server lets exist once (unless a run failed), so the month is
// billed once however often the schedule, a catch-up or an operator starts it. Once that
// workflow has left retention, the database still holds one recurring invoice per account
// and billing month, and a new start gets the invoice already issued back.

// RecurringBillingWorkflowID names the billing of one account for the month of billingDate.
func RecurringBillingWorkflowID(accountID string, billingDate time.Time) string {
	return "recurring-billing/" + accountID + "/" + billingDate.UTC().Format("2006-01")
}

// RecurringBillingScheduleID names the schedule that bills an account every month.
func RecurringBillingScheduleID(accountID string) string { return "recurring-billing/" + accountID }

// RecurringPaymentID is the payment of one charge attempt on a recurring invoice. Derived, not
// random: a re-run of the attempt finds the payment (and its saga, PaymentWorkflowID of it)
// it made before instead of charging the card a second time.
func RecurringPaymentID(invoiceID string, attempt int) string {
	return billing.PrefixPayment + "rb_" + strings.TrimPrefix(invoiceID, billing.PrefixInvoice) + "_" + strconv.Itoa(attempt)
}

// DunningPlan is when a failed recurring charge is retried, counted from the first failure:
// after 1, 3 and 7 days. When the last retry fails too the account is marked past due.
var DunningPlan = []time.Duration{24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour}

// While what is due is covered by payments in flight (a PayPal checkout the customer opened,
// a charge still processing), the month waits in one activity whose retry policy is the
// polling loop: first after InFlightFirstCheck, then twice as long each time up to
// InFlightMaxCheck. Retries add no history, so a wait of days is three events. It waits until the next dunning date, or InFlightWaitLimit
// when there is none; then the attempt counts as failed and dunning goes on.
var (
	InFlightFirstCheck = 5 * time.Minute
	InFlightMaxCheck   = time.Hour
	InFlightWaitLimit  = 24 * time.Hour
)

// Workflow versions (workflow.GetVersion change IDs) of RecurringBillingWorkflow.
const (
	// collectUntilPaidChange: collection ends only when the invoice is paid. Money in flight
	// is waited for, a charge that leaves something due is followed by one for the rest, and
	// attempts are counted apart from payment IDs. Runs from before it keep the old loop
	// (collect) until their next dunning retry, where collectUntilPaidResumeChange takes them
	// over to the new one.
	collectUntilPaidChange = "recurring-billing-collect-until-paid"
	// pollByActivityChange: waits for money in flight and for a saga started by an earlier run
	// are one activity whose retry policy polls, so their history stays three events however
	// long they last. Runs from before it keep polling with timers.
	pollByActivityChange = "recurring-billing-poll-by-activity"
)

// collectUntilPaidResumeChange is checked after the wait for the retry that follows failed
// attempt n of the old loop: one change ID per wait, so a run that waited before the change
// (DefaultVersion there, in its history) still switches at its next one.
func collectUntilPaidResumeChange(attempt int) string {
	return collectUntilPaidChange + "-after-retry-" + strconv.Itoa(attempt)
}

// BillingDayInput is what the schedule passes. BillingDate is empty from the schedule, where
// the scheduled time decides; an operator may set it to bill a given day by hand.
type BillingDayInput struct {
	AccountID   string
	BillingDate time.Time
}

// BillingDayResult says which period workflow the day belongs to.
type BillingDayResult struct {
	WorkflowID     string
	AlreadyStarted bool // an earlier start already billed (or is billing) this month
}

// scheduledStartTime is the search attribute Temporal sets on workflows a schedule starts: the
// time the action was scheduled for, which is still the billing day when the run is late.
var scheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// BillingDayWorkflow starts the billing of the account for the billing day and returns once it
// has started; the billing itself, dunning included, may take weeks and outlives it.
func BillingDayWorkflow(ctx workflow.Context, in BillingDayInput) (BillingDayResult, error) {
	var result BillingDayResult
	status := BillingDayStarting // a query answer only: nothing in the history depends on it
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (BillingDayStatusQuery, error) {
		return BillingDayStatusQuery{Status: status, WorkflowID: result.WorkflowID}, nil
	}); err != nil {
		return result, fmt.Errorf("register status query: %w", err)
	}
	if err := ensureAccountSearchAttribute(ctx, in.AccountID); err != nil {
		return result, err
	}
	date := in.BillingDate
	if date.IsZero() {
		date = scheduledDate(ctx)
	}
	date = dayOf(date)
	result.WorkflowID = RecurringBillingWorkflowID(in.AccountID, date)

	childCtx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: result.WorkflowID,
		// A completed month is never billed again; a month whose run failed may be re-run,
		// and the invoice and payments it already made are found, not made twice.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(AccountIDKey.ValueSet(in.AccountID)),
		StaticSummary:         "Monthly billing of " + in.AccountID + " for " + date.Format(time.DateOnly),
	})
	month := workflow.ExecuteChildWorkflow(childCtx, TypeRecurringBilling,
		RecurringBillingInput{AccountID: in.AccountID, BillingDate: date})
	err := month.GetChildWorkflowExecution().Get(ctx, nil)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		workflow.GetLogger(ctx).Info("month already billed", "account_id", in.AccountID, "workflow_id", result.WorkflowID)
		result.AlreadyStarted, status = true, BillingDayAlreadyStarted
		return result, nil
	}
	if err != nil {
		return result, fmt.Errorf("start %s: %w", result.WorkflowID, err)
	}
	status = BillingDayStarted
	return result, nil
}

// scheduledDate is the day the schedule fired for, or today when started by hand.
func scheduledDate(ctx workflow.Context) time.Time {
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartTime); ok && !t.IsZero() {
		return t
	}
	return workflow.Now(ctx)
}

// dayOf is the UTC calendar day of t, at midnight: billing dates are days.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// RecurringBillingInput is one account's billing of one month: the month of BillingDate.
// The period billed ends the day before the account's billing day in that month
// (billing.RecurringBillingDate), whichever day of the month BillingDate is.
type RecurringBillingInput struct {
	AccountID   string
	BillingDate time.Time
}

// RecurringBillingStage is where a month's billing stands.
type RecurringBillingStage string

const (
	StageIssuing         RecurringBillingStage = "issuing"
	StageCharging        RecurringBillingStage = "charging"
	StageAwaitingPayment RecurringBillingStage = "awaiting_payment" // what is due is covered by payments in flight
	StageDunning         RecurringBillingStage = "dunning"          // waiting for the next retry
	StagePaid            RecurringBillingStage = "paid"
	StagePastDue         RecurringBillingStage = "past_due"
	StageNothingToBill   RecurringBillingStage = "nothing_to_bill"
)

// RecurringBillingState is what the status query answers and the workflow returns.
type RecurringBillingState struct {
	Stage         RecurringBillingStage
	InvoiceID     string        `json:",omitempty"`
	InvoiceNumber string        `json:",omitempty"`
	Total         billing.Money `json:",omitzero"`
	PDFHash       string        `json:",omitempty"`
	Attempts      int           // charge attempts made
	PaymentID     string        `json:",omitempty"` // the latest attempt's
	PaymentStatus billing.PaymentStatus
	Failure       *billing.Failure `json:",omitempty"` // why the latest attempt failed
	NextAttemptAt *time.Time       `json:",omitempty"` // the next retry, or the next look at payments in flight
	AmountDue     billing.Money    `json:",omitzero"`  // still owed on the invoice, as last seen
	InFlight      billing.Money    `json:",omitzero"`  // the payments in flight awaited
}

// RecurringBillingWorkflow bills one account for one month: issue the recurring invoice from
// the account's active recurring charges, render its PDF, announce it, then collect it: charge
// the validated card on file through the payment saga until the invoice is paid. Money in
// flight is waited for; a charge that leaves something due (capped at the balance owed) is
// followed by one for the rest. When there is no card or the charge fails, the invoice stays
// open, the contact is told, and the charge is retried on the DunningPlan; after the last
// retry the account is marked past due.
func RecurringBillingWorkflow(ctx workflow.Context, in RecurringBillingInput) (RecurringBillingState, error) {
	b := &monthlyBilling{in: in, state: RecurringBillingState{Stage: StageIssuing}}
	b.in.BillingDate = dayOf(in.BillingDate)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (RecurringBillingStatusQuery, error) { return b.state.statusQuery(), nil }); err != nil {
		return b.state, fmt.Errorf("register status query: %w", err)
	}
	if err := ensureAccountSearchAttribute(ctx, in.AccountID); err != nil {
		return b.state, err
	}

	var issued activities.IssuedInvoice
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.invoices.IssueRecurringInvoice,
		activities.RecurringInvoiceRequest{AccountID: in.AccountID, BillingDate: b.in.BillingDate}).Get(ctx, &issued)
	if err != nil {
		return b.state, fmt.Errorf("issue the recurring invoice of %s for %s: %w", in.AccountID, b.in.BillingDate.Format(time.DateOnly), err)
	}
	if issued.NothingToBill {
		b.state.Stage = StageNothingToBill
		return b.state, nil
	}
	b.issued = issued
	b.state.InvoiceID, b.state.InvoiceNumber, b.state.Total = issued.InvoiceID, issued.Number, issued.Total
	b.upsertSearchAttributes(ctx, AmountMinorKey.ValueSet(issued.Total.Amount),
		PaymentMethodKindKey.ValueSet(string(billing.MethodCard)))

	b.renderPDF(ctx)
	// The invoice is announced once, by the run that issued it; the mail goes out beside the
	// charge so an SMTP outage does not hold the money back.
	if issued.Created {
		b.mails = append(b.mails, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, mailActivityOptions),
			b.invoices.SendInvoiceIssuedMail, activities.InvoiceNotice{
				InvoiceID: issued.InvoiceID, To: issued.ContactEmail, Language: issued.Language,
				CompanyName: issued.CompanyName, InvoiceNumber: issued.Number, Total: issued.Total,
			}))
	}

	if workflow.GetVersion(ctx, collectUntilPaidChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		err = b.collect(ctx)
	} else {
		err = b.collectUntilPaid(ctx, collection{})
	}
	for _, m := range b.mails {
		if merr := m.Get(ctx, nil); merr != nil {
			workflow.GetLogger(ctx).Error("billing mail not delivered", "invoice_id", issued.InvoiceID, "err", merr)
		}
	}
	return b.state, err
}

// monthlyBilling is one run's state.
type monthlyBilling struct {
	in        RecurringBillingInput
	state     RecurringBillingState
	issued    activities.IssuedInvoice
	mails     []workflow.Future
	invoices  *activities.Invoices
	recurring *activities.RecurringBilling
}

// renderPDF stores the invoice's PDF in the account's language, so the portal serves it
// without waiting. A failure is logged, not fatal: the PDF route renders on demand.
func (b *monthlyBilling) renderPDF(ctx workflow.Context) {
	var pdf activities.RenderedInvoicePDF
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingPDFOptions), b.invoices.RenderInvoicePDF,
		activities.InvoicePDFRequest{AccountID: b.in.AccountID, InvoiceID: b.issued.InvoiceID, Language: b.issued.Language}).
		Get(ctx, &pdf)
	if err != nil {
		workflow.GetLogger(ctx).Error("invoice pdf not rendered; the portal will render it on demand",
			"invoice_id", b.issued.InvoiceID, "err", err)
		return
	}
	b.state.PDFHash = pdf.ContentHash
}

// collection is where collecting the invoice stands.
type collection struct {
	charges      int // payments stored so far: the next is RecurringPaymentID(invoice, charges+1)
	attempts     int // attempts that charged the card or failed
	failures     int // failed attempts, counted against the DunningPlan
	firstFailure time.Time
}

// collectUntilPaid collects the invoice until it is paid, or the dunning plan runs out. Each
// look at the invoice (PrepareRecurringCharge) says why: paid, or paid by the account's
// credit, ends it; money in flight is waited for (bounded by the next dunning date) and looked
// at again; a charge that succeeds is followed by another look, since a charge capped at the
// balance owed may leave part of the invoice due; no card, a failed charge or money still in
// flight at the end of the wait is a failed attempt: dunning mail, then the next retry.
func (b *monthlyBilling) collectUntilPaid(ctx workflow.Context, c collection) error {
	maxAttempts := len(DunningPlan) + 1
	waitUntil := inFlightWaitEnd(workflow.Now(ctx), c)
	check := InFlightFirstCheck // version-0 timer polling only
	for {
		b.state.Stage, b.state.NextAttemptAt = StageCharging, nil
		req := b.chargeRequest(c.charges + 1)
		var prep activities.RecurringChargeOutcome
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.PrepareRecurringCharge, req).
			Get(ctx, &prep)
		if err != nil {
			return fmt.Errorf("prepare charge %d of %s: %w", c.charges+1, b.issued.InvoiceID, err)
		}
		b.state.AmountDue, b.state.InFlight = prep.AmountDue, billing.Money{}

		var failure *billing.Failure
		var brand, last4 string
		reason := chargeReason(prep)
		switch reason {
		case activities.ChargeInvoicePaid, activities.ChargePaidByCredit:
			b.state.Stage = StagePaid
			return nil
		case activities.ChargeInFlight:
			now := workflow.Now(ctx)
			if now.Before(waitUntil) && workflow.GetVersion(ctx, pollByActivityChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				next := now.Add(check)
				if next.After(waitUntil) {
					next = waitUntil
				}
				b.state.Stage, b.state.NextAttemptAt, b.state.InFlight = StageAwaitingPayment, &next, prep.InFlight
				if err := workflow.Sleep(ctx, next.Sub(now)); err != nil {
					return err
				}
				check = min(2*check, InFlightMaxCheck)
				continue
			}
			if now.Before(waitUntil) {
				b.state.Stage, b.state.NextAttemptAt, b.state.InFlight = StageAwaitingPayment, &waitUntil, prep.InFlight
				// Whether the wait ended (nothing in flight any more) or ran out, the next
				// look decides.
				err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, pollingOptions(InFlightFirstCheck, InFlightMaxCheck, waitUntil.Sub(now))),
					b.recurring.AwaitPaymentsSettled, req).Get(ctx, nil)
				if err != nil && !waitRanOut(err) {
					return fmt.Errorf("wait for the payments in flight of %s: %w", b.in.AccountID, err)
				}
				continue
			}
			b.state.PaymentID, b.state.PaymentStatus = "", ""
			failure = inFlightFailure()
			c.attempts++
		case activities.ChargeNoCard:
			b.state.PaymentID, b.state.PaymentStatus = "", ""
			failure = noCardFailure()
			c.attempts++
		case activities.ChargeCard:
			c.charges++
			c.attempts++
			b.state.Attempts = c.attempts
			var status billing.PaymentStatus
			status, failure = b.chargeCard(ctx, req, prep.Payment)
			if status == billing.PaymentSucceeded {
				// Paid, or a part of it: look again.
				check = InFlightFirstCheck
				continue
			}
			brand, last4 = prep.Payment.Brand, prep.Payment.Last4
		default:
			return fmt.Errorf("prepare charge %d of %s: unknown outcome %q", c.charges+1, b.issued.InvoiceID, reason)
		}

		// The attempt failed.
		b.state.Attempts, b.state.Failure = c.attempts, failure
		c.failures++
		if c.failures == 1 {
			c.firstFailure = workflow.Now(ctx)
		}
		notice := activities.DunningNotice{
			AccountID: b.in.AccountID, InvoiceID: b.issued.InvoiceID, InvoiceNumber: b.issued.Number,
			AmountDue: prep.AmountDue, Attempt: c.failures, MaxAttempts: maxAttempts,
			NoPaymentMethod: reason == activities.ChargeNoCard, Brand: brand, Last4: last4, Failure: failure,
		}
		if notice.NoPaymentMethod {
			notice.Failure = nil // the mail says so itself
		}
		if c.failures >= maxAttempts {
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.MarkAccountPastDue,
				b.in.AccountID).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("mark %s past due: %w", b.in.AccountID, err)
			}
			b.state.Stage = StagePastDue
			notice.PastDue = true
			b.mails = append(b.mails, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, mailActivityOptions),
				b.recurring.SendDunningMail, notice))
			return nil
		}
		next := c.firstFailure.Add(DunningPlan[c.failures-1])
		notice.NextAttempt = &next
		b.state.Stage, b.state.NextAttemptAt = StageDunning, &next
		b.mails = append(b.mails, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, mailActivityOptions),
			b.recurring.SendDunningMail, notice))
		if err := workflow.Sleep(ctx, max(next.Sub(workflow.Now(ctx)), 0)); err != nil {
			return err
		}
		waitUntil, check = inFlightWaitEnd(workflow.Now(ctx), c), InFlightFirstCheck
	}
}

// chargeReason is why PrepareRecurringCharge answered as it did. An answer without a Reason
// comes from a worker still running the activity's older code (during a deploy), whose
// NothingDue meant paid or covered by money in flight alike: that is looked at again later,
// never taken for paid.
func chargeReason(o activities.RecurringChargeOutcome) activities.RecurringChargeReason {
	switch {
	case o.Reason != "":
		return o.Reason
	case o.NoCard:
		return activities.ChargeNoCard
	case o.Payment.ID != "":
		return activities.ChargeCard
	default:
		return activities.ChargeInFlight
	}
}

// inFlightWaitEnd is how long an attempt starting at now waits for payments in flight: until
// the next dunning date, as if it had failed, or InFlightWaitLimit when the plan has none
// (the first attempt, whose failure starts the plan, and the last one).
func inFlightWaitEnd(now time.Time, c collection) time.Time {
	if c.failures >= 1 && c.failures < len(DunningPlan) {
		return c.firstFailure.Add(DunningPlan[c.failures])
	}
	return now.Add(InFlightWaitLimit)
}

// chargeRequest names the charge-th payment of the invoice.
func (b *monthlyBilling) chargeRequest(charge int) activities.RecurringChargeRequest {
	paymentID := RecurringPaymentID(b.issued.InvoiceID, charge)
	return activities.RecurringChargeRequest{AccountID: b.in.AccountID, InvoiceID: b.issued.InvoiceID,
		PaymentID: paymentID, WorkflowID: PaymentWorkflowID(paymentID)}
}

// chargeCard runs the payment saga of a prepared charge, unless the payment already ended,
// and says how it ended.
func (b *monthlyBilling) chargeCard(ctx workflow.Context, req activities.RecurringChargeRequest, p activities.RecurringPayment) (billing.PaymentStatus, *billing.Failure) {
	b.state.PaymentID, b.state.PaymentStatus, b.state.Failure = p.ID, p.Status, nil
	if !p.Status.Final() {
		p.Status, p.Failure = b.runPaymentSaga(ctx, req, p, b.awaitPaymentWithBackoff)
	}
	b.state.PaymentStatus = p.Status
	b.upsertSearchAttributes(ctx, PaymentStatusKey.ValueSet(string(p.Status)))
	if p.Status == billing.PaymentSucceeded {
		return p.Status, nil
	}
	if p.Failure == nil {
		p.Failure = &billing.Failure{Code: billing.CodeProcessingError, Message: "the payment did not go through"}
	}
	return p.Status, p.Failure
}

// awaitPaymentWithBackoff waits for the payment to be final in one activity whose retry policy
// polls: after a minute, then twice as long each time up to an hour. Retries add no history,
// so a saga stuck for a day costs three events. A saga that never finishes it (killed by
// hand) counts as a failed attempt after a day; its payment, still in flight, is then waited
// for by the next attempt, never charged twice.
func (b *monthlyBilling) awaitPaymentWithBackoff(ctx workflow.Context, req activities.RecurringChargeRequest) (billing.PaymentStatus, *billing.Failure) {
	if workflow.GetVersion(ctx, pollByActivityChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return b.awaitPaymentByTimers(ctx, req)
	}
	var p activities.RecurringPayment
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, pollingOptions(time.Minute, time.Hour, 24*time.Hour)),
		b.recurring.AwaitRecurringPayment, req).Get(ctx, &p)
	if err != nil {
		return billing.PaymentFailed, &billing.Failure{Code: billing.CodeProcessingError,
			Message: "the payment did not complete in time"}
	}
	return p.Status, p.Failure
}

// awaitPaymentByTimers is how runs from before pollByActivityChange wait: a timer and an
// activity per look, after a minute, then twice as long each time up to an hour.
func (b *monthlyBilling) awaitPaymentByTimers(ctx workflow.Context, req activities.RecurringChargeRequest) (billing.PaymentStatus, *billing.Failure) {
	const giveUp = 24 * time.Hour
	deadline := workflow.Now(ctx).Add(giveUp)
	poll := time.Minute
	for {
		var p activities.RecurringPayment
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.RecurringPaymentStatus, req).
			Get(ctx, &p)
		if err == nil && p.Status.Final() {
			return p.Status, p.Failure
		}
		now := workflow.Now(ctx)
		if !now.Before(deadline) {
			return billing.PaymentFailed, &billing.Failure{Code: billing.CodeProcessingError,
				Message: "the payment did not complete in time"}
		}
		if err := workflow.Sleep(ctx, min(poll, deadline.Sub(now))); err != nil {
			return billing.PaymentFailed, &billing.Failure{Code: billing.CodeProcessingError, Message: err.Error()}
		}
		poll = min(2*poll, time.Hour)
	}
}

// pollingOptions make an activity's retries the polling loop of a wait: every first, then
// twice as long up to most, for at most total.
func pollingOptions(first, most, total time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ScheduleToCloseTimeout: max(total, time.Second),
		StartToCloseTimeout:    30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: first, BackoffCoefficient: 2, MaximumInterval: max(most, first),
			MaximumAttempts: 100_000}, // the timeout ends the wait; explicit so test servers don't cap it
	}
}

// waitRanOut reports whether a polling activity ended because its time ran out (the server
// answers a timeout, or the last "not yet") rather than failing.
func waitRanOut(err error) bool {
	var t *temporal.TimeoutError
	var app *temporal.ApplicationError
	return errors.As(err, &t) || (errors.As(err, &app) && app.Type() == activities.ErrTypeStillInFlight)
}

func noCardFailure() *billing.Failure {
	return &billing.Failure{Code: "no_payment_method", Message: "the account has no validated card"}
}

func inFlightFailure() *billing.Failure {
	return &billing.Failure{Code: billing.CodePaymentInProgress,
		Message: "a payment started for this invoice has not completed, so the card was not charged"}
}

// collect is collection as runs started before collectUntilPaidChange do it, kept so their
// histories replay: it charges the invoice until a charge succeeds, the invoice needs nothing
// or the dunning plan runs out.
func (b *monthlyBilling) collect(ctx workflow.Context) error {
	maxAttempts := len(DunningPlan) + 1
	var firstFailure time.Time
	for attempt := 1; ; attempt++ {
		b.state.Stage, b.state.NextAttemptAt = StageCharging, nil
		res, err := b.charge(ctx, attempt)
		if err != nil {
			return err
		}
		if res.paid {
			b.state.Stage = StagePaid
			return nil
		}
		if attempt == 1 {
			firstFailure = workflow.Now(ctx)
		}
		notice := activities.DunningNotice{
			AccountID: b.in.AccountID, InvoiceID: b.issued.InvoiceID, InvoiceNumber: b.issued.Number,
			AmountDue: res.amountDue, Attempt: attempt, MaxAttempts: maxAttempts,
			NoPaymentMethod: res.noCard, Brand: res.brand, Last4: res.last4, Failure: res.failure,
		}
		if attempt == maxAttempts {
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.MarkAccountPastDue,
				b.in.AccountID).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("mark %s past due: %w", b.in.AccountID, err)
			}
			b.state.Stage = StagePastDue
			notice.PastDue = true
			b.mails = append(b.mails, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, mailActivityOptions),
				b.recurring.SendDunningMail, notice))
			return nil
		}
		next := firstFailure.Add(DunningPlan[attempt-1])
		notice.NextAttempt = &next
		b.state.Stage, b.state.NextAttemptAt = StageDunning, &next
		b.mails = append(b.mails, workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, mailActivityOptions),
			b.recurring.SendDunningMail, notice))
		if err := workflow.Sleep(ctx, max(next.Sub(workflow.Now(ctx)), 0)); err != nil {
			return err
		}
		if workflow.GetVersion(ctx, collectUntilPaidResumeChange(attempt), workflow.DefaultVersion, 1) != workflow.DefaultVersion {
			// Payment IDs 1..attempt may exist: the new loop goes on from attempt+1.
			return b.collectUntilPaid(ctx, collection{charges: attempt, attempts: attempt, failures: attempt, firstFailure: firstFailure})
		}
	}
}

// chargeResult is how one attempt went.
type chargeResult struct {
	paid         bool // succeeded, or nothing was left to charge
	noCard       bool
	amountDue    billing.Money
	brand, last4 string
	failure      *billing.Failure
}

// charge makes one attempt: store its payment (or find the one a previous run stored), then
// run the payment saga as a child unless that payment already ended.
func (b *monthlyBilling) charge(ctx workflow.Context, attempt int) (chargeResult, error) {
	paymentID := RecurringPaymentID(b.issued.InvoiceID, attempt)
	req := activities.RecurringChargeRequest{AccountID: b.in.AccountID, InvoiceID: b.issued.InvoiceID,
		PaymentID: paymentID, WorkflowID: PaymentWorkflowID(paymentID)}
	var prep activities.RecurringChargeOutcome
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.PrepareRecurringCharge, req).
		Get(ctx, &prep)
	if err != nil {
		return chargeResult{}, fmt.Errorf("prepare charge %d of %s: %w", attempt, b.issued.InvoiceID, err)
	}
	res := chargeResult{amountDue: prep.AmountDue, brand: prep.Payment.Brand, last4: prep.Payment.Last4}
	b.state.Attempts = attempt
	switch {
	case prep.NothingDue:
		res.paid = true
		return res, nil
	case prep.NoCard:
		res.noCard = true
		b.state.PaymentID, b.state.PaymentStatus = "", ""
		b.state.Failure = noCardFailure()
		return res, nil
	case prep.Reason == activities.ChargeInFlight:
		// Only the activity's newer code answers this (histories from before it never hold
		// it): money in flight is not a payment, so the attempt fails and dunning goes on.
		b.state.PaymentID, b.state.PaymentStatus = "", ""
		res.failure = inFlightFailure()
		b.state.Failure = res.failure
		return res, nil
	}

	p := prep.Payment
	b.state.PaymentID, b.state.PaymentStatus, b.state.Failure = p.ID, p.Status, nil
	if !p.Status.Final() {
		p.Status, p.Failure = b.runPaymentSaga(ctx, req, p, b.awaitPayment)
	}
	b.state.PaymentStatus = p.Status
	b.upsertSearchAttributes(ctx, PaymentStatusKey.ValueSet(string(p.Status)))
	if p.Status == billing.PaymentSucceeded {
		res.paid = true
		return res, nil
	}
	res.failure = p.Failure
	if res.failure == nil {
		res.failure = &billing.Failure{Code: billing.CodeProcessingError, Message: "the payment did not go through"}
	}
	b.state.Failure = res.failure
	return res, nil
}

// runPaymentSaga charges the card through the payment saga, as a child under the payment's
// own workflow ID, which the server refuses to start twice: a re-run that finds the saga of
// this attempt already started waits for its outcome instead of charging again. The saga is
// abandoned, not cancelled, if this workflow ends first, so a charge in flight always
// finishes its bookkeeping.
func (b *monthlyBilling) runPaymentSaga(ctx workflow.Context, req activities.RecurringChargeRequest, p activities.RecurringPayment,
	await func(workflow.Context, activities.RecurringChargeRequest) (billing.PaymentStatus, *billing.Failure)) (billing.PaymentStatus, *billing.Failure) {
	childCtx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            req.WorkflowID,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			AccountIDKey.ValueSet(req.AccountID),
			PaymentStatusKey.ValueSet(string(billing.PaymentProcessing)),
			PaymentMethodKindKey.ValueSet(string(billing.MethodCard)),
			AmountMinorKey.ValueSet(p.Amount.Amount)),
		StaticSummary: "Recurring charge for invoice " + b.issued.Number,
	})
	var saga PaymentState
	err := workflow.ExecuteChildWorkflow(childCtx, TypePayment, PaymentInput{
		PaymentID: p.ID, AccountID: req.AccountID, Method: billing.MethodCard, Amount: p.Amount, CardToken: p.CardToken,
		NoFailureMail: true,
	}).Get(ctx, &saga)
	if err == nil {
		return saga.Status, saga.Failure
	}
	if !temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		workflow.GetLogger(ctx).Error("payment saga ended abnormally", "payment_id", p.ID, "err", err)
	}
	// Either an earlier run started the saga, or it died without an answer: the payment row
	// is the record of what happened to the money.
	return await(ctx, req)
}

// awaitPayment polls the payment every minute until it is final, as runs from before
// collectUntilPaidChange do. A saga that never finishes it (killed by hand) counts as a
// failed attempt after a day, so dunning goes on.
func (b *monthlyBilling) awaitPayment(ctx workflow.Context, req activities.RecurringChargeRequest) (billing.PaymentStatus, *billing.Failure) {
	const poll, giveUp = time.Minute, 24 * time.Hour
	deadline := workflow.Now(ctx).Add(giveUp)
	for {
		var p activities.RecurringPayment
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, billingDBOptions), b.recurring.RecurringPaymentStatus, req).
			Get(ctx, &p)
		if err == nil && p.Status.Final() {
			return p.Status, p.Failure
		}
		if !workflow.Now(ctx).Before(deadline) {
			return billing.PaymentFailed, &billing.Failure{Code: billing.CodeProcessingError,
				Message: "the payment did not complete in time"}
		}
		if err := workflow.Sleep(ctx, poll); err != nil {
			return billing.PaymentFailed, &billing.Failure{Code: billing.CodeProcessingError, Message: err.Error()}
		}
	}
}

// upsertSearchAttributes keeps what ops query by current: the invoice's amount and the
// latest charge's status. Failing to is logged; billing goes on.
func (b *monthlyBilling) upsertSearchAttributes(ctx workflow.Context, updates ...temporal.SearchAttributeUpdate) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		workflow.GetLogger(ctx).Warn("could not update search attributes", "invoice_id", b.issued.InvoiceID, "err", err)
	}
}

// ensureAccountSearchAttribute lets ops find the workflow by account even when it was started
// without the attribute (by hand, or by a schedule created before it was set).
func ensureAccountSearchAttribute(ctx workflow.Context, accountID string) error {
	if _, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(AccountIDKey); ok {
		return nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, AccountIDKey.ValueSet(accountID)); err != nil {
		return fmt.Errorf("upsert AccountId: %w", err)
	}
	return nil
}

// Activity options for billing.
var (
	// billingDBOptions: our own database; retried until it answers, since the month must be
	// billed. A missing account or invoice will not appear by retrying.
	billingDBOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrTypeAccountNotFound, activities.ErrTypeInvoiceNotFound}},
	}
	// billingPDFOptions: a 1,000-item invoice renders in well under a second; a few tries,
	// then the route's on-demand rendering takes over.
	billingPDFOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
			MaximumAttempts: 5, NonRetryableErrorTypes: []string{activities.ErrTypeInvoiceNotFound}},
	}
)

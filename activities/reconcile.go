package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/postgres"
)

// Reconciler is the janitor of the books: it finds payments whose saga is gone, money the
// processors took that the ledger does not show, and ledger entries that disagree with the
// payments, repairs what it safely can, and records every finding. The Reconcile workflow runs
// it on a schedule; `payportal reconcile` runs one pass by hand.
type Reconciler struct {
	DB       *postgres.DB
	Temporal client.Client
	// Payments settles money with the processors and mails customers, as the saga does.
	Payments *Payments
	// StartSaga starts the saga of a one-time payment stored while Temporal was unreachable;
	// the API's own start, so the workflow is the one the API would have started.
	StartSaga func(ctx context.Context, p billing.Payment) error
	Clock     billing.Clock
	Logger    *slog.Logger
}

// ReconcileInput bounds one pass.
type ReconcileInput struct {
	RunID string
	// Grace leaves young payments to the API and their sagas; 2 minutes when zero.
	Grace time.Duration
	// CaptureLookback is how far back processor captures are checked; 30 days when zero.
	CaptureLookback time.Duration
}

// ReconcileReport is what one step of a pass found.
type ReconcileReport struct {
	Checked    int                `json:"checked"`
	Findings   []postgres.Finding `json:"findings,omitempty"`
	Unresolved int                `json:"unresolved"` // findings a person (or the next pass) must act on
}

func (r *ReconcileReport) add(f postgres.Finding) {
	r.Findings = append(r.Findings, f)
	if !f.Resolved {
		r.Unresolved++
	}
}

// Grace periods: a one-time payment's saga is started by the API right after the payment is
// stored; a recurring charge's by its month's workflow. Younger payments are theirs.
const (
	defaultGrace          = 2 * time.Minute
	recurringChargeGrace  = time.Hour
	defaultLookback       = 30 * 24 * time.Hour
	unfinishedPageSize    = 100
	recurringPaymentIDTag = billing.PrefixPayment + "rb_"
)

// ResolveStrandedPayments looks at every payment that is not final past the grace period,
// page by page so no number of stuck rows can starve the rest, and never stops on one bad row:
//   - its saga runs: left alone;
//   - it has no saga (stored while Temporal was down): the saga is started;
//   - its saga is closed (terminated, cancelled by an old version, failed): the money is
//     resolved from the processor, booked if captured, released otherwise, and the payment
//     ends with the customer told the truth.
func (r *Reconciler) ResolveStrandedPayments(ctx context.Context, in ReconcileInput) (ReconcileReport, error) {
	var report ReconcileReport
	before := r.Clock.Now().Add(-orDefault(in.Grace, defaultGrace))
	var afterCreated time.Time
	afterID := ""
	for {
		page, err := r.DB.UnfinishedPayments(ctx, before, afterCreated, afterID, unfinishedPageSize)
		if err != nil {
			return report, err
		}
		for _, p := range page {
			report.Checked++
			if f, ok := r.resolvePayment(ctx, p); ok {
				report.add(f)
			}
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, report.Checked)
		}
		if len(page) < unfinishedPageSize {
			break
		}
		afterCreated, afterID = page[len(page)-1].CreatedAt, page[len(page)-1].ID
	}
	return report, r.DB.RecordFindings(ctx, in.RunID, r.Clock.Now(), report.Findings)
}

// resolvePayment settles one unfinished payment; ok is false when there is nothing to say.
func (r *Reconciler) resolvePayment(ctx context.Context, p billing.Payment) (postgres.Finding, bool) {
	f := postgres.Finding{Kind: postgres.FindingStrandedPayment, AccountID: p.AccountID, PaymentID: p.ID}
	running, found, err := r.sagaState(ctx, p.WorkflowID)
	switch {
	case err != nil:
		f.Kind, f.Detail = postgres.FindingProcessorUnknown, "could not ask Temporal about "+p.WorkflowID+": "+err.Error()
		return f, true
	case running:
		return f, false
	case !found && !isRecurringCharge(p):
		if err := r.StartSaga(ctx, p); err != nil {
			f.Detail = "payment " + p.ID + " has no saga, and starting it failed: " + err.Error()
			return f, true
		}
		f.Detail, f.Action, f.Resolved = "payment "+p.ID+" had no saga (stored while Temporal was unreachable)", "started_saga", true
		return f, true
	case !found && p.CreatedAt.After(r.Clock.Now().Add(-recurringChargeGrace)):
		return f, false // its month's workflow starts it
	}
	f.Detail = fmt.Sprintf("payment %s was %s with its saga %s closed or gone", p.ID, p.Status, p.WorkflowID)
	action, err := r.settle(ctx, p)
	if err != nil {
		f.Detail += "; settling it failed: " + err.Error()
		return f, true
	}
	f.Action, f.Resolved = action, true
	return f, true
}

// sagaState says whether the payment's workflow runs, and whether it exists at all.
func (r *Reconciler) sagaState(ctx context.Context, workflowID string) (running, found bool, err error) {
	desc, err := r.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, true, nil
}

// settle ends a payment whose saga is gone, after the processor said where its money is.
func (r *Reconciler) settle(ctx context.Context, p billing.Payment) (action string, err error) {
	var res Resolution
	switch p.Method {
	case billing.MethodPayPal:
		res, err = r.Payments.ResolvePayPalOrder(ctx, ResolveInput{PaymentID: p.ID})
	default:
		res, err = r.Payments.ResolveCardCharge(ctx, ResolveInput{PaymentID: p.ID})
	}
	if err != nil {
		return "", err
	}
	mailTo := !isRecurringCharge(p) // a recurring charge's month tells the customer itself
	if res.Captured && !res.Refunded {
		// The receipt goes out through the outbox: due only if this booking books it.
		book := r.Payments.BookPayment
		if mailTo {
			book = r.Payments.BookPaymentMailingReceipt
		}
		if _, err := book(ctx, BookInput{PaymentID: p.ID}); err != nil {
			return "", err
		}
		return "booked", nil
	}
	err = r.Payments.FinishPayment(ctx, PaymentOutcome{PaymentID: p.ID, Status: billing.PaymentFailed, Failure: &billing.Failure{
		Code: billing.CodePaymentInterrupted, Message: "The payment was interrupted before it completed."}})
	if err != nil {
		return "", err
	}
	if mailTo {
		r.mail(ctx, p.ID, r.Payments.SendPaymentFailedMail)
	}
	return "failed_hold_released", nil
}

func (r *Reconciler) mail(ctx context.Context, paymentID string, send func(context.Context, string) error) {
	if err := send(ctx, paymentID); err != nil {
		r.logger().WarnContext(ctx, "reconciler mail not sent", "payment_id", paymentID, "err", err)
	}
}

// CheckCaptures finds money taken that is neither booked nor refunded: payments that ended
// without success but hold a capture, and, where the processor can list its captures,
// captures PayPortal has no booked payment for. Such money is refunded: the customer was told
// the payment did not go through.
func (r *Reconciler) CheckCaptures(ctx context.Context, in ReconcileInput) (ReconcileReport, error) {
	var report ReconcileReport
	since := r.Clock.Now().Add(-orDefault(in.CaptureLookback, defaultLookback))
	for _, proc := range []struct {
		method billing.PaymentMethodKind
		lister any
	}{{billing.MethodCard, r.Payments.Cards}, {billing.MethodPayPal, r.Payments.PayPal}} {
		lister, ok := proc.lister.(gateway.CaptureLister)
		if !ok {
			continue
		}
		captures, err := lister.CapturesSince(ctx, since)
		if err != nil {
			report.add(postgres.Finding{Kind: postgres.FindingProcessorUnknown,
				Detail: fmt.Sprintf("could not list the %s processor's captures: %v", proc.method, err)})
			continue
		}
		for _, c := range captures {
			report.Checked++
			if f, ok := r.checkCapture(ctx, proc.method, c); ok {
				report.add(f)
			}
		}
	}
	// Captures the payments themselves record, for processors that cannot list theirs.
	unrefunded, err := r.DB.UnrefundedCaptures(ctx)
	if err != nil {
		return report, err
	}
	for _, p := range unrefunded {
		report.Checked++
		c := gateway.Capture{CaptureID: p.CaptureID, PaymentID: p.ID, Amount: p.Amount}
		if f, ok := r.checkCapture(ctx, p.Method, c); ok {
			report.add(f)
		}
	}
	return report, r.DB.RecordFindings(ctx, in.RunID, r.Clock.Now(), report.Findings)
}

// checkCapture compares one processor capture with the books.
func (r *Reconciler) checkCapture(ctx context.Context, method billing.PaymentMethodKind, c gateway.Capture) (postgres.Finding, bool) {
	f := postgres.Finding{Kind: postgres.FindingUnbookedCapture, PaymentID: c.PaymentID}
	if c.Refunded >= c.Amount.Amount {
		return f, false
	}
	p, err := r.DB.PaymentByID(ctx, c.PaymentID)
	if billing.KindOf(err) == billing.KindNotFound {
		f.Detail = fmt.Sprintf("%s capture %s of %s names no payment PayPortal knows; a person must refund it", method, c.CaptureID, c.Amount)
		return f, true
	}
	if err != nil {
		f.Kind, f.Detail = postgres.FindingProcessorUnknown, "could not read payment "+c.PaymentID+": "+err.Error()
		return f, true
	}
	f.AccountID = p.AccountID
	switch {
	case p.Status == billing.PaymentSucceeded, !p.Status.Final():
		return f, false // booked (CheckBooks checks the entry), or its saga or the pass above settles it
	case p.Compensation == billing.CompensationRefundRefused:
		return f, false // reported by CheckBooks until a person acts
	}
	f.Detail = fmt.Sprintf("payment %s is %s but %s capture %s of %s was not refunded", p.ID, p.Status, method, c.CaptureID, c.Amount)
	res, err := r.Payments.RefundPayment(ctx, RefundInput{PaymentID: p.ID, Method: method, CaptureID: c.CaptureID, Amount: p.Amount})
	switch {
	case err != nil:
		f.Detail += "; the refund failed: " + err.Error()
	case res.AlreadyApplied:
		f.Action, f.Resolved = "none_booked_meanwhile", true
	default:
		f.Action, f.Resolved = "refunded", true
	}
	return f, true
}

// CheckBooks checks the invariants of the books (postgres.CheckBooks). Nothing here is
// repaired automatically: each finding needs a person.
func (r *Reconciler) CheckBooks(ctx context.Context, in ReconcileInput) (ReconcileReport, error) {
	var report ReconcileReport
	findings, err := r.DB.CheckBooks(ctx)
	if err != nil {
		return report, err
	}
	for _, f := range findings {
		report.add(f)
	}
	return report, r.DB.RecordFindings(ctx, in.RunID, r.Clock.Now(), report.Findings)
}

// ReconcilePass runs the three steps in order, as the Reconcile workflow does, for
// `payportal reconcile`: stranded payments, then captures, then the books. A function, not a
// method, so it is not registered as an activity.
func ReconcilePass(ctx context.Context, r *Reconciler, in ReconcileInput) (ReconcileReport, error) {
	var all ReconcileReport
	for _, step := range []func(context.Context, ReconcileInput) (ReconcileReport, error){
		r.ResolveStrandedPayments, r.CheckCaptures, r.CheckBooks,
	} {
		rep, err := step(ctx, in)
		all.Checked += rep.Checked
		all.Findings = append(all.Findings, rep.Findings...)
		all.Unresolved += rep.Unresolved
		if err != nil {
			return all, err
		}
	}
	return all, nil
}

func isRecurringCharge(p billing.Payment) bool { return strings.HasPrefix(p.ID, recurringPaymentIDTag) }

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

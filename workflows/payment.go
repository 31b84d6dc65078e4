package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// PaymentInput starts the one-time payment saga. The card arrives as the processor's token:
// the number and the CVC never reach Temporal.
type PaymentInput struct {
	PaymentID string
	AccountID string
	Method    billing.PaymentMethodKind
	Amount    billing.Money
	CardToken string // card payments only
	// PayPalApprovalTimeout is how long the buyer has to approve the order; the payment
	// expires after it.
	PayPalApprovalTimeout time.Duration
	// NoFailureMail leaves telling the customer about a failure to the caller: recurring
	// billing sends its own dunning mail, and one notice per failure is enough.
	NoFailureMail bool `json:",omitempty"`
}

// PaymentState is the saga's progress; the status query answers it and the workflow returns
// it.
type PaymentState struct {
	Status      billing.PaymentStatus
	ApprovalURL string           `json:",omitempty"`
	Failure     *billing.Failure `json:",omitempty"`
	CaptureID   string           `json:",omitempty"`
	RefundID    string           `json:",omitempty"`
}

// PayPalReturnSignal is the buyer coming back from PayPal (SignalPayPalReturn): approved, or
// cancelled on PayPal's side.
type PayPalReturnSignal struct {
	Approved bool
}

// CancelPaymentSignal is the customer cancelling a payment waiting for PayPal (SignalCancel).
type CancelPaymentSignal struct {
	Reason string
}

// DefaultPayPalApprovalTimeout is the contract's default for PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT,
// used when an input carries none.
const DefaultPayPalApprovalTimeout = 3 * time.Hour

// Failure codes of our own, beside the processors' decline codes.
const (
	// FailureRefunded: the money was captured but could not be booked, so it was given back.
	FailureRefunded = "payment_refunded"
)

// paymentSteps names the payment activities; only its methods are used, never its fields.
var paymentSteps *activities.Payments

// Payment is the one-time payment saga: take the money (card: authorize then capture; PayPal:
// order, buyer approval, capture), then apply it to the balance. Money taken but not
// applicable is refunded; an authorization or order that will not be captured is released.
func Payment(ctx workflow.Context, in PaymentInput) (PaymentState, error) {
	s := &paymentSaga{in: in, state: PaymentState{Status: billing.PaymentProcessing}}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PaymentState, error) { return s.state, nil }); err != nil {
		return s.state, err
	}
	s.setStatus(ctx, billing.PaymentProcessing)
	switch in.Method {
	case billing.MethodCard:
		s.payByCard(ctx)
	case billing.MethodPayPal:
		s.payByPayPal(ctx)
	default:
		s.fail(ctx, billing.Failure{Code: billing.CodeInvalidValue, Message: "unknown payment method " + string(in.Method)})
	}
	return s.state, nil
}

func (s *paymentSaga) payByCard(ctx workflow.Context) {
	var authorizationID string
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, authorizeOptions), paymentSteps.AuthorizeCardPayment,
		activities.ChargeInput{PaymentID: s.in.PaymentID, CardToken: s.in.CardToken, Amount: s.in.Amount}).
		Get(ctx, &authorizationID)
	if err != nil {
		s.fail(ctx, failureOf(err))
		return
	}
	var captureID string
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, captureOptions), paymentSteps.CaptureCardPayment,
		activities.CardCaptureInput{PaymentID: s.in.PaymentID, AuthorizationID: authorizationID, Amount: s.in.Amount}).
		Get(ctx, &captureID)
	if err != nil {
		s.compensate(ctx, "void the card authorization", paymentSteps.VoidCardAuthorization,
			activities.VoidInput{PaymentID: s.in.PaymentID, AuthorizationID: authorizationID})
		s.fail(ctx, failureOf(err))
		return
	}
	s.applyOrRefund(ctx, captureID)
}

func (s *paymentSaga) payByPayPal(ctx workflow.Context) {
	var order gateway.Order
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, authorizeOptions), paymentSteps.CreatePayPalOrder,
		activities.OrderInput{PaymentID: s.in.PaymentID, Amount: s.in.Amount}).Get(ctx, &order)
	if err != nil {
		s.fail(ctx, failureOf(err))
		return
	}
	s.state.ApprovalURL = order.ApprovalURL
	s.setStatus(ctx, billing.PaymentRequiresAction)
	ref := activities.PayPalOrderRef{PaymentID: s.in.PaymentID, OrderID: order.ID}

	captureID, outcome := s.captureOnceApproved(ctx, ref)
	switch outcome {
	case billing.PaymentCanceled, billing.PaymentExpired:
		s.compensate(ctx, "void the PayPal order", paymentSteps.VoidPayPalOrder, ref)
		s.end(ctx, outcome, nil)
	case billing.PaymentFailed:
		// failed was recorded by captureOnceApproved
	default:
		s.applyOrRefund(ctx, captureID)
	}
}

// captureOnceApproved waits for the buyer: approval (then the order is captured), a cancel
// from PayPal's cancel link or the API, or the approval timeout. A return that PayPal does not
// confirm as approved (order_not_approved) puts the payment back to waiting: the return link
// is public, so it is a hint to try, not proof. The timeout runs from the order's creation
// and is not reset by such returns.
func (s *paymentSaga) captureOnceApproved(ctx workflow.Context, ref activities.PayPalOrderRef) (captureID string, outcome billing.PaymentStatus) {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timeout := s.in.PayPalApprovalTimeout
	if timeout <= 0 {
		timeout = DefaultPayPalApprovalTimeout
	}
	deadline := workflow.NewTimer(timerCtx, timeout)
	returns := workflow.GetSignalChannel(ctx, SignalPayPalReturn)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	for {
		var decision billing.PaymentStatus
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(returns, func(c workflow.ReceiveChannel, _ bool) {
			var r PayPalReturnSignal
			c.Receive(ctx, &r)
			decision = billing.PaymentCanceled
			if r.Approved {
				decision = billing.PaymentProcessing
			}
		})
		sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
			var r CancelPaymentSignal
			c.Receive(ctx, &r)
			decision = billing.PaymentCanceled
		})
		sel.AddFuture(deadline, func(workflow.Future) { decision = billing.PaymentExpired })
		sel.Select(ctx)
		if decision != billing.PaymentProcessing {
			return "", decision
		}

		s.record(ctx, paymentSteps.MarkPaymentProcessing, s.in.PaymentID)
		s.setStatus(ctx, billing.PaymentProcessing)
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, captureOptions), paymentSteps.CapturePayPalOrder, ref).
			Get(ctx, &captureID)
		if err == nil {
			return captureID, billing.PaymentProcessing
		}
		if f := failureOf(err); f.Code != gateway.CodeOrderNotApproved {
			s.compensate(ctx, "void the PayPal order", paymentSteps.VoidPayPalOrder, ref)
			s.fail(ctx, f)
			return "", billing.PaymentFailed
		}
		workflow.GetLogger(ctx).Info("PayPal return without approval; waiting for the buyer again", "payment_id", s.in.PaymentID)
		s.record(ctx, paymentSteps.ReopenPayPalApproval, activities.ApprovalInput{PaymentID: s.in.PaymentID, OrderID: ref.OrderID, ApprovalURL: s.state.ApprovalURL})
		s.setStatus(ctx, billing.PaymentRequiresAction)
	}
}

// applyOrRefund books the captured money. If booking fails for good the capture is refunded
// and the payment fails, unless the refund step finds the payment booked after all (a lost
// answer), in which case it stands.
func (s *paymentSaga) applyOrRefund(ctx workflow.Context, captureID string) {
	s.state.CaptureID = captureID
	var applied activities.ApplyResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bookkeepingOptions), paymentSteps.ApplyPayment, s.in.PaymentID).
		Get(ctx, &applied)
	if err == nil {
		s.succeed(ctx)
		return
	}
	workflow.GetLogger(ctx).Error("payment captured but not applied; refunding it", "payment_id", s.in.PaymentID, "err", err)
	var refund activities.RefundResult
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, compensationOptions), paymentSteps.RefundPayment,
		activities.RefundInput{PaymentID: s.in.PaymentID, Method: s.in.Method, CaptureID: captureID, Amount: s.in.Amount}).
		Get(ctx, &refund)
	switch {
	case err != nil:
		// Only a refusal from the processor ends up here; the money is still taken, which
		// the failure says so support can act on it.
		workflow.GetLogger(ctx).Error("refund failed; the payment needs a person", "payment_id", s.in.PaymentID, "err", err)
		s.fail(ctx, billing.Failure{Code: billing.CodeProcessingError,
			Message: "The payment was taken but could not be recorded, and the automatic refund failed. Our billing team has been alerted."})
	case refund.AlreadyApplied:
		s.succeed(ctx)
	default:
		s.state.RefundID = refund.RefundID
		s.fail(ctx, billing.Failure{Code: FailureRefunded,
			Message: "The payment could not be recorded, so it was refunded in full."})
	}
}

// paymentSaga is one run's state; the status query reads it.
type paymentSaga struct {
	in    PaymentInput
	state PaymentState
}

func (s *paymentSaga) succeed(ctx workflow.Context) {
	s.state.Failure = nil
	s.setStatus(ctx, billing.PaymentSucceeded)
	s.notify(ctx, paymentSteps.SendPaymentReceipt)
}

func (s *paymentSaga) fail(ctx workflow.Context, f billing.Failure) {
	s.end(ctx, billing.PaymentFailed, &f)
	if !s.in.NoFailureMail {
		s.notify(ctx, paymentSteps.SendPaymentFailedMail)
	}
}

// end records a payment that did not succeed. Recording is retried until it works: the
// customer must never see a finished payment as still in progress.
func (s *paymentSaga) end(ctx workflow.Context, status billing.PaymentStatus, f *billing.Failure) {
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, compensationOptions), paymentSteps.FinishPayment,
		activities.PaymentOutcome{PaymentID: s.in.PaymentID, Status: status, Failure: f}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not record the payment's end", "payment_id", s.in.PaymentID, "status", status, "err", err)
	}
	s.state.Failure = f
	s.setStatus(ctx, status)
}

// setStatus is the one place the saga's status changes: the status query and the
// PaymentStatus search attribute, for ops' queries, move together.
func (s *paymentSaga) setStatus(ctx workflow.Context, status billing.PaymentStatus) {
	s.state.Status = status
	if err := workflow.UpsertTypedSearchAttributes(ctx, PaymentStatusKey.ValueSet(string(status))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update the PaymentStatus search attribute", "err", err)
	}
}

// record runs a bookkeeping activity whose failure does not change the payment's course.
func (s *paymentSaga) record(ctx workflow.Context, activity, input any) {
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, bookkeepingOptions), activity, input).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("bookkeeping step failed", "payment_id", s.in.PaymentID, "err", err)
	}
}

// compensate runs an undo step, retried until it succeeds or the processor refuses it.
func (s *paymentSaga) compensate(ctx workflow.Context, what string, activity, input any) {
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, compensationOptions), activity, input).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("compensation failed", "payment_id", s.in.PaymentID, "step", what, "err", err)
	}
}

// notify mails the account's contact; a mail that cannot be sent does not change the payment.
func (s *paymentSaga) notify(ctx workflow.Context, activity any) {
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, notificationOptions), activity, s.in.PaymentID).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("payment mail not sent", "payment_id", s.in.PaymentID, "err", err)
	}
}

// failureOf says why a step failed, as the customer sees it. A final error from an activity
// carries the processor's decline code as its type; anything else means the processor could
// not be reached or kept failing, and retries ran out.
func failureOf(err error) billing.Failure {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() && appErr.Type() != activities.ErrTypeProcessorRefused &&
		appErr.Type() != activities.ErrTypeNotApplicable && appErr.Type() != "" {
		return billing.Failure{Code: appErr.Type(), Message: appErr.Message()}
	}
	return billing.Failure{Code: billing.CodeProcessingError,
		Message: "The payment processor could not process the payment. Please try again later."}
}

// Retry policies. Declines are final (non-retryable errors); everything else is retried with
// exponential backoff, more patiently the more is at stake.
var (
	// authorizeOptions: asking for money. Giving up is cheap, nothing was taken.
	authorizeOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Second, MaximumAttempts: 8},
	}
	// captureOptions: the money is held; keep trying for several minutes before letting go.
	captureOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: 15},
	}
	// bookkeepingOptions: our own database.
	bookkeepingOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: 10},
	}
	// compensationOptions: undo steps and recording the outcome must happen; retried until
	// they do.
	compensationOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Minute},
	}
	// notificationOptions: mail.
	notificationOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Minute, MaximumAttempts: 5},
	}
)

package workflows

import (
	"errors"
	"fmt"
	"slices"
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
	// OnSession: the customer is paying now and can pass 3-D Secure (one-time payments made
	// through the API); a recurring charge is off session, and a card wanting 3-D Secure
	// declines authentication_required.
	OnSession bool `json:",omitempty"`
	// AuthenticationTimeout is how long the cardholder has for 3-D Secure;
	// DefaultCardAuthenticationTimeout when zero.
	AuthenticationTimeout time.Duration `json:",omitempty"`
	// NoFailureMail leaves telling the customer about a failure to the caller: recurring
	// billing sends its own dunning mail, and one notice per failure is enough.
	NoFailureMail bool `json:",omitempty"`
}

// PaymentState is the saga's progress; the status query answers it and the workflow returns
// it.
type PaymentState struct {
	Status      billing.PaymentStatus
	ApprovalURL string `json:",omitempty"`
	// RedirectURL is where a card payment's cardholder passes 3-D Secure.
	RedirectURL string           `json:",omitempty"`
	Failure     *billing.Failure `json:",omitempty"`
	CaptureID   string           `json:",omitempty"`
	RefundID    string           `json:",omitempty"`
	// CompletedAt is when the books took the payment, as they keep it: with a succeeded
	// status, the answer carries all the saga changed, and the API need not read the row.
	CompletedAt *time.Time `json:",omitempty"`
}

// PayPalReturnSignal is the buyer coming back from PayPal (SignalPayPalReturn): approved, or
// cancelled on PayPal's side.
type PayPalReturnSignal struct {
	Approved bool
}

// CardAuthenticationReturnSignal is the cardholder coming back from 3-D Secure
// (SignalCardAuthenticationReturn). It carries no outcome: the saga asks the processor.
type CardAuthenticationReturnSignal struct{}

// CancelPaymentSignal is the customer cancelling a payment waiting for PayPal (SignalCancel).
type CancelPaymentSignal struct {
	Reason string
}

// DefaultPayPalApprovalTimeout is the contract's default for PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT,
// used when an input carries none.
const DefaultPayPalApprovalTimeout = 3 * time.Hour

// DefaultCardAuthenticationTimeout is how long a card payment waits for the cardholder's 3-D
// Secure before it fails authentication_timeout: a challenge takes a minute or two, and the
// issuer's own session rarely outlives a quarter of an hour.
const DefaultCardAuthenticationTimeout = 15 * time.Minute

// Failure codes of our own, beside the processors' decline codes.
const (
	// FailureRefunded: the money was captured but could not be booked, so it was given back.
	FailureRefunded = "payment_refunded"
	// FailureAuthenticationTimeout: the cardholder did not complete 3-D Secure in time.
	FailureAuthenticationTimeout = billing.CodeAuthenticationTimeout
)

// paymentSteps names the payment activities; only its methods are used, never its fields.
var paymentSteps *activities.Payments

// versionResolveOutcomes: the saga asks the processor for the truth when a step's outcome is
// unknown, books a capture it finds, settles the money when cancelled, and bounds the PayPal
// wait. Payments started before it run the version-0 code at the end of this file.
const versionResolveOutcomes = "resolve-outcomes"

// versionLocalSteps (version 2 of versionResolveOutcomes): the happy path's short steps
// (authorize, capture, order, book, mail) run as local activities, so one workflow task runs
// a card payment end to end instead of five tasks and four activity round trips. Undo steps,
// resolution and long waits stay activities.
const versionLocalSteps workflow.Version = 2

// versionLeanSteps (version 3 of versionResolveOutcomes): a local step that keeps failing
// gives up after three quick tries (localStepBudget) and goes on as an activity under the
// step's own retries, so the workflow task ends and an update (a cancel) is answered instead
// of waiting out the retries inside the task; the start's PaymentStatus (processing) is not upserted again; and
// card-3ds is implied instead of recorded. The last two cut a payment's history by three
// events (a marker and two upserts, each a visibility task on the server).
const versionLeanSteps workflow.Version = 3

// versionBookWithCharge (version 4 of versionResolveOutcomes): the booking step (BookPayment)
// records a card's hold and capture in the booking's transaction, so the capture step writes
// nothing: a Postgres round trip and a synchronous commit fewer per card payment.
const versionBookWithCharge workflow.Version = 4

// versionReceiptOutbox (version 5 of versionResolveOutcomes): the booking
// (BookPaymentMailingReceipt) makes the receipt due in its transaction and the outbox mails
// it (activities.ReceiptOutbox), so the saga has no receipt step: a local activity, a marker
// and a Postgres round trip fewer per payment, and one receipt per payment however often the
// booking's answer is lost.
const versionReceiptOutbox workflow.Version = 5

// versionCard3DS: a card payment made on session authorizes with a return URL, so a card
// wanting 3-D Secure waits for the cardholder's challenge (requires_action) instead of
// declining. Version 1 is the only one; runs before it, and off-session payments, authorize
// as before.
const versionCard3DS = "card-3ds"

// maxUnapprovedReturns bounds how often a buyer's return without PayPal's approval makes the
// saga try a capture; the API already checks with PayPal before passing a return on, so this
// only guards the history against a flood that races it.
const maxUnapprovedReturns = 10

// Payment is the one-time payment saga: take the money (card: authorize then capture; PayPal:
// order, buyer approval, capture), then apply it to the balance. Money taken but not
// applicable is refunded; an authorization or order that will not be captured is released.
// When a step's outcome is unknown, or the saga is cancelled, the processor is asked where
// the money stands, and the saga books or releases it accordingly.
func Payment(ctx workflow.Context, in PaymentInput) (PaymentState, error) {
	s := &paymentSaga{in: in, state: PaymentState{Status: billing.PaymentProcessing},
		cancelRequests: workflow.NewBufferedChannel(ctx, 1)}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (PaymentStatusQuery, error) { return s.state.statusQuery(), nil }); err != nil {
		return s.state, err
	}
	v := workflow.GetVersion(ctx, versionResolveOutcomes, workflow.DefaultVersion, versionReceiptOutbox)
	s.resolves, s.local, s.lean, s.books = v >= 1, v >= versionLocalSteps, v >= versionLeanSteps, v >= versionBookWithCharge
	s.outbox = v >= versionReceiptOutbox
	if err := s.handleUpdates(ctx); err != nil {
		return s.state, err
	}
	if s.lean && startedAs(ctx, billing.PaymentProcessing) {
		s.state.Status = billing.PaymentProcessing // the start's search attribute says so already
	} else {
		s.setStatus(ctx, billing.PaymentProcessing)
	}
	switch {
	case !s.resolves && in.Method == billing.MethodCard:
		s.payByCardV0(ctx)
	case !s.resolves && in.Method == billing.MethodPayPal:
		s.payByPayPalV0(ctx)
	case in.Method == billing.MethodCard:
		s.payByCard(ctx)
	case in.Method == billing.MethodPayPal:
		s.payByPayPal(ctx)
	default:
		s.fail(ctx, billing.Failure{Code: billing.CodeInvalidValue, Message: "unknown payment method " + string(in.Method)})
	}
	s.awaitUpdates(ctx)
	if s.cancelled && s.state.Status == billing.PaymentCanceled {
		return s.state, temporal.NewCanceledError()
	}
	return s.state, nil
}

func (s *paymentSaga) payByCard(ctx workflow.Context) {
	var authorizationID string
	var err error
	charge := activities.ChargeInput{PaymentID: s.in.PaymentID, CardToken: s.in.CardToken, Amount: s.in.Amount}
	if s.in.OnSession && (s.lean || workflow.GetVersion(ctx, versionCard3DS, workflow.DefaultVersion, 1) >= 1) {
		var a activities.CardAuthorization
		err = s.step(ctx, authorizeOptions, paymentSteps.AuthorizeCardPaymentOnSession, charge).Get(ctx, &a)
		authorizationID = a.AuthorizationID
		if err == nil && a.RedirectURL != "" {
			if f := s.awaitAuthentication(ctx, a); f != nil {
				s.settleCard(ctx, *f) // closes a challenge left open; nothing is captured
				return
			}
		}
	} else {
		err = s.step(ctx, authorizeOptions, paymentSteps.AuthorizeCardPayment, charge).Get(ctx, &authorizationID)
	}
	if isDecline(err) {
		s.fail(ctx, failureOf(err)) // the processor said no: nothing is held
		return
	}
	if err != nil {
		s.settleCard(ctx, failureOf(err)) // a hold may exist that we never heard of
		return
	}
	var captureID string
	s.hold = authorizationID
	err = s.step(ctx, captureOptions, paymentSteps.CaptureCardPayment,
		activities.CardCaptureInput{PaymentID: s.in.PaymentID, AuthorizationID: authorizationID, Amount: s.in.Amount,
			RecordedByBooking: s.books}).
		Get(ctx, &captureID)
	if err != nil {
		s.settleCard(ctx, failureOf(err)) // the capture may have happened though its answer was lost
		return
	}
	s.applyOrRefund(ctx, captureID)
}

func (s *paymentSaga) payByPayPal(ctx workflow.Context) {
	var order gateway.Order
	err := s.step(ctx, authorizeOptions, paymentSteps.CreatePayPalOrder,
		activities.OrderInput{PaymentID: s.in.PaymentID, Amount: s.in.Amount}).Get(ctx, &order)
	if err != nil {
		// An order nobody was sent to approve holds no money; one whose answer was lost is
		// closed all the same.
		s.settlePayPal(ctx, "", failureOf(err))
		return
	}
	s.state.ApprovalURL = order.ApprovalURL
	s.setStatus(ctx, billing.PaymentRequiresAction)
	ref := activities.PayPalOrderRef{PaymentID: s.in.PaymentID, OrderID: order.ID}

	captureID, f := s.awaitApprovalAndCapture(ctx, ref)
	if f != nil {
		s.settlePayPal(ctx, ref.OrderID, *f)
		return
	}
	s.setStatus(ctx, billing.PaymentProcessing)
	s.applyOrRefund(ctx, captureID)
}

// awaitApprovalAndCapture waits for the buyer: approval (then the order is captured), a cancel
// from PayPal's cancel link or the API, the approval timeout, or the saga's cancellation. It
// answers the capture, or why there is none (the status the payment ends in is the failure's
// code: canceled, expired, or a failure). A return that PayPal does not confirm as approved
// (order_not_approved) keeps the payment waiting: the return link is public, so it is a hint
// to try, not proof. The timeout runs from the order's creation.
func (s *paymentSaga) awaitApprovalAndCapture(ctx workflow.Context, ref activities.PayPalOrderRef) (string, *billing.Failure) {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timeout := s.in.PayPalApprovalTimeout
	if timeout <= 0 {
		timeout = DefaultPayPalApprovalTimeout
	}
	deadline := workflow.NewTimer(timerCtx, timeout)
	returns := workflow.GetSignalChannel(ctx, SignalPayPalReturn)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	unapproved := 0
	for {
		var outcome billing.PaymentStatus
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(returns, func(c workflow.ReceiveChannel, _ bool) {
			var r PayPalReturnSignal
			c.Receive(ctx, &r)
			outcome = billing.PaymentCanceled
			if r.Approved {
				outcome = billing.PaymentProcessing
			}
		})
		sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
			var r CancelPaymentSignal
			c.Receive(ctx, &r)
			outcome = billing.PaymentCanceled
		})
		sel.AddReceive(s.cancelRequests, func(c workflow.ReceiveChannel, _ bool) { // UpdateCancelPayment
			var r CancelPaymentSignal
			c.Receive(ctx, &r)
			outcome = billing.PaymentCanceled
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { outcome = billing.PaymentCanceled })
		sel.AddFuture(deadline, func(workflow.Future) { outcome = billing.PaymentExpired })
		sel.Select(ctx)
		switch {
		case outcome != billing.PaymentProcessing:
			return "", &billing.Failure{Code: string(outcome)}
		case unapproved >= maxUnapprovedReturns:
			workflow.GetLogger(ctx).Warn("PayPal return ignored: too many without approval", "payment_id", s.in.PaymentID)
			continue
		}

		var captureID string
		err := s.step(ctx, captureOptions, paymentSteps.CapturePayPalOrder, ref).
			Get(ctx, &captureID)
		if err == nil {
			return captureID, nil
		}
		if f := failureOf(err); f.Code != gateway.CodeOrderNotApproved || ctx.Err() != nil {
			return "", &f
		}
		unapproved++
		workflow.GetLogger(ctx).Info("PayPal return without approval; waiting for the buyer again", "payment_id", s.in.PaymentID)
	}
}

// awaitAuthentication waits for the cardholder's 3-D Secure at a.RedirectURL: their return
// (then the processor is asked how it ended), a cancel, the timeout, or the saga's
// cancellation. It answers nil once the money is held, or why the payment gives up. As with
// PayPal, a return the processor does not confirm keeps the payment waiting: the return link
// is public.
func (s *paymentSaga) awaitAuthentication(ctx workflow.Context, a activities.CardAuthorization) *billing.Failure {
	s.state.RedirectURL = a.RedirectURL
	s.setStatus(ctx, billing.PaymentRequiresAction)
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	timeout := s.in.AuthenticationTimeout
	if timeout <= 0 {
		timeout = DefaultCardAuthenticationTimeout
	}
	deadline := workflow.NewTimer(timerCtx, timeout)
	returns := workflow.GetSignalChannel(ctx, SignalCardAuthenticationReturn)
	cancels := workflow.GetSignalChannel(ctx, SignalCancel)
	ref := activities.CardAuthenticationRef{PaymentID: s.in.PaymentID, AuthorizationID: a.AuthorizationID}
	pending := 0
	for {
		var outcome billing.PaymentStatus
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(returns, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &CardAuthenticationReturnSignal{})
			outcome = billing.PaymentProcessing
		})
		sel.AddReceive(cancels, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &CancelPaymentSignal{})
			outcome = billing.PaymentCanceled
		})
		sel.AddReceive(s.cancelRequests, func(c workflow.ReceiveChannel, _ bool) { // UpdateCancelPayment
			c.Receive(ctx, &CancelPaymentSignal{})
			outcome = billing.PaymentCanceled
		})
		sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { outcome = billing.PaymentCanceled })
		sel.AddFuture(deadline, func(workflow.Future) { outcome = billing.PaymentExpired })
		sel.Select(ctx)
		switch {
		case outcome == billing.PaymentExpired:
			return &billing.Failure{Code: FailureAuthenticationTimeout,
				Message: fmt.Sprintf("The card's 3-D Secure authentication was not completed within %s.", timeout)}
		case outcome != billing.PaymentProcessing:
			return &billing.Failure{Code: string(outcome)}
		case pending >= maxUnapprovedReturns:
			workflow.GetLogger(ctx).Warn("3-D Secure return ignored: too many without authentication", "payment_id", s.in.PaymentID)
			continue
		}
		err := s.step(ctx, authorizeOptions, paymentSteps.CheckCardAuthentication, ref).Get(ctx, nil)
		if err == nil {
			s.setStatus(ctx, billing.PaymentProcessing)
			return nil
		}
		if f := failureOf(err); f.Code != activities.ErrTypeAuthenticationPending || ctx.Err() != nil {
			return &f
		}
		pending++
		workflow.GetLogger(ctx).Info("3-D Secure return without authentication; waiting for the cardholder again", "payment_id", s.in.PaymentID)
	}
}

// settleCard resolves a card payment whose money is in doubt (a step failed without a decline,
// or the saga was cancelled): a capture found is booked, a hold found is released, and the
// payment ends with why.
func (s *paymentSaga) settleCard(ctx workflow.Context, why billing.Failure) {
	ctx = s.live(ctx)
	var r activities.Resolution
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, compensationOptions), paymentSteps.ResolveCardCharge,
		activities.ResolveInput{PaymentID: s.in.PaymentID}).Get(ctx, &r)
	s.settled(ctx, r, err, why)
}

// settlePayPal is settleCard for a PayPal order; orderID "" means the payment's recorded one.
// why's code canceled or expired ends the payment so; anything else fails it.
func (s *paymentSaga) settlePayPal(ctx workflow.Context, orderID string, why billing.Failure) {
	ctx = s.live(ctx)
	var r activities.Resolution
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, compensationOptions), paymentSteps.ResolvePayPalOrder,
		activities.ResolveInput{PaymentID: s.in.PaymentID, OrderID: orderID}).Get(ctx, &r)
	s.settled(ctx, r, err, why)
}

func (s *paymentSaga) settled(ctx workflow.Context, r activities.Resolution, err error, why billing.Failure) {
	switch {
	case err != nil:
		// The processor refused to answer for good: the reconciler keeps asking and says so.
		workflow.GetLogger(ctx).Error("payment outcome unresolved; left to the reconciler", "payment_id", s.in.PaymentID, "err", err)
		s.fail(ctx, billing.Failure{Code: billing.CodeProcessingError,
			Message: "The payment could not be confirmed with the payment processor. Our billing team has been alerted."})
	case r.Captured && !r.Refunded:
		s.setStatus(ctx, billing.PaymentProcessing)
		s.applyOrRefund(ctx, r.CaptureID)
	case s.cancelled:
		// Stopped by ops, not by the customer: tell them it did not go through.
		s.end(ctx, billing.PaymentCanceled, nil)
		if !s.in.NoFailureMail {
			s.notify(ctx, paymentSteps.SendPaymentFailedMail)
		}
	case why.Code == string(billing.PaymentCanceled):
		s.end(ctx, billing.PaymentCanceled, nil)
	case why.Code == string(billing.PaymentExpired):
		s.end(ctx, billing.PaymentExpired, nil)
	default:
		s.fail(ctx, why)
	}
}

// applyOrRefund books the captured money. The ledger step retries until Postgres answers; if
// booking is refused for good (the payment ended another way meanwhile) the capture is
// refunded and the payment fails, unless the refund step finds the payment booked after all
// (a lost answer), in which case it stands. A cancellation does not stop the booking: the
// money is taken.
func (s *paymentSaga) applyOrRefund(ctx workflow.Context, captureID string) {
	s.state.CaptureID = captureID
	var applied activities.ApplyResult
	opts := ledgerOptions
	if s.local && !s.lean {
		opts = quickLedgerOptions
	}
	// The booking step and its input: from versionBookWithCharge on, BookPayment; from
	// versionReceiptOutbox on, BookPaymentMailingReceipt.
	var book, booking any = paymentSteps.ApplyPayment, s.in.PaymentID
	switch {
	case s.outbox:
		book, booking = paymentSteps.BookPaymentMailingReceipt, activities.BookInput{PaymentID: s.in.PaymentID, AuthorizationID: s.hold, CaptureID: captureID}
	case s.books:
		book, booking = paymentSteps.BookPayment, activities.BookInput{PaymentID: s.in.PaymentID, AuthorizationID: s.hold, CaptureID: captureID}
	}
	// From versionLeanSteps on, step itself goes on as an activity under ledgerOptions.
	err := s.step(ctx, opts, book, booking).Get(ctx, &applied)
	if s.local && !s.lean && err != nil && !temporal.IsCanceledError(err) && !isNotApplicable(err) {
		// Postgres is slow or down: book as an activity that retries for as long as it takes,
		// without growing the history.
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ledgerOptions), paymentSteps.ApplyPayment, s.in.PaymentID).
			Get(ctx, &applied)
	}
	if err != nil && s.resolves && temporal.IsCanceledError(err) {
		ctx = s.live(ctx)
		err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ledgerOptions), book, booking).Get(ctx, &applied)
	}
	if err == nil {
		if !applied.CompletedAt.IsZero() { // zero from a worker before the field
			s.state.CompletedAt = &applied.CompletedAt
		}
		s.succeed(ctx)
		return
	}
	ctx = s.live(ctx)
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

// handleUpdates registers the saga's updates. Registering adds nothing to the history, so
// runs of every version take the ones that work for them: UpdatePaymentStarted everywhere
// (every path publishes the approval URL and ends in a final status), UpdateCancelPayment
// only where the wait for the buyer listens for it (versionResolveOutcomes). A run without
// it refuses the update as unknown, and the API falls back to SignalCancel.
func (s *paymentSaga) handleUpdates(ctx workflow.Context) error {
	err := workflow.SetUpdateHandler(ctx, UpdatePaymentStarted, s.answerStarted)
	if err != nil || !s.resolves {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateCancelPayment, s.cancelPayment,
		workflow.UpdateHandlerOptions{Validator: s.validateCancel})
}

// answerStarted answers UpdatePaymentStarted: the state once the buyer can be told something.
func (s *paymentSaga) answerStarted(ctx workflow.Context) (PaymentState, error) {
	return s.await(ctx, func() bool {
		return s.state.Status.Final() || s.in.Method == billing.MethodPayPal && s.state.ApprovalURL != "" ||
			s.state.Status == billing.PaymentRequiresAction // a card's 3-D Secure
	})
}

// validateCancel refuses a cancel unless the payment waits for the buyer; the refusal never
// enters the history.
func (s *paymentSaga) validateCancel(_ workflow.Context, _ CancelPaymentSignal) error {
	if s.state.Status != billing.PaymentRequiresAction {
		return temporal.NewApplicationError(
			fmt.Sprintf("payment %s %s; only a payment waiting for the buyer (PayPal approval or 3-D Secure: requires_action) can be canceled",
				s.in.PaymentID, s.state.Status.Phrase()), ErrTypeNotCancelable, s.state.Status)
	}
	return nil
}

// cancelPayment hands the cancel to the wait for the buyer, as SignalCancel does, and answers
// the final state: canceled, or how the payment ended when the buyer's approval came first.
func (s *paymentSaga) cancelPayment(ctx workflow.Context, r CancelPaymentSignal) (PaymentState, error) {
	s.cancelRequests.SendAsync(r) // a full buffer holds a cancel already: one is enough
	return s.await(ctx, func() bool { return s.state.Status.Final() })
}

// await waits in an update handler until answered says so, or the saga is done, and answers
// the state. The workflow's cancellation does not cut the wait short: the saga still settles
// the payment, and the caller gets how it ended.
func (s *paymentSaga) await(ctx workflow.Context, answered func() bool) (PaymentState, error) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	err := workflow.Await(ctx, func() bool { return s.done || answered() })
	return s.state, err
}

// awaitUpdates lets the update handlers answer before the workflow ends, so none is left
// unfinished (they answer once the payment is final, which it is by now).
func (s *paymentSaga) awaitUpdates(ctx workflow.Context) {
	s.done = true
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		workflow.GetLogger(ctx).Warn("updates left unanswered", "payment_id", s.in.PaymentID, "err", err)
	}
}

// paymentSaga is one run's state; the status query reads it.
type paymentSaga struct {
	in    PaymentInput
	state PaymentState
	// resolves: this run started under versionResolveOutcomes; local: under versionLocalSteps;
	// lean: under versionLeanSteps; books: under versionBookWithCharge; outbox: under
	// versionReceiptOutbox.
	resolves, local, lean, books, outbox bool
	// hold is the card authorization the saga captures, for the booking to record.
	hold string
	// cancelled: the workflow was cancelled; cleanup is the disconnected context its
	// remaining steps run on, so the money is still settled and recorded.
	cancelled bool
	cleanup   workflow.Context
	// cancelRequests carries UpdateCancelPayment to the wait for the buyer.
	cancelRequests workflow.Channel
	// done: the saga has finished its steps; update handlers answer what they have.
	done bool
}

// step runs one of the saga's short steps: a local activity from versionLocalSteps on, an
// activity before it. Under versionLocalSteps the options are the same, and a local activity
// whose retries outlast the workflow task's own budget goes on with timers; from
// versionLeanSteps on, the local activity retries as localStepBudget says and then the step
// goes on as an activity with opts, unless its error is final (a decline, a refusal, a
// cancellation).
func (s *paymentSaga) step(ctx workflow.Context, opts workflow.ActivityOptions, activity any, args ...any) workflow.Future {
	if !s.local {
		return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, args...)
	}
	if !s.lean {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: opts.StartToCloseTimeout, RetryPolicy: opts.RetryPolicy}), activity, args...)
	}
	policy := *localStepBudget.RetryPolicy
	policy.NonRetryableErrorTypes = opts.RetryPolicy.NonRetryableErrorTypes
	local := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: opts.StartToCloseTimeout, RetryPolicy: &policy}), activity, args...)
	result, settle := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		if err := local.Get(gctx, nil); err == nil || isFinal(err, opts) || ctx.Err() != nil {
			settle.Chain(local)
			return
		}
		settle.Chain(workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, args...))
	})
	return result
}

// localStepBudget bounds a local step's retries from versionLeanSteps on: three quick tries
// inside the workflow task, then an activity (see step). Each try keeps the step's own
// StartToCloseTimeout: a slow processor is waited for, not cut and asked again.
var localStepBudget = workflow.LocalActivityOptions{
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, BackoffCoefficient: 2,
		MaximumInterval: 400 * time.Millisecond, MaximumAttempts: 3},
}

// isFinal reports whether a step's error ends it under opts: retrying as an activity would
// get the same answer.
func isFinal(err error, opts workflow.ActivityOptions) bool {
	if temporal.IsCanceledError(err) {
		return true
	}
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return false // a timeout: worth an activity
	}
	return appErr.NonRetryable() || opts.RetryPolicy != nil && slices.Contains(opts.RetryPolicy.NonRetryableErrorTypes, appErr.Type())
}

// startedAs reports whether the run was started with PaymentStatus status (the API's and
// recurring billing's starts set processing).
func startedAs(ctx workflow.Context, status billing.PaymentStatus) bool {
	v, ok := workflow.GetTypedSearchAttributes(ctx).GetKeyword(PaymentStatusKey)
	return ok && v == string(status)
}

// isNotApplicable reports whether booking was refused for good: the payment ended another way.
func isNotApplicable(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == activities.ErrTypeNotApplicable
}

// live is the context the saga's next step runs on: ctx, or once the workflow is cancelled, a
// context the cancellation does not reach.
func (s *paymentSaga) live(ctx workflow.Context) workflow.Context {
	if !s.resolves || ctx.Err() == nil {
		return ctx
	}
	if s.cleanup == nil {
		s.cancelled = true
		s.cleanup, _ = workflow.NewDisconnectedContext(ctx)
	}
	return s.cleanup
}

func (s *paymentSaga) succeed(ctx workflow.Context) {
	ctx = s.live(ctx)
	s.state.Failure = nil
	s.setStatus(ctx, billing.PaymentSucceeded)
	if !s.outbox { // from versionReceiptOutbox on, the booking made the receipt due
		s.notify(ctx, paymentSteps.SendPaymentReceipt)
	}
}

func (s *paymentSaga) fail(ctx workflow.Context, f billing.Failure) {
	ctx = s.live(ctx)
	s.end(ctx, billing.PaymentFailed, &f)
	if !s.in.NoFailureMail {
		s.notify(ctx, paymentSteps.SendPaymentFailedMail)
	}
}

// end records a payment that did not succeed. Recording is retried until it works: the
// customer must never see a finished payment as still in progress.
func (s *paymentSaga) end(ctx workflow.Context, status billing.PaymentStatus, f *billing.Failure) {
	ctx = s.live(ctx)
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
	ctx = s.live(ctx)
	if err := s.step(ctx, notificationOptions, activity, s.in.PaymentID).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("payment mail not sent", "payment_id", s.in.PaymentID, "err", err)
	}
}

// failureOf says why a step failed, as the customer sees it. A final error from an activity
// carries the processor's decline code as its type; anything else means the processor could
// not be reached or kept failing, and retries ran out.
func failureOf(err error) billing.Failure {
	if temporal.IsCanceledError(err) {
		return billing.Failure{Code: string(billing.PaymentCanceled)}
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() && appErr.Type() != activities.ErrTypeProcessorRefused &&
		appErr.Type() != activities.ErrTypeNotApplicable && appErr.Type() != "" {
		return billing.Failure{Code: appErr.Type(), Message: appErr.Message()}
	}
	return billing.Failure{Code: billing.CodeProcessingError,
		Message: "The payment processor could not process the payment. Please try again later."}
}

// isDecline reports whether err is the processor's final no, which leaves nothing held.
func isDecline(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable() && failureOf(err).Code != billing.CodeProcessingError
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
	// quickLedgerOptions: the first try at booking, as a local activity: a few quick
	// retries; a longer outage goes on under ledgerOptions.
	quickLedgerOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 2 * time.Second, MaximumAttempts: 4, NonRetryableErrorTypes: []string{activities.ErrTypeNotApplicable}},
	}
	// ledgerOptions: booking captured money; retried until Postgres answers, however long it
	// is down, since the money is taken. Only a refusal (the payment ended another way) stops
	// it.
	ledgerOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{activities.ErrTypeNotApplicable}},
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

// Version 0, before versionResolveOutcomes: kept unchanged for payments that started before it
// (their histories replay it), except that booking retries as long as ledgerOptions say. Delete
// once no payment workflow older than the change is open.

func (s *paymentSaga) payByCardV0(ctx workflow.Context) {
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
	s.applyOrRefundV0(ctx, captureID)
}

func (s *paymentSaga) payByPayPalV0(ctx workflow.Context) {
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

	captureID, outcome := s.captureOnceApprovedV0(ctx, ref)
	switch outcome {
	case billing.PaymentCanceled, billing.PaymentExpired:
		s.compensate(ctx, "void the PayPal order", paymentSteps.VoidPayPalOrder, ref)
		s.end(ctx, outcome, nil)
	case billing.PaymentFailed:
		// failed was recorded by captureOnceApproved
	default:
		s.applyOrRefundV0(ctx, captureID)
	}
}

// captureOnceApproved waits for the buyer: approval (then the order is captured), a cancel
// from PayPal's cancel link or the API, or the approval timeout. A return that PayPal does not
// confirm as approved (order_not_approved) puts the payment back to waiting: the return link
// is public, so it is a hint to try, not proof. The timeout runs from the order's creation
// and is not reset by such returns.
func (s *paymentSaga) captureOnceApprovedV0(ctx workflow.Context, ref activities.PayPalOrderRef) (captureID string, outcome billing.PaymentStatus) {
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
func (s *paymentSaga) applyOrRefundV0(ctx workflow.Context, captureID string) {
	s.state.CaptureID = captureID
	var applied activities.ApplyResult
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ledgerOptions), paymentSteps.ApplyPayment, s.in.PaymentID).
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

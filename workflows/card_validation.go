package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
)

// CardValidationInput is what the API knows when it starts a card's validation. It carries
// only the card's public facts: the number and the CVC were exchanged for a token before the
// workflow started and never enter its history.
type CardValidationInput struct {
	PaymentMethodID string
	AccountID       string
	CompanyName     string
	Brand           string
	Last4           string
	ContactEmail    string
	Language        string // the account's, for the mails
	// Deadline is the validation_deadline the customer was shown; Timeout is the
	// PAYPORTAL_CARD_VALIDATION_TIMEOUT it was computed from. The timer waits for whichever
	// comes first, so a decision is never accepted after the deadline the customer saw.
	Deadline time.Time
	Timeout  time.Duration
}

// RepDecision is the payload of the rep-decision signal. DecisionID lets the sender tell its
// own decision from a competing one in the status query; a signal sent by hand may leave it
// out.
type RepDecision struct {
	DecisionID string           `json:"decision_id,omitempty"`
	Decision   billing.Decision `json:"decision"`
	Reason     string           `json:"reason,omitempty"`
	RepID      string           `json:"rep_id,omitempty"`
}

// CardValidationState is what the status query answers and the workflow returns. Status
// changes only once the outcome is recorded in the database, so a caller that sees a final
// status here finds the same in the API.
type CardValidationState struct {
	Status     billing.PaymentMethodStatus `json:"status"`
	DecisionID string                      `json:"decision_id,omitempty"` // the decision that won, if a rep decided
	Reason     string                      `json:"reason,omitempty"`
	DecidedBy  string                      `json:"decided_by,omitempty"`
}

// ExpiredReason is recorded on a card nobody decided before its deadline.
const ExpiredReason = "not validated before the deadline"

// CanceledReason is recorded on a card whose workflow an operator cancelled; it ends expired.
const CanceledReason = "validation canceled by an operator"

// CardValidationWorkflow is a card's way from pending_validation to validated, rejected or
// expired: tell the contact it was received, wait for a rep's decision or the deadline,
// whichever comes first, record the outcome (a validated card becomes the monthly payment
// method) and tell the contact again. Later decisions change nothing.
func CardValidationWorkflow(ctx workflow.Context, in CardValidationInput) (CardValidationState, error) {
	log := workflow.GetLogger(ctx)
	v := &cardValidation{state: CardValidationState{Status: billing.PMPendingValidation}, open: true,
		updates: workflow.NewBufferedChannel(ctx, 1)}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (CardValidationState, error) { return v.state, nil }); err != nil {
		return v.state, fmt.Errorf("register status query: %w", err)
	}
	// Registering the update adds nothing to the history: runs started before it replay
	// unchanged, and answer it too.
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateRepDecision, v.decide,
		workflow.UpdateHandlerOptions{Validator: v.validate}); err != nil {
		return v.state, fmt.Errorf("register %s update: %w", UpdateRepDecision, err)
	}
	if err := setCardSearchAttributes(ctx, in); err != nil {
		return v.finish(ctx, err)
	}
	decisions := workflow.GetSignalChannel(ctx, SignalRepDecision)
	var a *activities.CardValidation
	mailCtx := workflow.WithActivityOptions(ctx, mailActivityOptions)

	// The mails go out beside the wait, not before it: an SMTP outage must not push the
	// deadline back or hold a rep's decision.
	submitted := workflow.ExecuteActivity(mailCtx, a.SendCardStatusMail, cardNotice(in, billing.PMPendingValidation, ""))

	decision, decided := waitForRepDecision(ctx, in, decisions, v.updates)
	v.open = false
	outcome := activities.CardDecision{PaymentMethodID: in.PaymentMethodID, Status: billing.PMExpired, Reason: ExpiredReason}
	if ctx.Err() != nil {
		// Cancelled by an operator: the card still gets a final status and its mail, so it
		// does not stay pending with nobody left to decide it.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		mailCtx = workflow.WithActivityOptions(ctx, mailActivityOptions)
		outcome.Reason = CanceledReason
	}
	if decided {
		outcome = activities.CardDecision{PaymentMethodID: in.PaymentMethodID, Status: billing.PMRejected,
			Reason: decision.Reason, DecidedBy: decision.RepID}
		if decision.Decision == billing.DecisionApprove {
			outcome.Status = billing.PMValidated
		}
	}

	var recorded activities.RecordedCardDecision
	recordCtx := workflow.WithActivityOptions(ctx, recordActivityOptions)
	if err := workflow.ExecuteActivity(recordCtx, a.RecordCardDecision, outcome).Get(ctx, &recorded); err != nil {
		return v.finish(ctx, fmt.Errorf("record %s for %s: %w", outcome.Status, in.PaymentMethodID, err))
	}
	v.state = CardValidationState{Status: recorded.Status, DecisionID: decision.DecisionID,
		Reason: outcome.Reason, DecidedBy: outcome.DecidedBy}
	if err := workflow.UpsertTypedSearchAttributes(ctx, PaymentStatusKey.ValueSet(string(v.state.Status))); err != nil {
		return v.finish(ctx, fmt.Errorf("upsert PaymentStatus: %w", err))
	}
	log.Info("card validation decided", "payment_method_id", in.PaymentMethodID, "status", v.state.Status)

	// The outcome mail follows the submitted one, so the contact reads them in order.
	if err := submitted.Get(ctx, nil); err != nil {
		log.Error("submitted mail not delivered", "payment_method_id", in.PaymentMethodID, "err", err)
	}
	if err := workflow.ExecuteActivity(mailCtx, a.SendCardStatusMail, cardNotice(in, v.state.Status, v.state.Reason)).Get(ctx, nil); err != nil {
		log.Error("outcome mail not delivered", "payment_method_id", in.PaymentMethodID, "status", v.state.Status, "err", err)
	}

	ignoreLateDecisions(ctx, in.PaymentMethodID, decisions)
	return v.finish(ctx, nil)
}

// cardValidation is one run's state, shared by the workflow, its status query and the
// UpdateRepDecision handler.
type cardValidation struct {
	state CardValidationState
	// open: the workflow still waits for a decision. It closes when one is taken or the
	// deadline passes, before the outcome is recorded (state turns final only then).
	open bool
	// updates carries UpdateRepDecision's decision to the wait, beside the signal's.
	updates workflow.Channel
	// done: the workflow is returning; handlers answer what they have.
	done bool
}

// validate refuses a decision the wait would not take: on a card decided or expired (or
// whose decision is being recorded), or neither approve nor reject (the signal's rule:
// waitForRepDecision ignores those). The reason is free text, as on the signal. A refusal
// never enters the history.
func (v *cardValidation) validate(d RepDecision) error {
	if !v.open {
		status := v.state.Status
		if !status.Final() {
			status = "being decided"
		}
		return temporal.NewApplicationError(fmt.Sprintf("the card is already %s", status), ErrTypeAlreadyDecided, v.state)
	}
	if !d.valid() {
		return temporal.NewApplicationError(fmt.Sprintf("decision must be approve or reject, not %q", d.Decision), ErrTypeInvalidRequest)
	}
	return nil
}

// decide hands the decision to the wait, as the rep-decision signal does, and answers the
// state once the outcome is recorded. The caller learns whether its own decision won from
// DecisionID: two decisions accepted at once both reach the wait, and the first taken wins.
func (v *cardValidation) decide(ctx workflow.Context, d RepDecision) (CardValidationState, error) {
	v.updates.SendAsync(d) // a full buffer holds another decision, which the wait takes first
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	err := workflow.Await(ctx, func() bool { return v.done || v.state.Status.Final() })
	if err == nil && !v.state.Status.Final() {
		err = temporal.NewApplicationError("the card's outcome could not be recorded", "outcome_not_recorded")
	}
	return v.state, err
}

// finish ends the run once every update handler has answered, so none is left unfinished.
func (v *cardValidation) finish(ctx workflow.Context, err error) (CardValidationState, error) {
	v.done = true
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	if werr := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); werr != nil {
		workflow.GetLogger(ctx).Warn("updates left unanswered", "err", werr)
	}
	return v.state, err
}

// valid is the rule a decision must meet to be taken: approve or reject.
func (d RepDecision) valid() bool {
	return d.Decision == billing.DecisionApprove || d.Decision == billing.DecisionReject
}

// waitForRepDecision waits for the first valid rep decision, by signal or update, or the
// deadline. It reports false when the deadline won. Malformed decisions (neither approve nor
// reject) are logged and the wait goes on.
func waitForRepDecision(ctx workflow.Context, in CardValidationInput, decisions, updates workflow.ReceiveChannel) (RepDecision, bool) {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer() // a decided card needs no timer; cancelling it shows so in the history
	deadline := workflow.NewTimer(timerCtx, validationWait(ctx, in))
	for {
		var (
			d       RepDecision
			got     bool
			expired bool
		)
		sel := workflow.NewSelector(ctx)
		receive := func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, &d)
			got = true
		}
		sel.AddReceive(decisions, receive)
		sel.AddReceive(updates, receive)
		sel.AddFuture(deadline, func(workflow.Future) { expired = true })
		sel.Select(ctx)
		if expired {
			return RepDecision{}, false
		}
		if got && d.valid() {
			return d, true
		}
		workflow.GetLogger(ctx).Warn("ignoring a malformed rep decision", "payment_method_id", in.PaymentMethodID,
			"decision", string(d.Decision), "rep_id", d.RepID)
	}
}

// validationWait is how long the card may wait for a rep: the timeout, cut short if the
// deadline the customer was shown comes sooner (the workflow starts a moment after it was
// computed).
func validationWait(ctx workflow.Context, in CardValidationInput) time.Duration {
	wait := in.Timeout
	if !in.Deadline.IsZero() {
		if left := in.Deadline.Sub(workflow.Now(ctx)); left < wait || wait <= 0 {
			wait = left
		}
	}
	return max(wait, 0)
}

// ignoreLateDecisions drains the decisions that arrived after the outcome: the card is
// decided, so they change nothing, but each is logged for the rep who sent it.
func ignoreLateDecisions(ctx workflow.Context, pmID string, decisions workflow.ReceiveChannel) {
	for {
		var d RepDecision
		if !decisions.ReceiveAsync(&d) {
			return
		}
		workflow.GetLogger(ctx).Info("ignoring a rep decision on a decided card", "payment_method_id", pmID,
			"decision", string(d.Decision), "rep_id", d.RepID, "decision_id", d.DecisionID)
	}
}

// setCardSearchAttributes makes sure ops find the workflow by account, kind and status even
// when it was started by hand without them; the API sets them at start.
func setCardSearchAttributes(ctx workflow.Context, in CardValidationInput) error {
	sa := workflow.GetTypedSearchAttributes(ctx)
	if _, ok := sa.GetKeyword(AccountIDKey); ok {
		return nil
	}
	err := workflow.UpsertTypedSearchAttributes(ctx,
		AccountIDKey.ValueSet(in.AccountID),
		PaymentMethodKindKey.ValueSet(string(billing.MethodCard)),
		PaymentStatusKey.ValueSet(string(billing.PMPendingValidation)))
	if err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

func cardNotice(in CardValidationInput, status billing.PaymentMethodStatus, reason string) activities.CardStatusNotice {
	return activities.CardStatusNotice{
		PaymentMethodID: in.PaymentMethodID,
		To:              in.ContactEmail,
		Language:        in.Language,
		CompanyName:     in.CompanyName,
		Brand:           in.Brand,
		Last4:           in.Last4,
		Status:          status,
		Reason:          reason,
		Deadline:        in.Deadline,
	}
}

// Mails are retried with backoff for about a day: long enough to ride out an SMTP outage,
// bounded so a mail to a dead mailbox does not keep the workflow open forever.
var mailActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Hour,
		MaximumAttempts:        30,
		NonRetryableErrorTypes: []string{activities.ErrTypeMailRejected},
	},
}

// Recording is retried until the database answers: the decision was made and must land.
var recordActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        time.Minute,
		NonRetryableErrorTypes: []string{activities.ErrTypeCardAlreadyDecided, activities.ErrTypeCardNotFound},
	},
}

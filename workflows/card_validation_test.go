package workflows_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/workflows"
)

// cardEnv is a time-skipping test environment running the card-validation workflow with the
// real mail activity (over an in-memory sender) and a recorded stand-in for the database.
type cardEnv struct {
	*testsuite.TestWorkflowEnvironment
	t        *testing.T
	start    time.Time
	outbox   *mailtest.Outbox
	mu       sync.Mutex
	recorded []activities.CardDecision
	statuses []string // PaymentStatus values upserted, in order
}

var startTime = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newCardEnv(t *testing.T, sender mail.Sender) *cardEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := &cardEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), t: t, start: startTime, outbox: &mailtest.Outbox{}}
	if sender == nil {
		sender = e.outbox
	}
	e.SetStartTime(startTime)
	e.RegisterWorkflow(workflows.CardValidationWorkflow)
	e.RegisterActivity(&activities.CardValidation{Mail: sender, Clock: billing.SystemClock{}})
	var a *activities.CardValidation
	e.OnActivity(a.RecordCardDecision, mock.Anything, mock.Anything).Return(
		func(_ context.Context, d activities.CardDecision) (activities.RecordedCardDecision, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.recorded = append(e.recorded, d)
			return activities.RecordedCardDecision{Status: d.Status, DecidedAt: e.Now()}, nil
		})
	e.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(workflows.PaymentStatusKey); ok {
			e.mu.Lock()
			e.statuses = append(e.statuses, v)
			e.mu.Unlock()
		}
	}).Return(nil)
	return e
}

func cardInput(lang string) workflows.CardValidationInput {
	return workflows.CardValidationInput{
		PaymentMethodID: "pm_test1",
		AccountID:       "acct_demo",
		CompanyName:     "Demo Corp",
		Brand:           "visa",
		Last4:           "4242",
		ContactEmail:    "cards@demo-corp.example",
		Language:        lang,
		Deadline:        startTime.Add(24 * time.Hour),
		Timeout:         24 * time.Hour,
	}
}

func (e *cardEnv) signal(after time.Duration, d workflows.RepDecision) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(workflows.SignalRepDecision, d) }, after)
}

func (e *cardEnv) queryStatus() workflows.CardValidationState {
	e.t.Helper()
	v, err := e.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		e.t.Fatalf("query status: %v", err)
	}
	var st workflows.CardValidationState
	if err := v.Get(&st); err != nil {
		e.t.Fatalf("decode status: %v", err)
	}
	return st
}

func (e *cardEnv) result() workflows.CardValidationState {
	e.t.Helper()
	if !e.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		e.t.Fatalf("workflow failed: %v", err)
	}
	var st workflows.CardValidationState
	if err := e.GetWorkflowResult(&st); err != nil {
		e.t.Fatalf("workflow result: %v", err)
	}
	return st
}

// wantMails checks the subjects of the mails sent, in order, all to the card's contact.
func (e *cardEnv) wantMails(subjects ...string) {
	e.t.Helper()
	msgs := e.outbox.Messages()
	if len(msgs) != len(subjects) {
		var got []string
		for _, m := range msgs {
			got = append(got, m.Subject)
		}
		e.t.Fatalf("mails sent: %q, want %d: %q", got, len(subjects), subjects)
	}
	for i, m := range msgs {
		if m.To != "cards@demo-corp.example" {
			e.t.Errorf("mail %d went to %q, want the card's contact", i, m.To)
		}
		if !strings.Contains(m.Subject, subjects[i]) {
			e.t.Errorf("mail %d subject %q, want it to contain %q", i, m.Subject, subjects[i])
		}
	}
}

func (e *cardEnv) wantRecorded(want ...activities.CardDecision) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.recorded) != len(want) {
		e.t.Fatalf("decisions recorded: %+v, want %+v", e.recorded, want)
	}
	for i := range want {
		if e.recorded[i] != want[i] {
			e.t.Errorf("decision %d recorded as %+v, want %+v", i, e.recorded[i], want[i])
		}
	}
}

func (e *cardEnv) wantStatuses(want ...string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if strings.Join(e.statuses, ",") != strings.Join(want, ",") {
		e.t.Errorf("PaymentStatus upserted %q, want %q", e.statuses, want)
	}
}

func TestCardValidationApprove(t *testing.T) {
	e := newCardEnv(t, nil)
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PMPendingValidation {
			t.Errorf("status after 1h without a decision = %q, want pending_validation", st.Status)
		}
	}, time.Hour)
	e.signal(2*time.Hour, workflows.RepDecision{DecisionID: "dec_a", Decision: billing.DecisionApprove, Reason: "looks good", RepID: "key_rep"})
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	got := e.result()
	if got.Status != billing.PMValidated || got.DecisionID != "dec_a" || got.DecidedBy != "key_rep" {
		t.Errorf("result %+v, want validated by key_rep's decision dec_a", got)
	}
	if st := e.queryStatus(); st.Status != billing.PMValidated {
		t.Errorf("status query after approval = %q, want validated", st.Status)
	}
	if elapsed := e.Now().Sub(e.start); elapsed < 2*time.Hour || elapsed > 3*time.Hour {
		t.Errorf("workflow ended %v after start, want right after the decision at 2h", elapsed)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMValidated, Reason: "looks good", DecidedBy: "key_rep"})
	e.wantMails("We received your Visa card ending in 4242", "Your Visa card ending in 4242 was validated")
	e.wantStatuses("pending_validation", "validated")
}

func TestCardValidationRejectInFrench(t *testing.T) {
	e := newCardEnv(t, nil)
	e.signal(30*time.Minute, workflows.RepDecision{DecisionID: "dec_r", Decision: billing.DecisionReject, Reason: "name does not match", RepID: "key_rep"})
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("fr"))

	if got := e.result(); got.Status != billing.PMRejected || got.Reason != "name does not match" {
		t.Errorf("result %+v, want rejected with the rep's reason", got)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMRejected, Reason: "name does not match", DecidedBy: "key_rep"})
	e.wantMails("Nous avons reçu votre carte Visa", "Votre carte Visa se terminant par 4242 a été refusée")
	if msgs := e.outbox.Messages(); len(msgs) == 2 && !strings.Contains(msgs[1].Text, "name does not match") {
		t.Errorf("rejection mail does not give the reason:\n%s", msgs[1].Text)
	}
}

func TestCardValidationExpiresAfter24h(t *testing.T) {
	e := newCardEnv(t, nil)
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PMPendingValidation {
			t.Errorf("status a minute before the deadline = %q, want pending_validation", st.Status)
		}
	}, 24*time.Hour-time.Minute)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	if got := e.result(); got.Status != billing.PMExpired {
		t.Errorf("result %+v, want expired", got)
	}
	if elapsed := e.Now().Sub(e.start); elapsed != 24*time.Hour {
		t.Errorf("card expired %v after start, want exactly 24h", elapsed)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMExpired, Reason: workflows.ExpiredReason})
	e.wantMails("We received your Visa card", "Your Visa card ending in 4242 was not validated in time")
	e.wantStatuses("pending_validation", "expired")
}

// The deadline the customer was shown wins over the timeout when the workflow starts late.
func TestCardValidationExpiresAtTheDeadlineShown(t *testing.T) {
	e := newCardEnv(t, nil)
	in := cardInput("en")
	in.Deadline = startTime.Add(2 * time.Second)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, in)
	if got := e.result(); got.Status != billing.PMExpired {
		t.Errorf("result %+v, want expired", got)
	}
	if elapsed := e.Now().Sub(e.start); elapsed != 2*time.Second {
		t.Errorf("card expired %v after start, want at the 2s deadline", elapsed)
	}
}

// A decision arriving after the deadline changes nothing, even while the workflow is still
// busy mailing the expiry.
func TestCardValidationIgnoresSignalAfterTimeout(t *testing.T) {
	sender := &flakySender{outbox: &mailtest.Outbox{}, failOn: "not validated in time", failures: 1}
	e := newCardEnv(t, sender)
	e.outbox = sender.outbox
	// The expiry mail fails once and is retried 1s later; the late decision lands in between.
	var lateSent bool
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PMExpired {
			t.Errorf("status when the late decision arrives = %q, want expired", st.Status)
		}
		lateSent = !e.IsWorkflowCompleted()
		e.SignalWorkflow(workflows.SignalRepDecision, workflows.RepDecision{DecisionID: "dec_late", Decision: billing.DecisionApprove, RepID: "key_rep"})
	}, 24*time.Hour+500*time.Millisecond)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	if !lateSent {
		t.Fatal("the late decision was not delivered to the running workflow")
	}

	if got := e.result(); got.Status != billing.PMExpired || got.DecisionID != "" {
		t.Errorf("result %+v, want expired with no decision", got)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMExpired, Reason: workflows.ExpiredReason})
	e.wantMails("We received your ", "was not validated in time")
	if sender.attempts() != 3 {
		t.Errorf("mail attempts = %d, want 3 (one failed)", sender.attempts())
	}
}

// Two reps clicking at once, and a malformed signal before them: the first valid decision
// wins and is the only one recorded.
func TestCardValidationDuplicateSignals(t *testing.T) {
	e := newCardEnv(t, nil)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalRepDecision, workflows.RepDecision{DecisionID: "dec_bad", Decision: "maybe", RepID: "key_rep0"})
	}, time.Hour)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalRepDecision, workflows.RepDecision{DecisionID: "dec_1", Decision: billing.DecisionReject, Reason: "fraud", RepID: "key_rep1"})
		e.SignalWorkflow(workflows.SignalRepDecision, workflows.RepDecision{DecisionID: "dec_2", Decision: billing.DecisionApprove, RepID: "key_rep2"})
		e.SignalWorkflow(workflows.SignalRepDecision, workflows.RepDecision{DecisionID: "dec_1", Decision: billing.DecisionReject, Reason: "fraud", RepID: "key_rep1"})
	}, 2*time.Hour)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	got := e.result()
	if got.Status != billing.PMRejected || got.DecisionID != "dec_1" {
		t.Errorf("result %+v, want rejected by dec_1", got)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMRejected, Reason: "fraud", DecidedBy: "key_rep1"})
	e.wantMails("We received your ", "was rejected")
}

func TestCardValidationMailRetriedUntilDelivered(t *testing.T) {
	sender := &flakySender{outbox: &mailtest.Outbox{}, failOn: "was validated", failures: 3}
	e := newCardEnv(t, sender)
	e.outbox = sender.outbox
	e.signal(time.Minute, workflows.RepDecision{DecisionID: "dec_a", Decision: billing.DecisionApprove, RepID: "key_rep"})
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	if got := e.result(); got.Status != billing.PMValidated {
		t.Errorf("result %+v, want validated", got)
	}
	e.wantMails("We received your ", "was validated")
	if sender.attempts() != 5 {
		t.Errorf("mail attempts = %d, want 5 (1 submitted + 3 failed + 1 delivered)", sender.attempts())
	}
	// Backoff 1s, 2s, 4s between the attempts.
	if elapsed := e.Now().Sub(e.start); elapsed < time.Minute+7*time.Second {
		t.Errorf("workflow ended %v after start, want the mail retried with backoff (>= 1m7s)", elapsed)
	}
}

// A mail the server refuses for good is not retried and does not undo the decision.
func TestCardValidationPermanentMailFailure(t *testing.T) {
	sender := &flakySender{outbox: &mailtest.Outbox{}, failOn: "was validated", failures: 100,
		err: mail.ErrInvalidMessage}
	e := newCardEnv(t, sender)
	e.outbox = sender.outbox
	e.signal(time.Minute, workflows.RepDecision{Decision: billing.DecisionApprove, RepID: "key_rep"})
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))
	if got := e.result(); got.Status != billing.PMValidated {
		t.Errorf("result %+v, want validated", got)
	}
	if sender.attempts() != 2 {
		t.Errorf("mail attempts = %d, want 2 (the refused one not retried)", sender.attempts())
	}
}

// flakySender fails the first failures sends whose subject contains failOn.
type flakySender struct {
	outbox   *mailtest.Outbox
	failOn   string
	err      error // returned on failure; a temporary error when nil
	mu       sync.Mutex
	failures int
	tries    int
}

func (f *flakySender) Send(ctx context.Context, m mail.Message) error {
	f.mu.Lock()
	f.tries++
	fail := strings.Contains(m.Subject, f.failOn) && f.failures > 0
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		if f.err != nil {
			return f.err
		}
		return errors.New("451 4.3.0 mailbox temporarily unavailable")
	}
	return f.outbox.Send(ctx, m)
}

func (f *flakySender) attempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tries
}

// An operator cancelling the workflow still leaves the card with a final status and a mail,
// never pending with nobody to decide it.
func TestCardValidationCanceledByOperator(t *testing.T) {
	e := newCardEnv(t, nil)
	e.RegisterDelayedCallback(e.CancelWorkflow, time.Hour)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	if got := e.result(); got.Status != billing.PMExpired || got.Reason != workflows.CanceledReason {
		t.Errorf("result %+v, want expired because canceled", got)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMExpired, Reason: workflows.CanceledReason})
	e.wantMails("We received your ", "was not validated in time")
}

// updateResult is what a test update's callbacks saw: accepted or rejected, and the answer.
type updateResult[T any] struct {
	accepted, completed bool
	rejected            error
	answer              T
	err                 error
}

// callbacks records the update's progress into r.
func (r *updateResult[T]) callbacks(t *testing.T) *testsuite.TestUpdateCallback {
	return &testsuite.TestUpdateCallback{
		OnAccept: func() { r.accepted = true },
		OnReject: func(err error) { r.rejected = err },
		OnComplete: func(v any, err error) {
			r.completed, r.err = true, err
			if err == nil {
				a, ok := v.(T)
				if !ok {
					t.Errorf("update answered %T %+v, want %T", v, v, r.answer)
				}
				r.answer = a
			}
		},
	}
}

// rejectedAs checks the update was refused with an error of type errType.
func (r *updateResult[T]) rejectedAs(t *testing.T, errType string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if r.accepted || !errors.As(r.rejected, &appErr) || appErr.Type() != errType {
		t.Errorf("update accepted=%v rejected with %v, want refused as %s", r.accepted, r.rejected, errType)
	}
}

// The rep-decision update is taken like the signal and answers the recorded status with the
// decision that won.
func TestCardValidationRepDecisionUpdateAnswersTheNewStatus(t *testing.T) {
	e := newCardEnv(t, nil)
	var r updateResult[workflows.CardValidationState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_1", r.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_u", Decision: billing.DecisionApprove, Reason: "checked", RepID: "key_rep"})
	}, time.Hour)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	if !r.accepted || !r.completed || r.err != nil {
		t.Fatalf("update accepted=%v completed=%v err=%v rejected=%v, want accepted and answered", r.accepted, r.completed, r.err, r.rejected)
	}
	if r.answer.Status != billing.PMValidated || r.answer.DecisionID != "dec_u" || r.answer.DecidedBy != "key_rep" {
		t.Errorf("update answered %+v, want validated by dec_u", r.answer)
	}
	if got := e.result(); got != r.answer {
		t.Errorf("workflow returned %+v, the update answered %+v", got, r.answer)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMValidated, Reason: "checked", DecidedBy: "key_rep"})
	e.wantMails("We received your ", "was validated")
}

// Two decisions by update at once: the first is taken. The second is refused as
// already_decided, or, when both were accepted while the card was pending, answered with
// the first's outcome; either way its rep learns it lost.
func TestCardValidationRepDecisionUpdatesRaceOneWins(t *testing.T) {
	e := newCardEnv(t, nil)
	var first, second updateResult[workflows.CardValidationState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_1", first.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_1", Decision: billing.DecisionReject, Reason: "fraud", RepID: "key_rep1"})
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_2", second.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_2", Decision: billing.DecisionApprove, RepID: "key_rep2"})
	}, time.Hour)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	got := e.result()
	if got.Status != billing.PMRejected || got.DecisionID != "dec_1" {
		t.Fatalf("result %+v, want rejected by dec_1", got)
	}
	if !first.completed || first.err != nil || first.answer != got {
		t.Errorf("the first update answered %+v (err %v, rejected %v), want %+v", first.answer, first.err, first.rejected, got)
	}
	if second.accepted {
		if !second.completed || second.err != nil || second.answer != got {
			t.Errorf("the second update answered %+v (err %v), want the first's outcome %+v", second.answer, second.err, got)
		}
	} else {
		second.rejectedAs(t, workflows.ErrTypeAlreadyDecided)
	}
	if n := len(e.recorded); n != 1 {
		t.Errorf("%d decisions recorded, want 1", n)
	}
}

// The validator refuses what the wait would not take, before it enters the history: a
// decision neither approve nor reject, and any decision once the card is decided (here while
// the outcome mail is retried, so the workflow still runs).
func TestCardValidationRepDecisionUpdateRefused(t *testing.T) {
	sender := &flakySender{outbox: &mailtest.Outbox{}, failOn: "was validated", failures: 3}
	e := newCardEnv(t, sender)
	e.outbox = sender.outbox
	var malformed, first, late updateResult[workflows.CardValidationState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_bad", malformed.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_bad", Decision: "maybe", RepID: "key_rep"})
	}, 30*time.Minute)
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PMPendingValidation {
			t.Errorf("after the refused decision the card is %s, want pending_validation", st.Status)
		}
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_1", first.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_1", Decision: billing.DecisionApprove, RepID: "key_rep"})
	}, time.Hour)
	var stillRunning bool
	e.RegisterDelayedCallback(func() {
		stillRunning = !e.IsWorkflowCompleted()
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_late", late.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_late", Decision: billing.DecisionReject, RepID: "key_rep2"})
	}, time.Hour+2*time.Second) // the outcome mail fails and is retried 1s, 2s, 4s later
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))

	malformed.rejectedAs(t, workflows.ErrTypeInvalidRequest)
	if !stillRunning {
		t.Fatal("the workflow had ended before the late decision; the test proves nothing")
	}
	late.rejectedAs(t, workflows.ErrTypeAlreadyDecided)
	if got := e.result(); got.Status != billing.PMValidated || got.DecisionID != "dec_1" || first.answer != got {
		t.Errorf("result %+v, first update answered %+v; want both validated by dec_1", got, first.answer)
	}
	e.wantRecorded(activities.CardDecision{PaymentMethodID: "pm_test1", Status: billing.PMValidated, DecidedBy: "key_rep"})
}

// An update on a card that expired in the meantime is refused.
func TestCardValidationRepDecisionUpdateAfterTheDeadline(t *testing.T) {
	sender := &flakySender{outbox: &mailtest.Outbox{}, failOn: "not validated in time", failures: 1}
	e := newCardEnv(t, sender)
	e.outbox = sender.outbox
	var late updateResult[workflows.CardValidationState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateRepDecision, "upd_late", late.callbacks(t),
			workflows.RepDecision{DecisionID: "dec_late", Decision: billing.DecisionApprove, RepID: "key_rep"})
	}, 24*time.Hour+500*time.Millisecond)
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))
	late.rejectedAs(t, workflows.ErrTypeAlreadyDecided)
	if got := e.result(); got.Status != billing.PMExpired {
		t.Errorf("result %+v, want expired", got)
	}
}

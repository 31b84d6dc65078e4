package portal_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

// scriptedTemporal is a Temporal client whose workflows a test plays: each call the test
// scripts answers as the func says; a call left unscripted fails the test. Every call is
// recorded by its name.
type scriptedTemporal struct {
	client.Client
	t      *testing.T
	mu     sync.Mutex
	calls  []string
	start  func() error                                         // ExecuteWorkflow
	uws    func() (answer any, err error)                       // UpdateWithStartWorkflow, then Get
	update func(opts client.UpdateWorkflowOptions) (any, error) // UpdateWorkflow, then Get
	signal func(name string, arg any) error
	query  func() (any, error)
}

func (s *scriptedTemporal) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *scriptedTemporal) called(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c == call {
			n++
		}
	}
	return n
}

func (s *scriptedTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	s.record("start")
	if s.start == nil {
		s.t.Error("unexpected plain start")
		return nil, nil
	}
	return nil, s.start()
}

func (s *scriptedTemporal) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return nil
}

func (s *scriptedTemporal) UpdateWithStartWorkflow(_ context.Context, opts client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	s.record("update-with-start")
	if opts.UpdateOptions.UpdateName != workflows.UpdatePaymentStarted {
		s.t.Errorf("update-with-start sends %q, want %q", opts.UpdateOptions.UpdateName, workflows.UpdatePaymentStarted)
	}
	if s.uws == nil {
		s.t.Error("unexpected update-with-start")
		return nil, errors.New("unscripted")
	}
	answer, err := s.uws()
	if err != nil && answer == nil {
		return nil, err
	}
	return answered{answer, err}, nil
}

func (s *scriptedTemporal) UpdateWorkflow(_ context.Context, opts client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	s.record("update " + opts.UpdateName)
	if s.update == nil {
		s.t.Errorf("unexpected update %s", opts.UpdateName)
		return nil, errors.New("unscripted")
	}
	answer, err := s.update(opts)
	return answered{answer, err}, nil
}

func (s *scriptedTemporal) SignalWorkflow(_ context.Context, _, _, name string, arg any) error {
	s.record("signal " + name)
	if s.signal == nil {
		s.t.Errorf("unexpected signal %s", name)
		return nil
	}
	return s.signal(name, arg)
}

func (s *scriptedTemporal) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	s.record("query")
	if s.query == nil {
		s.t.Error("unexpected query")
		return nil, errNoWorker
	}
	v, err := s.query()
	if err != nil {
		return nil, err
	}
	return encoded{v}, nil
}

// answered is an update's outcome: the answer, or the workflow's refusal or failure.
type answered struct {
	answer any
	err    error
}

func (a answered) WorkflowID() string { return "" }
func (a answered) RunID() string      { return "" }
func (a answered) UpdateID() string   { return "" }
func (a answered) Get(_ context.Context, into any) error {
	if a.err != nil {
		return a.err
	}
	return encoded{a.answer}.Get(into)
}

// encoded is a value as it comes back from a workflow: decoded into the caller's type.
type encoded struct{ v any }

func (e encoded) HasValue() bool { return e.v != nil }
func (e encoded) Get(into any) error {
	raw, err := json.Marshal(e.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, into)
}

// unknownUpdate is how a run refuses an update it registers no handler for (the SDK's words).
func unknownUpdate(name string) error {
	return temporal.NewApplicationError("unknown update "+name+". KnownUpdates=[payment-started]", "")
}

func paymentsWith(t *testing.T, db *postgres.DB, tc *scriptedTemporal) *portal.Payments {
	clock := &billing.FixedClock{T: portalNow}
	tc.t = t
	return &portal.Payments{DB: db, Temporal: tc, Processor: sandbox.NewCardProcessor(db.Pool, clock), Clock: clock,
		TaskQueue: "updates-test", RequestHashKey: []byte("a test secret of thirty-two bytes!"),
		OutcomeWait: 300 * time.Millisecond, CardOutcomeWait: 300 * time.Millisecond}
}

// The POST answers what the saga answers its start update with, as stored: a PayPal payment
// with its approval_url.
func TestCreateAnswersWhatTheStartUpdateAnswers(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	tc := &scriptedTemporal{}
	s := paymentsWith(t, db, tc)
	tc.uws = func() (any, error) {
		// The saga: the order is created and recorded, then the update is answered.
		var id string
		if err := db.Pool.QueryRow(ctx, `SELECT id FROM payments ORDER BY created_at DESC LIMIT 1`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkPaymentRequiresAction(ctx, id, "ORDER-A", "https://paypal.example/approve?token=ORDER-A"); err != nil {
			t.Fatal(err)
		}
		return workflows.PaymentState{Status: billing.PaymentRequiresAction, ApprovalURL: "https://paypal.example/approve?token=ORDER-A"}, nil
	}
	p, created, err := s.Create(ctx, devdata.DemoAccountID, portal.NewPayment{IdempotencyKey: "pp-1",
		Amount: billing.Money{Amount: 1000, Currency: "USD"}, Method: billing.MethodPayPal})
	if err != nil || !created || p.Status != billing.PaymentRequiresAction || p.ApprovalURL == "" {
		t.Fatalf("create answered %+v created=%v err=%v, want requires_action with the approval URL", p, created, err)
	}
	if tc.called("start") != 0 || tc.called("query") != 0 {
		t.Errorf("calls %v, want the update-with-start alone", tc.calls)
	}
}

// A card payment the saga answers succeeded, with when the books took it, is answered from
// that answer: the row is not read again. Without the time (a worker from before it), the row
// is the answer.
func TestCreateAnswersASucceededPaymentFromTheSagasAnswer(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	booked := portalNow.Add(2 * time.Second)
	tc := &scriptedTemporal{uws: func() (any, error) {
		// The row stays processing here, so an answer read from it would say so.
		return workflows.PaymentState{Status: billing.PaymentSucceeded, CaptureID: "cap_1", CompletedAt: &booked}, nil
	}}
	s := paymentsWith(t, db, tc)
	p, created, err := s.Create(ctx, devdata.DemoAccountID, cardPayment("k-ok", "4242424242424242", "123"))
	if err != nil || !created || p.Status != billing.PaymentSucceeded || p.CompletedAt == nil || !p.CompletedAt.Equal(booked) ||
		p.CardLast4 != "4242" || p.Amount.Amount == 0 {
		t.Fatalf("create answered %+v created=%v err=%v, want the stored payment, succeeded at %v", p, created, err, booked)
	}

	tc.uws = func() (any, error) { return workflows.PaymentState{Status: billing.PaymentSucceeded}, nil }
	p, _, err = s.Create(ctx, devdata.DemoAccountID, cardPayment("k-old-worker", "4242424242424242", "123"))
	if err != nil || p.Status != billing.PaymentProcessing || p.CompletedAt != nil {
		t.Fatalf("create answered %+v, %v; want the row as it stands (processing)", p, err)
	}
}

// When Temporal cannot be reached the payment stays stored and the answer is a 503, as
// before the updates; the client's retry with the key starts the saga.
func TestCreateWithTemporalUnreachableIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	down := serviceerror.NewUnavailable("connection refused")
	tc := &scriptedTemporal{uws: func() (any, error) { return nil, down }, start: func() error { return down }}
	s := paymentsWith(t, db, tc)
	in := cardPayment("k-down", "4242424242424242", "123")
	if _, _, err := s.Create(ctx, devdata.DemoAccountID, in); billing.KindOf(err) != billing.KindUnavailable {
		t.Fatalf("create with Temporal down: %v, want unavailable (503)", err)
	}
	if tc.called("update-with-start") != 1 || tc.called("start") != 1 {
		t.Errorf("calls %v, want an update-with-start, then a plain start", tc.calls)
	}

	// Temporal is back, the saga takes its time: the replay answers the payment processing.
	tc.uws = func() (any, error) { return nil, context.DeadlineExceeded }
	tc.start = func() error { return nil }
	p, created, err := s.Create(ctx, devdata.DemoAccountID, in)
	if err != nil || created || p.Status != billing.PaymentProcessing {
		t.Fatalf("replay: %+v created=%v err=%v, want the stored payment, processing", p, created, err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d payments stored (err %v), want 1", n, err)
	}
}

// A replay of a payment that has ended starts nothing and asks nothing: the row is the answer.
func TestReplayOfAFinishedPaymentStartsNothing(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	tc := &scriptedTemporal{uws: func() (any, error) { return nil, context.DeadlineExceeded }, start: func() error { return nil }}
	s := paymentsWith(t, db, tc)
	in := cardPayment("k-done", "4242424242424242", "123")
	first, _, err := s.Create(ctx, devdata.DemoAccountID, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishPayment(ctx, first.ID, billing.PaymentFailed, &billing.Failure{Code: "card_declined", Message: "no"}, portalNow); err != nil {
		t.Fatal(err)
	}
	tc.mu.Lock()
	tc.calls = nil
	tc.mu.Unlock()
	again, created, err := s.Create(ctx, devdata.DemoAccountID, in)
	if err != nil || created || again.ID != first.ID || again.Status != billing.PaymentFailed {
		t.Fatalf("replay: %+v created=%v err=%v, want the failed payment", again, created, err)
	}
	if len(tc.calls) != 0 {
		t.Errorf("a replay of a finished payment called Temporal: %v", tc.calls)
	}
}

// The saga's validator refuses the cancel: 409 not_cancelable in its words, no signal sent.
func TestCancelRefusedByTheSaga(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	tc := &scriptedTemporal{update: func(client.UpdateWorkflowOptions) (any, error) {
		return nil, temporal.NewApplicationError("payment pay_x is processing; only a payment waiting for PayPal approval (requires_action) can be canceled",
			workflows.ErrTypeNotCancelable, billing.PaymentProcessing)
	}}
	s := paymentsWith(t, db, tc)
	p := waitingPayPalPayment(t, db, "ORDER"+billing.NewID(""))
	_, _, err := s.Cancel(ctx, devdata.DemoAccountID, p.ID, "")
	if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeNotCancelable {
		t.Fatalf("cancel: %v, want 409 not_cancelable", err)
	}
	if tc.called("update "+workflows.UpdateCancelPayment) != 1 || tc.called("signal "+workflows.SignalCancel) != 0 {
		t.Errorf("calls %v, want the update alone", tc.calls)
	}
}

// A run from before the cancel update refuses it as unknown: the API signals, as it used to,
// and waits on the run's status query (not the database) for the cancel to land. The query is
// answered in the old worker's shape ({"Status"}) and in today's ({"status"}): during a rolling
// deploy either worker may answer.
func TestCancelFallsBackToTheSignalForOldRuns(t *testing.T) {
	t.Run("old status shape", func(t *testing.T) {
		cancelBySignal(t, func(st billing.PaymentStatus) any { return workflows.PaymentState{Status: st} })
	})
	t.Run("status query shape", func(t *testing.T) {
		cancelBySignal(t, func(st billing.PaymentStatus) any { return workflows.PaymentStatusQuery{Status: st} })
	})
}

func cancelBySignal(t *testing.T, answer func(billing.PaymentStatus) any) {
	ctx := context.Background()
	db := seededDB(t)
	tc := &scriptedTemporal{}
	s := paymentsWith(t, db, tc)
	p := waitingPayPalPayment(t, db, "ORDER"+billing.NewID(""))
	var mu sync.Mutex
	state := workflows.PaymentState{Status: billing.PaymentRequiresAction}
	tc.update = func(client.UpdateWorkflowOptions) (any, error) {
		return nil, unknownUpdate(workflows.UpdateCancelPayment)
	}
	tc.signal = func(name string, _ any) error {
		go func() { // the old saga voids the order and records the end a moment later
			time.Sleep(100 * time.Millisecond)
			if err := db.FinishPayment(ctx, p.ID, billing.PaymentCanceled, nil, portalNow); err != nil {
				t.Error(err)
			}
			mu.Lock()
			state.Status = billing.PaymentCanceled
			mu.Unlock()
		}()
		return nil
	}
	tc.query = func() (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return answer(state.Status), nil
	}
	got, _, err := s.Cancel(ctx, devdata.DemoAccountID, p.ID, "")
	if err != nil || got.Status != billing.PaymentCanceled {
		t.Fatalf("cancel of an old run: %+v err=%v, want canceled", got, err)
	}
	if tc.called("signal "+workflows.SignalCancel) != 1 || tc.called("query") < 2 {
		t.Errorf("calls %v, want the update, the signal, then status queries", tc.calls)
	}
}

func pendingCard(t *testing.T, db *postgres.DB) billing.PaymentMethod {
	t.Helper()
	id := billing.NewID(billing.PrefixPaymentMethod)
	pm := billing.PaymentMethod{
		ID: id, AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation, ProcessorToken: "tok_" + id,
		Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Ada", ContactEmail: "a@example.com",
		BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
		CreatedAt:      portalNow, ValidationDeadline: portalNow.Add(24 * time.Hour),
		WorkflowID: workflows.CardValidationWorkflowID(id),
	}
	if err := db.CreatePaymentMethod(context.Background(), pm); err != nil {
		t.Fatal(err)
	}
	return pm
}

func cardsWith(t *testing.T, db *postgres.DB, tc *scriptedTemporal) *portal.Cards {
	tc.t = t
	return &portal.Cards{DB: db, Temporal: tc, Clock: &billing.FixedClock{T: portalNow}, DecisionWait: time.Second}
}

// decideInDB is what the card workflow's record step does.
func decideInDB(t *testing.T, db *postgres.DB, pmID string, d workflows.RepDecision) workflows.CardValidationState {
	t.Helper()
	status := billing.PMRejected
	if d.Decision == billing.DecisionApprove {
		status = billing.PMValidated
	}
	if _, _, err := db.DecidePaymentMethod(context.Background(), postgres.CardDecision{PaymentMethodID: pmID, Status: status,
		Reason: d.Reason, DecidedBy: d.RepID, At: portalNow}); err != nil {
		t.Fatal(err)
	}
	return workflows.CardValidationState{Status: status, DecisionID: d.DecisionID, Reason: d.Reason, DecidedBy: d.RepID}
}

// The workflow answers the update with the recorded status: 200 for the decision that won,
// 409 already_decided for one it accepted but that lost, and for one its validator refused.
func TestDecideAnswersWhatTheWorkflowAnswers(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)

	t.Run("won", func(t *testing.T) {
		pm := pendingCard(t, db)
		tc := &scriptedTemporal{update: func(opts client.UpdateWorkflowOptions) (any, error) {
			return decideInDB(t, db, pm.ID, opts.Args[0].(workflows.RepDecision)), nil
		}}
		got, _, err := cardsWith(t, db, tc).Decide(ctx, "key_rep", pm.ID, billing.DecisionApprove, "ok", "")
		if err != nil || got.Status != billing.PMValidated || got.DecidedBy != "key_rep" {
			t.Fatalf("decide: %+v err=%v, want validated by key_rep", got, err)
		}
		if tc.called("signal "+workflows.SignalRepDecision) != 0 || tc.called("query") != 0 {
			t.Errorf("calls %v, want the update alone", tc.calls)
		}
	})
	t.Run("lost", func(t *testing.T) {
		pm := pendingCard(t, db)
		tc := &scriptedTemporal{update: func(opts client.UpdateWorkflowOptions) (any, error) {
			return decideInDB(t, db, pm.ID, workflows.RepDecision{DecisionID: "dec_other", Decision: billing.DecisionReject, RepID: "key_other"}), nil
		}}
		_, _, err := cardsWith(t, db, tc).Decide(ctx, "key_rep", pm.ID, billing.DecisionApprove, "", "")
		if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeAlreadyDecided {
			t.Fatalf("decide that lost: %v, want 409 already_decided", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		pm := pendingCard(t, db)
		tc := &scriptedTemporal{update: func(client.UpdateWorkflowOptions) (any, error) {
			return nil, temporal.NewApplicationError("the card is already being decided", workflows.ErrTypeAlreadyDecided)
		}}
		_, _, err := cardsWith(t, db, tc).Decide(ctx, "key_rep", pm.ID, billing.DecisionApprove, "", "")
		if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeAlreadyDecided {
			t.Fatalf("decide refused by the workflow: %v, want 409 already_decided", err)
		}
	})
}

// A card workflow from before the update refuses it as unknown: the API signals and waits on
// the status query for the outcome, which names the decision that won.
func TestDecideFallsBackToTheSignalForOldRuns(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	pm := pendingCard(t, db)
	var mu sync.Mutex
	state := workflows.CardValidationState{Status: billing.PMPendingValidation}
	tc := &scriptedTemporal{
		update: func(client.UpdateWorkflowOptions) (any, error) {
			return nil, unknownUpdate(workflows.UpdateRepDecision)
		},
		signal: func(_ string, arg any) error {
			d := arg.(workflows.RepDecision)
			go func() {
				time.Sleep(100 * time.Millisecond)
				st := decideInDB(t, db, pm.ID, d)
				mu.Lock()
				state = st
				mu.Unlock()
			}()
			return nil
		},
		query: func() (any, error) {
			mu.Lock()
			defer mu.Unlock()
			return state, nil
		},
	}
	got, _, err := cardsWith(t, db, tc).Decide(ctx, "key_rep", pm.ID, billing.DecisionReject, "no match", "")
	if err != nil || got.Status != billing.PMRejected || got.DecisionReason != "no match" {
		t.Fatalf("decide on an old run: %+v err=%v, want rejected", got, err)
	}
	if tc.called("signal "+workflows.SignalRepDecision) != 1 || tc.called("query") < 2 {
		t.Errorf("calls %v, want the update, the signal, then status queries", tc.calls)
	}
}

// A decision the workflow accepted but whose answer was lost (the API that sent it died; its
// recording waits for a worker) is sent again with its key as the same update, and answered
// with that update's outcome (200, replayed), not refused as "being decided".
func TestDecisionRetriedWithItsKeyIsTheSameUpdate(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	pm := pendingCard(t, db)
	var (
		mu       sync.Mutex
		accepted = map[string]workflows.RepDecision{} // what the server holds, by update ID
		ids      []string
	)
	tc := &scriptedTemporal{update: func(opts client.UpdateWorkflowOptions) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, opts.UpdateID)
		d := opts.Args[0].(workflows.RepDecision)
		if _, ok := accepted[opts.UpdateID]; ok { // the same update: the worker is back, it records it
			return decideInDB(t, db, pm.ID, d), nil
		}
		if len(accepted) > 0 { // another update: the validator refuses it
			return nil, temporal.NewApplicationError("the card is already being decided", workflows.ErrTypeAlreadyDecided)
		}
		accepted[opts.UpdateID] = d
		return nil, errors.New("connection reset by peer") // accepted; the answer is lost
	}}
	rep, err := db.CallerByAPIKey(ctx, devdata.DemoRepKey) // a key's claim names a real rep key
	if err != nil {
		t.Fatal(err)
	}
	cards := cardsWith(t, db, tc)
	if _, _, err := cards.Decide(ctx, rep.KeyID, pm.ID, billing.DecisionApprove, "ok", "decide-1"); err == nil {
		t.Fatal("the first request's answer was lost, yet it answered")
	}
	got, replayed, err := cards.Decide(ctx, rep.KeyID, pm.ID, billing.DecisionApprove, "ok", "decide-1")
	if err != nil || !replayed || got.Status != billing.PMValidated || got.DecidedBy != rep.KeyID {
		t.Fatalf("retry with the key: %+v replayed=%v err=%v, want validated by %s, replayed", got, replayed, err, rep.KeyID)
	}
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("update IDs %q, want one ID sent twice", ids)
	}
}

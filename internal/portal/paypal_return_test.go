package portal_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

var portalNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// recordingTemporal stands in for the Temporal client: starts succeed, signals are recorded,
// and no saga ever answers (updates and status queries fail as if no worker polled). Any
// other call panics (the embedded interface is nil): these tests make none.
type recordingTemporal struct {
	client.Client
	mu      sync.Mutex
	signals []workflows.PayPalReturnSignal
	starts  int
}

func (r *recordingTemporal) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	return nil, nil
}

func (r *recordingTemporal) NewWithStartWorkflowOperation(client.StartWorkflowOptions, any, ...any) client.WithStartWorkflowOperation {
	return nil
}

func (r *recordingTemporal) UpdateWithStartWorkflow(context.Context, client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts++
	return unansweredUpdate{}, nil
}

func (r *recordingTemporal) QueryWorkflow(context.Context, string, string, string, ...any) (converter.EncodedValue, error) {
	return nil, errNoWorker
}

var errNoWorker = errors.New("no worker polls this test's task queue")

// unansweredUpdate is an update a saga took but never answered.
type unansweredUpdate struct{ client.WorkflowUpdateHandle }

func (unansweredUpdate) Get(context.Context, any) error { return errNoWorker }

func (r *recordingTemporal) SignalWorkflow(_ context.Context, _, _, name string, arg any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := arg.(workflows.PayPalReturnSignal); ok && name == workflows.SignalPayPalReturn {
		r.signals = append(r.signals, s)
	}
	return nil
}

func (r *recordingTemporal) returns() []workflows.PayPalReturnSignal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]workflows.PayPalReturnSignal(nil), r.signals...)
}

// lookupPayPal answers LookupOrder with state or err; nothing else is called.
type lookupPayPal struct {
	gateway.PayPal
	state   gateway.OrderState
	err     error
	lookups int
}

func (p *lookupPayPal) LookupOrder(_ context.Context, orderID string) (gateway.OrderState, error) {
	p.lookups++
	s := p.state
	s.ID = orderID
	return s, p.err
}

func seededDB(t *testing.T) *postgres.DB {
	t.Helper()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, portalNow); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return db
}

// waitingPayPalPayment stores a PayPal payment waiting for the buyer on order orderID.
func waitingPayPalPayment(t *testing.T, db *postgres.DB, orderID string) billing.Payment {
	t.Helper()
	ctx := context.Background()
	id := billing.NewID(billing.PrefixPayment)
	p := billing.Payment{ID: id, AccountID: devdata.DemoAccountID, Status: billing.PaymentProcessing, Method: billing.MethodPayPal,
		Amount: billing.Money{Amount: 2000, Currency: "USD"}, ReturnURL: "https://shop.example/back", CreatedAt: portalNow,
		WorkflowID: workflows.PaymentWorkflowID(id)}
	if _, _, err := db.CreatePayment(ctx, p, "key-"+id, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkPaymentRequiresAction(ctx, id, orderID, "https://paypal.example/approve?token="+orderID); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPayPalReturnSignalsOnlyApprovalsPayPalConfirms: an "approved" return is passed to the
// saga only when PayPal says the order is approved (or captured); otherwise the payment is
// answered as it stands and the saga's history does not grow. A cancel return and a return
// PayPal cannot be asked about are passed on as before; a payment that has moved on is only
// answered, and the API is told it no longer waited (no redirect).
func TestPayPalReturnSignalsOnlyApprovalsPayPalConfirms(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	for _, tc := range []struct {
		name       string
		approved   bool
		order      gateway.OrderState
		lookupErr  error
		wantSignal []workflows.PayPalReturnSignal
		wantLookup bool
	}{
		{name: "not approved at PayPal", approved: true, order: gateway.OrderState{Status: gateway.OrderCreated}, wantLookup: true},
		{name: "closed at PayPal", approved: true, order: gateway.OrderState{Status: gateway.OrderClosed}, wantLookup: true},
		{name: "approved at PayPal", approved: true, order: gateway.OrderState{Status: gateway.OrderApproved}, wantLookup: true,
			wantSignal: []workflows.PayPalReturnSignal{{Approved: true}}},
		{name: "captured at PayPal", approved: true, order: gateway.OrderState{Status: gateway.OrderCaptured}, wantLookup: true,
			wantSignal: []workflows.PayPalReturnSignal{{Approved: true}}},
		{name: "PayPal cannot be asked", approved: true, lookupErr: gateway.Transient("timeout", errors.New("no answer")), wantLookup: true,
			wantSignal: []workflows.PayPalReturnSignal{{Approved: true}}},
		{name: "cancel link", approved: false, wantSignal: []workflows.PayPalReturnSignal{{Approved: false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			temporal, paypal := &recordingTemporal{}, &lookupPayPal{state: tc.order, err: tc.lookupErr}
			s := &portal.Payments{DB: db, Temporal: temporal, PayPal: paypal, Clock: &billing.FixedClock{T: portalNow},
				OutcomeWait: 50 * time.Millisecond}
			orderID := "ORDER" + billing.NewID("")
			p := waitingPayPalPayment(t, db, orderID)
			// A buyer hammering the link: three visits.
			for range 3 {
				got, waited, err := s.PayPalReturn(ctx, orderID, tc.approved)
				if err != nil || got.ID != p.ID || !waited {
					t.Fatalf("return: %+v waited=%v err=%v, want the payment, waited", got, waited, err)
				}
			}
			want := tc.wantSignal
			if len(want) > 0 { // every visit signals: the fake saga never acts, the payment stays waiting
				want = append(append(append([]workflows.PayPalReturnSignal(nil), want...), want...), want...)
			}
			if got := temporal.returns(); len(got) != len(want) || (len(want) > 0 && got[0] != want[0]) {
				t.Errorf("signals %v, want %v", got, want)
			}
			if (paypal.lookups > 0) != tc.wantLookup {
				t.Errorf("%d lookups at PayPal, want some: %v", paypal.lookups, tc.wantLookup)
			}
		})
	}

	t.Run("payment moved on", func(t *testing.T) {
		temporal, paypal := &recordingTemporal{}, &lookupPayPal{state: gateway.OrderState{Status: gateway.OrderApproved}}
		s := &portal.Payments{DB: db, Temporal: temporal, PayPal: paypal, Clock: &billing.FixedClock{T: portalNow}}
		orderID := "ORDER" + billing.NewID("")
		p := waitingPayPalPayment(t, db, orderID)
		if err := db.MarkPaymentProcessing(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		got, waited, err := s.PayPalReturn(ctx, orderID, true)
		if err != nil || got.Status != billing.PaymentProcessing || waited {
			t.Errorf("return after approval: %+v waited=%v err=%v, want the processing payment, not waited", got, waited, err)
		}
		if len(temporal.returns()) != 0 || paypal.lookups != 0 {
			t.Errorf("a payment no longer waiting: %d signals, %d lookups; want none", len(temporal.returns()), paypal.lookups)
		}
	})
}

package workflows_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestRecordPaymentHistories runs the payment saga's unhappy paths on the real dev server
// with the real activities and sandbox processors, and saves their histories for
// TestReplayCorpus: a declined card, a card the processor fails twice before it goes
// through, a capture that cannot be booked and is refunded, and a PayPal order nobody
// approves. It runs only when recording (`make record-histories`).
func TestRecordPaymentHistories(t *testing.T) {
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" || os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS") == "" {
		t.Skip("records histories only with PAYPORTAL_RECORD_HISTORY=1 and PAYPORTAL_TEST_TEMPORAL_ADDRESS set")
	}
	c := testenv.TemporalClient(t)
	for _, tc := range []struct {
		name, card string
		method     billing.PaymentMethodKind
		fault      func(w *billingWorld, paymentID string) sandbox.Fault
		want       billing.PaymentStatus
	}{
		{name: "card_declined", card: "4000000000000002", method: billing.MethodCard, want: billing.PaymentFailed},
		{name: "card_retried", card: "4000000000000119", method: billing.MethodCard, want: billing.PaymentSucceeded},
		{name: "card_refunded", card: "4242424242424242", method: billing.MethodCard, want: billing.PaymentExpired,
			fault: func(w *billingWorld, paymentID string) sandbox.Fault {
				// The payment ends another way as the capture commits: booking is refused, the
				// capture refunded.
				return func(op string, committed bool) error {
					if op == sandbox.OpCapture && committed {
						_, err := w.db.Pool.Exec(context.Background(), `UPDATE payments SET status = 'expired', completed_at = now() WHERE id = $1`, paymentID)
						return err
					}
					return nil
				}
			}},
		{name: "paypal_expired", method: billing.MethodPayPal, want: billing.PaymentExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBillingWorld(t)
			queue := w.recordingWorker(t, c, "payment-record-")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			acct, err := w.db.Account(ctx, devdata.DemoAccountID)
			if err != nil {
				t.Fatal(err)
			}
			p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
				Method: tc.method, Amount: billing.Money{Amount: 1500, Currency: acct.Currency}, CreatedAt: w.clock.Now()}
			p.WorkflowID = workflows.PaymentWorkflowID(p.ID)
			if tc.card != "" {
				tok, err := w.cards.Tokenize(ctx, gateway.Card{Number: tc.card, ExpMonth: 12, ExpYear: 2035, CVC: "123", HolderName: "Pat Doe"}, acct.Address)
				if err != nil {
					t.Fatal(err)
				}
				p.CardToken, p.CardBrand, p.CardLast4, p.BillingAddress = tok.Token, tok.Brand, tok.Last4, &acct.Address
			}
			if _, _, err := w.db.CreatePayment(ctx, p, "record-"+p.ID, []byte("fingerprint")); err != nil {
				t.Fatal(err)
			}
			if tc.fault != nil {
				w.cards.SetFault(tc.fault(w, p.ID))
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: p.WorkflowID, TaskQueue: queue}, workflows.TypePayment,
				workflows.PaymentInput{PaymentID: p.ID, AccountID: p.AccountID, Method: p.Method, Amount: p.Amount,
					CardToken: p.CardToken, PayPalApprovalTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			var st workflows.PaymentState
			if err := run.Get(ctx, &st); err != nil {
				t.Fatal(err)
			}
			if got, _ := w.db.PaymentByID(ctx, p.ID); got.Status != tc.want {
				t.Fatalf("payment ended %s (saga says %+v), want %s", got.Status, st, tc.want)
			}
			testenv.RecordWorkflowHistory(t, c, p.WorkflowID, "payment_"+tc.name+"_v5.json")
		})
	}
}

// TestRecordPayment3DSHistories records the card-3ds paths for TestReplayCorpus: the
// 3-D Secure test card paid on session, its challenge completed (then captured) or left to
// time out (then voided). It runs only when recording.
func TestRecordPayment3DSHistories(t *testing.T) {
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" || os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS") == "" {
		t.Skip("records histories only with PAYPORTAL_RECORD_HISTORY=1 and PAYPORTAL_TEST_TEMPORAL_ADDRESS set")
	}
	c := testenv.TemporalClient(t)
	for _, tc := range []struct {
		name     string
		complete bool
		want     billing.PaymentStatus
	}{
		{name: "card_3ds_succeeded", complete: true, want: billing.PaymentSucceeded},
		{name: "card_3ds_timed_out", want: billing.PaymentFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBillingWorld(t)
			w.cards.WithPublicURL("http://portal.test")
			queue := w.recordingWorker(t, c, "payment-record-")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			acct, err := w.db.Account(ctx, devdata.DemoAccountID)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := w.cards.Tokenize(ctx, gateway.Card{Number: "4000002500003155", ExpMonth: 12, ExpYear: 2035, CVC: "123", HolderName: "Pat Doe"}, acct.Address)
			if err != nil {
				t.Fatal(err)
			}
			p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
				Method: billing.MethodCard, Amount: billing.Money{Amount: 1500, Currency: acct.Currency}, CreatedAt: w.clock.Now(),
				CardToken: tok.Token, CardBrand: tok.Brand, CardLast4: tok.Last4, BillingAddress: &acct.Address}
			p.WorkflowID = workflows.PaymentWorkflowID(p.ID)
			if _, _, err := w.db.CreatePayment(ctx, p, "record-"+p.ID, []byte("fingerprint")); err != nil {
				t.Fatal(err)
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: p.WorkflowID, TaskQueue: queue}, workflows.TypePayment,
				workflows.PaymentInput{PaymentID: p.ID, AccountID: p.AccountID, Method: p.Method, Amount: p.Amount,
					CardToken: p.CardToken, OnSession: true, AuthenticationTimeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if tc.complete {
				var authID string
				for authID == "" {
					if got, _ := w.db.PaymentByID(ctx, p.ID); got.Status == billing.PaymentRequiresAction {
						authID = got.AuthorizationID
					} else if ctx.Err() != nil {
						t.Fatal("the payment never asked for 3-D Secure")
					}
					time.Sleep(20 * time.Millisecond)
				}
				if _, err := w.cards.Authenticate(ctx, authID, true); err != nil {
					t.Fatal(err)
				}
				if err := c.SignalWorkflow(ctx, p.WorkflowID, "", workflows.SignalCardAuthenticationReturn, workflows.CardAuthenticationReturnSignal{}); err != nil {
					t.Fatal(err)
				}
			}
			var st workflows.PaymentState
			if err := run.Get(ctx, &st); err != nil {
				t.Fatal(err)
			}
			if got, _ := w.db.PaymentByID(ctx, p.ID); got.Status != tc.want {
				t.Fatalf("payment ended %s (saga says %+v), want %s", got.Status, st, tc.want)
			}
			testenv.RecordWorkflowHistory(t, c, p.WorkflowID, "payment_"+tc.name+"_v5.json")
		})
	}
}

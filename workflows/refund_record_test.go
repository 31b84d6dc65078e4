package workflows_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestRecordRefundHistories runs reps' refunds and a credit on the real dev server with the
// real activities and the sandbox, and saves their histories for TestReplayCorpus: a partial
// refund whose first processor answer is lost, a refund the processor refuses, and a credit.
// It runs only when recording (`make record-histories`).
func TestRecordRefundHistories(t *testing.T) {
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" || os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS") == "" {
		t.Skip("records histories only with PAYPORTAL_RECORD_HISTORY=1 and PAYPORTAL_TEST_TEMPORAL_ADDRESS set")
	}
	c := testenv.TemporalClient(t)
	for _, tc := range []struct {
		name  string
		fault func() sandbox.Fault
		want  billing.RefundStatus
	}{
		{name: "succeeded", want: billing.RefundSucceeded, fault: func() sandbox.Fault {
			lost := false
			return func(op string, committed bool) error {
				if op == sandbox.OpRefund && committed && !lost {
					lost = true
					return gateway.Transient(billing.CodeProcessingError, fmt.Errorf("the answer was lost"))
				}
				return nil
			}
		}},
		{name: "refused", want: billing.RefundFailed, fault: func() sandbox.Fault {
			return func(op string, committed bool) error {
				if op == sandbox.OpRefund && !committed {
					return fmt.Errorf("%w: the charge was disputed", gateway.ErrInvalidState)
				}
				return nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBillingWorld(t)
			queue := w.recordingWorker(t, c, "refund-record-")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			p, rep := w.capturedPayment(t, ctx, 4000)
			r := billing.Refund{ID: billing.NewID(billing.PrefixRefund), PaymentID: p.ID, Amount: billing.Money{Amount: 1500, Currency: p.Amount.Currency},
				Reason: "recorded refund", CreatedBy: rep, CreatedAt: w.clock.Now()}
			r.WorkflowID = workflows.RefundWorkflowID(r.ID)
			if _, _, err := w.db.CreateRefund(ctx, r, postgres.IdempotencyRecord{}); err != nil {
				t.Fatal(err)
			}
			w.cards.SetFault(tc.fault())
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: r.WorkflowID, TaskQueue: queue}, workflows.TypeRefund,
				workflows.RefundInput{RefundID: r.ID, PaymentID: p.ID, AccountID: p.AccountID, Amount: r.Amount})
			if err != nil {
				t.Fatal(err)
			}
			var st workflows.RefundState
			if err := run.Get(ctx, &st); err != nil {
				t.Fatal(err)
			}
			if got, _ := w.db.RefundByID(ctx, r.ID); got.Status != tc.want {
				t.Fatalf("refund ended %s (workflow says %+v), want %s", got.Status, st, tc.want)
			}
			testenv.RecordWorkflowHistory(t, c, r.WorkflowID, "refund_"+tc.name+".json")
		})
	}
	t.Run("credit", func(t *testing.T) {
		w := newBillingWorld(t)
		queue := w.recordingWorker(t, c, "credit-record-")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rep, err := w.db.CallerByAPIKey(ctx, devdata.DemoRepKey)
		if err != nil {
			t.Fatal(err)
		}
		cr := billing.Credit{ID: billing.NewID(billing.PrefixCredit), AccountID: devdata.DemoAccountID,
			Amount: billing.Money{Amount: 900, Currency: "USD"}, Reason: "recorded credit", CreatedBy: rep.KeyID, CreatedAt: w.clock.Now()}
		cr.WorkflowID = workflows.CreditWorkflowID(cr.ID)
		if _, _, err := w.db.CreateCredit(ctx, cr, postgres.IdempotencyRecord{}); err != nil {
			t.Fatal(err)
		}
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: cr.WorkflowID, TaskQueue: queue}, workflows.TypeCredit,
			workflows.CreditInput{CreditID: cr.ID, AccountID: cr.AccountID, Amount: cr.Amount})
		if err != nil {
			t.Fatal(err)
		}
		var st workflows.CreditState
		if err := run.Get(ctx, &st); err != nil || st.Status != billing.CreditIssued {
			t.Fatalf("credit: %+v %v", st, err)
		}
		testenv.RecordWorkflowHistory(t, c, cr.WorkflowID, "credit_issued.json")
	})
}

// capturedPayment is a card payment of the demo account taken by the sandbox and booked,
// and the demo rep's key id.
func (w *billingWorld) capturedPayment(t *testing.T, ctx context.Context, amount int64) (billing.Payment, string) {
	t.Helper()
	acct, err := w.db.Account(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := w.cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2035, CVC: "123", HolderName: "Pat Doe"}, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	p := billing.Payment{ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
		Method: billing.MethodCard, Amount: billing.Money{Amount: amount, Currency: acct.Currency}, CreatedAt: w.clock.Now(),
		CardToken: tok.Token, CardBrand: tok.Brand, CardLast4: tok.Last4, BillingAddress: &acct.Address}
	p.WorkflowID = workflows.PaymentWorkflowID(p.ID)
	if _, _, err := w.db.CreatePayment(ctx, p, "record-"+p.ID, []byte("fingerprint")); err != nil {
		t.Fatal(err)
	}
	auth, err := w.cards.Authorize(ctx, gateway.ChargeRequest{Token: tok.Token, Amount: p.Amount, IdempotencyKey: p.ID + "/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	capture, err := w.cards.Capture(ctx, auth, p.Amount, p.ID+"/capture")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.db.RecordPaymentCapture(ctx, p.ID, capture); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.ApplyPayment(ctx, p.ID, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	rep, err := w.db.CallerByAPIKey(ctx, devdata.DemoRepKey)
	if err != nil {
		t.Fatal(err)
	}
	return p, rep.KeyID
}

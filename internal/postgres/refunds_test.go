package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

// succeededPayment creates and applies a payment of amount on the demo account, with a capture.
func succeededPayment(t *testing.T, db *postgres.DB, amount int64) billing.Payment {
	t.Helper()
	ctx := context.Background()
	p, _, err := db.CreatePayment(ctx, newTestPayment(amount), billing.NewID("k_"), []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordPaymentCapture(ctx, p.ID, "cap_"+p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow); err != nil {
		t.Fatal(err)
	}
	return p
}

func demoRepKeyID(t *testing.T, db *postgres.DB) string {
	t.Helper()
	c, err := db.CallerByAPIKey(context.Background(), devdata.DemoRepKey)
	if err != nil {
		t.Fatal(err)
	}
	return c.KeyID
}

func newRefund(p billing.Payment, rep string, amount int64) billing.Refund {
	id := billing.NewID(billing.PrefixRefund)
	return billing.Refund{ID: id, PaymentID: p.ID, Amount: billing.Money{Amount: amount, Currency: p.Amount.Currency},
		Reason: "goodwill", CreatedBy: rep, CreatedAt: paymentsNow, WorkflowID: workflows.RefundWorkflowID(id)}
}

func checkBooks(t *testing.T, db *postgres.DB) {
	t.Helper()
	findings, err := db.CheckBooks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Errorf("books: %s: %s", f.Kind, f.Detail)
	}
}

// A refund raises what the customer owes by exactly its amount, once however often it is
// booked, shows as a Refund invoice, and keeps the books' invariants.
func TestRefundBooksOnceAndRaisesTheBalance(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	rep := demoRepKeyID(t, db)
	p := succeededPayment(t, db, 5000)
	before, err := db.Balance(ctx, p.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	r, created, err := db.CreateRefund(ctx, newRefund(p, rep, 1200), postgres.IdempotencyRecord{})
	if err != nil || !created || r.Status != billing.RefundPending || r.CreatedByName != devdata.DemoRepName {
		t.Fatalf("create refund: %+v created=%v err=%v", r, created, err)
	}
	for range 3 {
		if r, err = db.BookRefund(ctx, r.ID, "re_1", paymentsNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := db.Balance(ctx, p.AccountID)
	if after-before != 1200 {
		t.Fatalf("balance moved by %d, want +1200", after-before)
	}
	if r.Status != billing.RefundSucceeded || r.InvoiceID == "" || r.ProcessorRefundID != "re_1" {
		t.Fatalf("refund after booking: %+v", r)
	}
	inv, err := db.Invoice(ctx, p.AccountID, r.InvoiceID)
	if err != nil || inv.Type != billing.InvoiceRefund || inv.Total != -1200 || inv.AmountDue() != 0 {
		t.Fatalf("refund invoice: %+v %v", inv, err)
	}
	pay, _ := db.PaymentByID(ctx, p.ID)
	if pay.AmountRefunded != 1200 {
		t.Fatalf("amount_refunded = %d, want 1200", pay.AmountRefunded)
	}
	checkBooks(t, db)
}

// The database holds the limit: concurrent refunds never together exceed the payment, and a
// failed refund frees its amount.
func TestRefundsNeverExceedThePayment(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	rep := demoRepKeyID(t, db)
	p := succeededPayment(t, db, 5000)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var made []billing.Refund
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := db.CreateRefund(ctx, newRefund(p, rep, 1500), postgres.IdempotencyRecord{})
			if err == nil {
				mu.Lock()
				made = append(made, r)
				mu.Unlock()
			} else if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeAmountExceedsRefundable {
				t.Errorf("refund: %v, want amount_exceeds_refundable", err)
			}
		}()
	}
	wg.Wait()
	if len(made) != 3 {
		t.Fatalf("%d refunds of 1500 accepted on a payment of 5000, want 3", len(made))
	}
	// Straight at the table, past the application's check: the constraint refuses.
	_, err := db.Pool.Exec(ctx, `INSERT INTO refunds (id, payment_id, account_id, status, amount, currency, reason, created_by,
		workflow_id, created_at) VALUES ('rf_sneaky', $1, $2, 'pending', 501, 'USD', 'x', $3, 'refund/rf_sneaky', now())`,
		p.ID, p.AccountID, rep)
	if err == nil {
		t.Fatal("a refund past the payment's amount was stored")
	}
	if _, err := db.FailRefund(ctx, made[0].ID, billing.Failure{Code: "processor_refused"}, paymentsNow); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateRefund(ctx, newRefund(p, rep, 2000), postgres.IdempotencyRecord{}); err != nil {
		t.Fatalf("refund after a failed one freed its amount: %v", err)
	}
	if _, err := db.BookRefund(ctx, made[0].ID, "re_x", paymentsNow); err == nil {
		t.Fatal("a failed refund was booked")
	}
	checkBooks(t, db)
}

func TestRefundIdempotencyKeyAndState(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	rep := demoRepKeyID(t, db)
	p := succeededPayment(t, db, 5000)
	key := postgres.IdempotencyRecord{RepKeyID: rep, Key: "k1", RequestHash: []byte("h1")}
	first, created, err := db.CreateRefund(ctx, newRefund(p, rep, 100), key)
	if err != nil || !created {
		t.Fatal(created, err)
	}
	again, created, err := db.CreateRefund(ctx, newRefund(p, rep, 100), key)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("replay: %+v created=%v err=%v, want %s", again, created, err, first.ID)
	}
	other := key
	other.RequestHash = []byte("h2")
	if _, _, err := db.CreateRefund(ctx, newRefund(p, rep, 200), other); billing.ErrorOf(err) == nil ||
		billing.ErrorOf(err).Code != billing.CodeIdempotencyKeyReused {
		t.Fatalf("key reused: %v", err)
	}
	pending := newTestPayment(100)
	if _, _, err := db.CreatePayment(ctx, pending, "kp", []byte("h")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreateRefund(ctx, newRefund(pending, rep, 50), postgres.IdempotencyRecord{}); billing.ErrorOf(err) == nil ||
		billing.ErrorOf(err).Code != billing.CodeNotRefundable {
		t.Fatalf("refund of a processing payment: %v, want payment_not_refundable", err)
	}
}

// A credit lowers what the customer owes by its amount, once, as a Credit invoice applied to
// open invoices, with its event.
func TestCreditIsIssuedOnce(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	rep := demoRepKeyID(t, db)
	before, _ := db.Balance(ctx, devdata.DemoAccountID)
	id := billing.NewID(billing.PrefixCredit)
	c, created, err := db.CreateCredit(ctx, billing.Credit{ID: id, AccountID: devdata.DemoAccountID,
		Amount: billing.Money{Amount: 700, Currency: "USD"}, Reason: "outage", CreatedBy: rep, CreatedAt: paymentsNow,
		WorkflowID: workflows.CreditWorkflowID(id)}, postgres.IdempotencyRecord{RepKeyID: rep, Key: "c1", RequestHash: []byte("h")})
	if err != nil || !created || c.Status != billing.CreditPending {
		t.Fatalf("create credit: %+v %v %v", c, created, err)
	}
	for range 2 {
		if c, err = db.IssueCredit(ctx, c.ID, paymentsNow); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := db.Balance(ctx, devdata.DemoAccountID)
	if after-before != -700 || c.Status != billing.CreditIssued {
		t.Fatalf("balance moved by %d (want -700); credit %+v", after-before, c)
	}
	inv, err := db.Invoice(ctx, devdata.DemoAccountID, c.InvoiceID)
	if err != nil || inv.Type != billing.InvoiceCredit || inv.Total != -700 {
		t.Fatalf("credit invoice %+v %v", inv, err)
	}
	events, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, billing.EventCreditIssued, billing.ListParams{Limit: 10})
	if err != nil || len(events) != 1 || events[0].ObjectID != c.ID {
		t.Fatalf("credit.issued events: %+v %v", events, err)
	}
	checkBooks(t, db)
}

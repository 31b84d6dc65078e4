package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

var paymentsNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func seededPaymentsDB(t *testing.T) *postgres.DB {
	t.Helper()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, paymentsNow); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return db
}

func newTestPayment(amount int64) billing.Payment {
	id := billing.NewID(billing.PrefixPayment)
	return billing.Payment{ID: id, AccountID: devdata.DemoAccountID, Status: billing.PaymentProcessing,
		Method: billing.MethodPayPal, Amount: billing.Money{Amount: amount, Currency: "USD"},
		CreatedAt: paymentsNow, WorkflowID: workflows.PaymentWorkflowID(id)}
}

func openInvoices(t *testing.T, db *postgres.DB) []billing.Invoice {
	t.Helper()
	all, _, err := db.Invoices(context.Background(), devdata.DemoAccountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var open []billing.Invoice
	for i := len(all) - 1; i >= 0; i-- { // oldest first
		if all[i].Status == billing.InvoiceOpen && all[i].AmountDue() > 0 {
			open = append(open, all[i])
		}
	}
	return open
}

func TestApplyPaymentBooksOnceAndPaysTheOldestInvoicesFirst(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	open := openInvoices(t, db)
	if len(open) < 2 {
		t.Fatalf("the seed has %d open invoices; the test needs two", len(open))
	}
	before, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	amount := open[0].AmountDue() + 100
	p, created, err := db.CreatePayment(ctx, newTestPayment(amount), "k1", []byte("hash"))
	if err != nil || !created {
		t.Fatalf("create payment: created=%v err=%v", created, err)
	}

	for i := range 2 { // applying again changes nothing
		after, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute))
		if err != nil {
			t.Fatalf("apply #%d: %v", i+1, err)
		}
		if after != before-amount {
			t.Errorf("apply #%d: balance %d, want %d", i+1, after, before-amount)
		}
	}
	got, err := db.Payment(ctx, devdata.DemoAccountID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != billing.PaymentSucceeded || got.CompletedAt == nil {
		t.Errorf("payment after apply: %+v", got)
	}
	var entries int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, p.ID).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Errorf("%d ledger entries, want 1", entries)
	}
	first, err := db.Invoice(ctx, devdata.DemoAccountID, open[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	second, err := db.Invoice(ctx, devdata.DemoAccountID, open[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.Status != billing.InvoicePaid || first.AmountDue() != 0 {
		t.Errorf("oldest open invoice after payment: status %s, due %d; want paid", first.Status, first.AmountDue())
	}
	if second.AmountPaid != open[1].AmountPaid+100 || second.Status != billing.InvoiceOpen {
		t.Errorf("next invoice: paid %d (was %d), status %s; want 100 more and still open", second.AmountPaid, open[1].AmountPaid, second.Status)
	}
}

func TestCreatePaymentIdempotencyKeys(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	first, created, err := db.CreatePayment(ctx, newTestPayment(100), "key", []byte("hash-a"))
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	again, created, err := db.CreatePayment(ctx, newTestPayment(100), "key", []byte("hash-a"))
	if err != nil || created || again.ID != first.ID {
		t.Errorf("same key, same hash: id %s created=%v err=%v; want the first payment back", again.ID, created, err)
	}
	_, _, err = db.CreatePayment(ctx, newTestPayment(200), "key", []byte("hash-b"))
	if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeIdempotencyKeyReused {
		t.Errorf("same key, other hash: %v; want idempotency_key_reused", err)
	}
	// Keys belong to an account: another account may use the same one.
	other := newTestPayment(100)
	other.AccountID, other.Amount.Currency = devdata.OtherAccountID, "EUR"
	if _, created, err := db.CreatePayment(ctx, other, "key", []byte("hash-c")); err != nil || !created {
		t.Errorf("same key on another account: created=%v err=%v", created, err)
	}
}

func TestConcurrentPaymentsNeverPayMoreThanTheBalance(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	available, err := db.AvailableToPay(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	amount := available/7 + 1 // six fit, a seventh would overpay
	const n = 20
	var (
		wg             sync.WaitGroup
		mu             sync.Mutex
		created, over  int
		unexpectedErrs []error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := db.CreatePayment(ctx, newTestPayment(amount), fmt.Sprintf("k%d", i), []byte("h"))
			mu.Lock()
			defer mu.Unlock()
			switch e := billing.ErrorOf(err); {
			case err == nil && ok:
				created++
			case e != nil && e.Code == billing.CodeAmountExceedsBalance:
				over++
			default:
				unexpectedErrs = append(unexpectedErrs, err)
			}
		}()
	}
	wg.Wait()
	if len(unexpectedErrs) > 0 {
		t.Fatalf("unexpected: %v", unexpectedErrs)
	}
	if want := int(available / amount); created != want || over != n-want {
		t.Errorf("%d created, %d refused; want %d created of %d", created, over, want, n)
	}
	left, err := db.AvailableToPay(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if left < 0 {
		t.Errorf("payments in flight exceed the balance by %d", -left)
	}
}

func TestEndedPaymentsStayEnded(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "k", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishPayment(ctx, p.ID, billing.PaymentCanceled, nil, paymentsNow); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishPayment(ctx, p.ID, billing.PaymentFailed, &billing.Failure{Code: "x", Message: "y"}, paymentsNow); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow); !errors.Is(err, postgres.ErrPaymentNotApplicable) {
		t.Errorf("applying a canceled payment: %v, want ErrPaymentNotApplicable", err)
	}
	got, err := db.PaymentByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != billing.PaymentCanceled || got.Failure != nil {
		t.Errorf("payment %+v, want still canceled without failure", got)
	}
}

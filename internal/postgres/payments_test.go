package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
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

// TestApplyPaymentPaysSeveralInvoicesAndTellsWhatItLeft: a payment of what the two oldest open
// invoices are due and some more pays both and part of the third, and writes one invoice.paid
// for each paid, oldest first, then payment.succeeded, each with the object exactly as the
// books now hold it.
func TestApplyPaymentPaysSeveralInvoicesAndTellsWhatItLeft(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	// A third open invoice, newest, so the payment can pay two and part of it.
	if _, _, err := db.CreateInvoice(ctx, billing.Invoice{AccountID: devdata.DemoAccountID, Type: billing.InvoiceOneTime,
		Status: billing.InvoiceOpen, Currency: "USD", Subtotal: 10000, Total: 10000, CreatedAt: paymentsNow,
		Items: []billing.InvoiceItem{{Description: "Setup", Category: "one_time", Quantity: 1, UnitAmount: 10000, Amount: 10000}}}); err != nil {
		t.Fatal(err)
	}
	open := openInvoices(t, db)
	if len(open) < 3 {
		t.Fatalf("%d open invoices; the test needs three", len(open))
	}
	open = open[:3]
	before, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	eventsBefore, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	amount := open[0].AmountDue() + open[1].AmountDue() + 1000
	p, _, err := db.CreatePayment(ctx, newTestPayment(amount), "several", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	after, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if after != before-amount {
		t.Errorf("balance %d, want %d", after, before-amount)
	}

	events, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	events = events[:len(events)-len(eventsBefore)]
	slices.Reverse(events) // oldest first
	if len(events) != 3 {
		t.Fatalf("%d events, want two invoice.paid and a payment.succeeded", len(events))
	}
	for i, inv := range open {
		stored, err := db.Invoice(ctx, devdata.DemoAccountID, inv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if stored.Status != billing.InvoiceOpen || stored.AmountPaid != inv.AmountPaid+1000 {
				t.Errorf("third invoice: status %s, paid %d (was %d); want open and 1000 more", stored.Status, stored.AmountPaid, inv.AmountPaid)
			}
			break
		}
		if stored.Status != billing.InvoicePaid || stored.AmountDue() != 0 {
			t.Errorf("invoice %s: status %s, due %d; want paid", inv.ID, stored.Status, stored.AmountDue())
		}
		stored.Items = nil // an event's invoice has none
		e := events[i]
		if e.Type != billing.EventInvoicePaid || e.ObjectID != inv.ID {
			t.Errorf("event %d: %s of %s, want invoice.paid of %s", i, e.Type, e.ObjectID, inv.ID)
		}
		sameJSON(t, e.Object, stored)
	}
	stored, err := db.Payment(ctx, devdata.DemoAccountID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := events[2]
	if last.Type != billing.EventPaymentSucceeded || last.ObjectID != p.ID {
		t.Errorf("last event: %s of %s, want payment.succeeded of %s", last.Type, last.ObjectID, p.ID)
	}
	sameJSON(t, last.Object, stored)
}

// sameJSON fails unless object, stored as jsonb, is want as encoded in Go.
func sameJSON(t *testing.T, object []byte, want any) {
	t.Helper()
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got, wanted any
	if err := json.Unmarshal(object, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(wantJSON, &wanted); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wanted) {
		t.Errorf("event object\n%s\nwant\n%s", object, wantJSON)
	}
}

// TestConcurrentApplyBooksOnce: the same payment applied by eight callers at once (a retried
// activity racing the reconciler) is booked once, reported once, and every caller answers the
// same balance.
func TestConcurrentApplyBooksOnce(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	h := &heard{}
	db.Events = h
	before, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := db.CreatePayment(ctx, newTestPayment(700), "race", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	const callers = 8
	balances := make([]int64, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			balances[i], errs[i] = db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute))
		}()
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || balances[i] != before-700 {
			t.Errorf("caller %d: balance %d err %v, want %d", i, balances[i], errs[i], before-700)
		}
	}
	var entries int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, p.ID).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 1 {
		t.Errorf("%d ledger entries, want 1", entries)
	}
	var succeeded int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'payment.succeeded' AND object_id = $1`, p.ID).Scan(&succeeded); err != nil {
		t.Fatal(err)
	}
	if succeeded != 1 {
		t.Errorf("%d payment.succeeded events, want 1", succeeded)
	}
	h.expect(t, "eight applies", "payment paypal succeeded")
}

// TestApplyMissingOrEndedPaymentIsNotApplicable: nothing is booked for a payment that does not
// exist or ended another way.
func TestApplyMissingOrEndedPaymentIsNotApplicable(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	if _, err := db.ApplyPayment(ctx, "pay_missing", paymentsNow); !errors.Is(err, postgres.ErrPaymentNotApplicable) {
		t.Errorf("missing payment: %v, want ErrPaymentNotApplicable", err)
	}
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "ended", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.FinishPayment(ctx, p.ID, billing.PaymentCanceled, nil, paymentsNow); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow); !errors.Is(err, postgres.ErrPaymentNotApplicable) {
		t.Errorf("canceled payment: %v, want ErrPaymentNotApplicable", err)
	}
	var entries int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE reference = $1`, p.ID).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	if entries != 0 {
		t.Errorf("%d ledger entries for a canceled payment, want 0", entries)
	}
}

// A booking records the ids it is given and keeps the payment's own where it is given none
// (a hold recorded earlier, on 3-D Secure); a repeat answers the payment as first booked.
func TestBookPaymentRecordsTheChargeItIsGiven(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "book-ids", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.RecordCardCapture(ctx, p.ID, "auth_3ds", ""); err != nil {
		t.Fatal(err)
	}
	booked, err := db.BookPayment(ctx, postgres.Booking{PaymentID: p.ID, At: paymentsNow, CaptureID: "cap_1"})
	if err != nil {
		t.Fatal(err)
	}
	if b := booked.Payment; b.AuthorizationID != "auth_3ds" || b.CaptureID != "cap_1" || b.Status != billing.PaymentSucceeded ||
		b.CompletedAt == nil || !b.CompletedAt.Equal(paymentsNow) {
		t.Fatalf("booked %+v, want hold auth_3ds kept, capture cap_1, succeeded now", booked)
	}
	again, err := db.BookPayment(ctx, postgres.Booking{PaymentID: p.ID, At: paymentsNow.Add(time.Hour), CaptureID: "cap_other"})
	if err != nil || again.Payment.CaptureID != "cap_1" || !again.Payment.CompletedAt.Equal(paymentsNow) ||
		again.BalanceAfter != booked.BalanceAfter {
		t.Fatalf("repeat answered %+v, %v; want the first booking, nothing changed", again, err)
	}
}

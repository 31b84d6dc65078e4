package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
)

// The create path's one round trip answers what the four reads it replaces did: the account,
// the key's payment and its fingerprint, a key used elsewhere, and the amount available.
func TestPaymentRequestFacts(t *testing.T) {
	db := seededPaymentsDB(t)
	ctx := context.Background()
	if _, err := db.PaymentRequestFacts(ctx, "acct_nope", "k"); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Kind != billing.KindNotFound {
		t.Errorf("unknown account: %v, want not_found", err)
	}
	available, err := db.AvailableToPay(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	f, err := db.PaymentRequestFacts(ctx, devdata.DemoAccountID, "k-new")
	if err != nil || f.Found || f.KeyReused || f.Account.ID != devdata.DemoAccountID || f.Available != available {
		t.Errorf("new key: %+v (err %v), want the account, nothing found, available %d", f, err, available)
	}

	p := newTestPayment(1500)
	if _, _, err := db.CreatePayment(ctx, p, "k-used", []byte("h1")); err != nil {
		t.Fatal(err)
	}
	f, err = db.PaymentRequestFacts(ctx, devdata.DemoAccountID, "k-used")
	if err != nil || !f.Found || f.KeyReused || f.Existing.ID != p.ID || !bytes.Equal(f.PrevHash, []byte("h1")) ||
		f.Available != available-1500 {
		t.Errorf("used key: %+v (err %v), want payment %s with hash h1, available %d", f, err, p.ID, available-1500)
	}

	if _, _, err := db.RecordIdempotencyKey(ctx, postgres.IdempotencyRecord{AccountID: devdata.DemoAccountID, Key: "k-cancel",
		Route: postgres.RouteCancelPayment, RequestHash: []byte("h2"), PaymentID: p.ID}); err != nil {
		t.Fatal(err)
	}
	f, err = db.PaymentRequestFacts(ctx, devdata.DemoAccountID, "k-cancel")
	if err != nil || f.Found || !f.KeyReused {
		t.Errorf("key of a cancel: %+v (err %v), want KeyReused", f, err)
	}
}

// A payment's mail reads the payment, its account and the balance in one round trip.
func TestPaymentAccountBalance(t *testing.T) {
	db := seededPaymentsDB(t)
	ctx := context.Background()
	p := newTestPayment(1500)
	if _, _, err := db.CreatePayment(ctx, p, "k-"+p.ID, []byte("h")); err != nil {
		t.Fatal(err)
	}
	want, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	pay, acct, bal, err := db.PaymentAccountBalance(ctx, p.ID)
	if err != nil || pay.ID != p.ID || acct.ID != devdata.DemoAccountID || bal != want {
		t.Errorf("got %s, %s, %d (err %v), want %s, %s, %d", pay.ID, acct.ID, bal, err, p.ID, devdata.DemoAccountID, want)
	}
	if _, _, _, err := db.PaymentAccountBalance(ctx, "pay_nope"); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Kind != billing.KindNotFound {
		t.Errorf("unknown payment: %v, want not_found", err)
	}
}

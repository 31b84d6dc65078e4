package portal_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
)

func cardPayment(key, number, cvc string) portal.NewPayment {
	return portal.NewPayment{IdempotencyKey: key, Amount: billing.Money{Amount: 500, Currency: "USD"}, Method: billing.MethodCard,
		Card:           &gateway.Card{Number: number, ExpMonth: 12, ExpYear: 2030, CVC: cvc, HolderName: "Ada Lovelace"},
		UseCompanyInfo: true}
}

func storedFingerprint(t *testing.T, db *postgres.DB, key string) []byte {
	t.Helper()
	var hash []byte
	if err := db.Pool.QueryRow(context.Background(), `SELECT request_hash FROM idempotency_keys WHERE account_id = $1 AND key = $2`,
		devdata.DemoAccountID, key).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return hash
}

// TestStoredFingerprintKeepsNoCardSecret: the request_hash stored for a card payment is the
// same for two cards that differ only in the middle digits of the number and in the CVC, so
// it depends on neither; a replay with the other card answers the first payment, while a
// change in what is kept (the holder) is still a reused key.
func TestStoredFingerprintKeepsNoCardSecret(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	clock := &billing.FixedClock{T: portalNow}
	s := &portal.Payments{DB: db, Temporal: &recordingTemporal{}, Processor: sandbox.NewCardProcessor(db.Pool, clock), Clock: clock,
		TaskQueue: "fingerprint-test", RequestHashKey: []byte("a test secret of thirty-two bytes!")}

	first, created, err := s.Create(ctx, devdata.DemoAccountID, cardPayment("k1", "4242424242424242", "123"))
	if err != nil || !created {
		t.Fatalf("first payment: created=%v err=%v", created, err)
	}
	// Same brand, last4, expiry and holder; other middle digits, other CVC.
	if _, created, err := s.Create(ctx, devdata.DemoAccountID, cardPayment("k2", "4000 0000 0002 4242", "987")); err != nil || !created {
		t.Fatalf("second payment: created=%v err=%v", created, err)
	}
	h1, h2 := storedFingerprint(t, db, "k1"), storedFingerprint(t, db, "k2")
	if len(h1) != 32 || !bytes.Equal(h1, h2) {
		t.Errorf("fingerprints %x and %x: want one 32-byte HMAC for cards alike but in number and CVC", h1, h2)
	}

	again, created, err := s.Create(ctx, devdata.DemoAccountID, cardPayment("k1", "4000000000024242", "987"))
	if err != nil || created || again.ID != first.ID {
		t.Errorf("k1 again with the other card: %s created=%v err=%v, want a replay of %s", again.ID, created, err, first.ID)
	}
	other := cardPayment("k1", "4242424242424242", "123")
	other.Card.HolderName = "Grace Hopper"
	if _, _, err := s.Create(ctx, devdata.DemoAccountID, other); billing.KindOf(err) != billing.KindConflict {
		t.Errorf("k1 with another holder: %v, want idempotency_key_reused", err)
	}
}

// TestUnknownFingerprintAnswersTheKeysPayment: a key whose fingerprint migration 00006 cleared
// answers its payment, whatever the request, rather than a 409 or a second charge.
func TestUnknownFingerprintAnswersTheKeysPayment(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	clock := &billing.FixedClock{T: portalNow}
	s := &portal.Payments{DB: db, Temporal: &recordingTemporal{}, Processor: sandbox.NewCardProcessor(db.Pool, clock), Clock: clock,
		TaskQueue: "fingerprint-test", RequestHashKey: []byte("a test secret of thirty-two bytes!")}
	first, _, err := s.Create(ctx, devdata.DemoAccountID, cardPayment("old", "4242424242424242", "123"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE idempotency_keys SET request_hash = ''::bytea WHERE key = 'old'`); err != nil {
		t.Fatal(err)
	}
	changed := cardPayment("old", "5555555555554444", "321")
	changed.Amount.Amount = 700
	again, created, err := s.Create(ctx, devdata.DemoAccountID, changed)
	if err != nil || created || again.ID != first.ID {
		t.Errorf("a request with a key of unknown fingerprint: %s created=%v err=%v, want the key's payment %s", again.ID, created, err, first.ID)
	}
	var payments int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE account_id = $1`, devdata.DemoAccountID).Scan(&payments); err != nil {
		t.Fatal(err)
	}
	if payments != 1 {
		t.Errorf("%d payments, want 1", payments)
	}
}

package postgres_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres/migrations"
)

// TestMigrationClearsOldCardFingerprints: migration 00006 empties the stored fingerprints of
// card payments (computed over the card number and CVC before it) and leaves PayPal ones.
func TestMigrationClearsOldCardFingerprints(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	oldFingerprint := bytes.Repeat([]byte{0xab}, 32)

	card := newTestPayment(100)
	card.Method, card.CardToken, card.CardBrand, card.CardLast4 = billing.MethodCard, "tok_old", "visa", "4242"
	if _, _, err := db.CreatePayment(ctx, card, "card-before-00006", oldFingerprint); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CreatePayment(ctx, newTestPayment(200), "paypal-before-00006", oldFingerprint); err != nil {
		t.Fatal(err)
	}

	// The test database is migrated already: run 00006 again over these rows.
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.ApplyVersion(ctx, 6, false); err != nil {
		t.Fatalf("00006 down: %v", err)
	}
	if _, err := provider.ApplyVersion(ctx, 6, true); err != nil {
		t.Fatalf("00006 up: %v", err)
	}

	fingerprint := func(key string) []byte {
		t.Helper()
		var h []byte
		if err := db.Pool.QueryRow(ctx, `SELECT request_hash FROM idempotency_keys WHERE key = $1`, key).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := fingerprint("card-before-00006"); len(h) != 0 {
		t.Errorf("card payment's old fingerprint %x survived 00006, want it cleared", h)
	}
	if h := fingerprint("paypal-before-00006"); !bytes.Equal(h, oldFingerprint) {
		t.Errorf("PayPal payment's fingerprint became %x, want it kept", h)
	}
}

// TestMigrationKeepsPaymentKeys: migration 00008 makes every key a route's; the keys from
// before it are payment creations, answered 202, and still answer their payment.
func TestMigrationKeepsPaymentKeys(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	fingerprint := bytes.Repeat([]byte{0xcd}, 32)
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "before-00008", fingerprint)
	if err != nil {
		t.Fatal(err)
	}

	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.ApplyVersion(ctx, 8, false); err != nil {
		t.Fatalf("00008 down: %v", err)
	}
	var columns int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
		WHERE table_name = 'idempotency_keys' AND column_name = 'route'`).Scan(&columns); err != nil || columns != 0 {
		t.Fatalf("after 00008 down the table still has route (%d, %v): the up below would prove nothing", columns, err)
	}
	if _, err := provider.ApplyVersion(ctx, 8, true); err != nil {
		t.Fatalf("00008 up: %v", err)
	}

	var route string
	var status int
	if err := db.Pool.QueryRow(ctx, `SELECT route, status_code FROM idempotency_keys WHERE key = 'before-00008'`).Scan(&route, &status); err != nil {
		t.Fatal(err)
	}
	if route != "create_payment" || status != 202 {
		t.Errorf("the old key became route %q, status %d; want create_payment, 202", route, status)
	}
	got, hash, found, err := db.IdempotentPayment(ctx, p.AccountID, "before-00008")
	if err != nil || !found || got.ID != p.ID || !bytes.Equal(hash, fingerprint) {
		t.Errorf("the old key answers %s %x found=%v err=%v, want payment %s and its fingerprint", got.ID, hash, found, err, p.ID)
	}
}

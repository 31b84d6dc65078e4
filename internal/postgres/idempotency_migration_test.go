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

package app_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
)

// TestProductionRefusesTheDemoKeys: `payportal api` and `worker` refuse to start in production
// while the database accepts any demo key, and say how to revoke them; revoked keys, or
// PAYPORTAL_ENV=development, let them start.
func TestProductionRefusesTheDemoKeys(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	keys, err := codec.ParseKeyRing("k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))))
	if err != nil {
		t.Fatal(err)
	}
	production := config.Config{Env: config.EnvProduction, CardProcessor: "stripe", PayPalMode: "live",
		IdempotencySecret: strings.Repeat("s", 32), PayloadKeys: keys}
	a := &app.App{Config: production, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DB: db}
	if err := a.CheckProductionSafe(ctx); err != nil {
		t.Fatalf("a fresh database in production: %v", err)
	}

	if _, err := devdata.Seed(ctx, db, time.Now()); err != nil {
		t.Fatal(err)
	}
	err = a.CheckProductionSafe(ctx)
	if err == nil || !strings.Contains(err.Error(), "demo API keys") || !strings.Contains(err.Error(), "PAYPORTAL_ENV=development") ||
		!strings.Contains(err.Error(), "UPDATE api_keys SET revoked_at") {
		t.Fatalf("seeded demo keys in production: %v, want a refusal saying how to revoke them", err)
	}
	var ids []string
	if err := db.Pool.QueryRow(ctx, `SELECT array_agg(id ORDER BY id) FROM api_keys`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("the refusal %q does not name key %s", err, id)
		}
	}

	dev := *a
	dev.Config.Env = config.EnvDevelopment
	if err := dev.CheckProductionSafe(ctx); err != nil {
		t.Errorf("demo keys in development: %v, want allowed", err)
	}

	// One demo key left is enough to refuse.
	if _, err := db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE role = 'customer'`); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckProductionSafe(ctx); err == nil {
		t.Error("the demo rep key left active: accepted in production")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = now()`); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckProductionSafe(ctx); err != nil {
		t.Errorf("every demo key revoked: %v, want accepted", err)
	}
}

// TestProductionCheckIncludesTheSettings: the one check runAPI and runWorker call refuses the
// development settings too, naming them.
func TestProductionCheckIncludesTheSettings(t *testing.T) {
	db, _ := testenv.Database(t)
	a := &app.App{Config: config.Config{Env: config.EnvProduction, CardProcessor: "sandbox", PayPalMode: "sandbox"},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DB: db}
	err := a.CheckProductionSafe(context.Background())
	for _, want := range []string{"PAYPORTAL_CARD_PROCESSOR=sandbox", "PAYPORTAL_PAYPAL=sandbox", "PAYPORTAL_IDEMPOTENCY_SECRET"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sandbox settings in production: %v, want %s named", err, want)
		}
	}
}

// The PayPal sandbox's buyer page lets anyone holding an order's token approve it, so it is
// served in development only, even if the production check were skipped.
func TestSandboxCheckoutPageIsServedInDevelopmentOnly(t *testing.T) {
	db, _ := testenv.Database(t)
	tc := testenv.TemporalClient(t)
	for _, tt := range []struct {
		env  string
		want int
	}{{config.EnvDevelopment, http.StatusOK}, {config.EnvProduction, http.StatusNotFound}} {
		t.Run(tt.env, func(t *testing.T) {
			cfg := config.Config{Env: tt.env, CardProcessor: "sandbox", PayPalMode: "sandbox", PublicURL: "http://portal.test",
				RateLimitPerSecond: 1000, RateLimitBurst: 1000}
			a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), db, tc)
			if err != nil {
				t.Fatal(err)
			}
			order, err := a.PayPal.CreateOrder(context.Background(), gateway.OrderRequest{Amount: billing.Money{Amount: 100, Currency: "USD"},
				RequestID: "req-" + tt.env, ReturnURL: "http://portal.test/r", CancelURL: "http://portal.test/c"})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			a.APIServer().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, sandbox.CheckoutPath+"?token="+order.ID, nil))
			if rec.Code != tt.want {
				t.Errorf("%s: checkout page answered %d, want %d", tt.env, rec.Code, tt.want)
			}
		})
	}
}

package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

// In production a raw card number is refused before it goes anywhere (raw_card_not_allowed),
// unless PAYPORTAL_ALLOW_RAW_CARDS says the Stripe account may take them; the sandbox's
// tokenization endpoint and 3-D Secure page are not served there either.
func TestRawCardsRefusedInProductionUnlessAllowed(t *testing.T) {
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, time.Now()); err != nil {
		t.Fatal(err)
	}
	tc := testenv.TemporalClient(t)
	card := map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123", "holder_name": "Pat Doe"}
	send := func(a *app.App, method, path string, body any, header map[string]string) (*http.Response, []byte) {
		srv := httptest.NewServer(a.APIServer().Handler())
		defer srv.Close()
		return testenv.Do(t, srv.URL, testenv.Request{Method: method, Path: path, Key: devdata.DemoCustomerKey, Body: body, Header: header})
	}
	acct := "/v1/accounts/" + devdata.DemoAccountID
	for _, allow := range []bool{false, true} {
		cfg := config.Config{Env: config.EnvProduction, CardProcessor: "sandbox", PayPalMode: "sandbox", PublicURL: "http://portal.test",
			TaskQueue: "raw-cards-" + strings.ToLower(billing.NewID("")), CardValidationTimeout: time.Hour,
			RateLimitPerSecond: 1000, RateLimitBurst: 1000, AllowRawCards: allow}
		a, err := app.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), db, tc)
		if err != nil {
			t.Fatal(err)
		}
		resp, raw := send(a, http.MethodPost, acct+"/payment-methods",
			map[string]any{"card": card, "use_company_info": true, "contact_email": "ap@example.com"}, nil)
		refused := resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(raw), `"raw_card_not_allowed"`)
		if refused == allow {
			t.Errorf("AllowRawCards=%v: adding a raw card answered %d %s", allow, resp.StatusCode, raw)
		}
		if allow && resp.StatusCode != http.StatusAccepted {
			t.Errorf("AllowRawCards=true: adding a raw card answered %d %s, want 202", resp.StatusCode, raw)
		}
		var pm struct {
			WorkflowID string `json:"workflow_id"`
		}
		if json.Unmarshal(raw, &pm) == nil && pm.WorkflowID != "" {
			// No worker polls its queue: end it rather than leave it on a shared server.
			t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), pm.WorkflowID, "", "test over") })
		}
		if !allow {
			resp, raw = send(a, http.MethodPost, acct+"/payments",
				map[string]any{"amount": 100, "currency": "USD", "method": "card", "card": card, "use_company_info": true},
				map[string]string{"Idempotency-Key": "raw-1"})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), `"raw_card_not_allowed"`) {
				t.Errorf("paying with a raw card in production answered %d %s, want 422 raw_card_not_allowed", resp.StatusCode, raw)
			}
			var stored int
			if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sandbox_cards`).Scan(&stored); err != nil || stored != 0 {
				t.Errorf("%d cards reached the processor (%v), want none", stored, err)
			}
		}
		for _, path := range []string{sandbox.TokensPath, sandbox.ChallengePath + "/complete?authorization=auth_x"} {
			if resp, raw := send(a, http.MethodPost, path, card, nil); resp.StatusCode != http.StatusNotFound {
				t.Errorf("production serves POST %s: %d %s", path, resp.StatusCode, raw)
			}
		}
	}
}

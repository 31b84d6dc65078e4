package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

func TestChargeOfMapsEveryStatus(t *testing.T) {
	intent := func(status stripe.PaymentIntentStatus) *stripe.PaymentIntent {
		return &stripe.PaymentIntent{ID: "pi_1", Status: status, Amount: 12345, Currency: "eur",
			LatestCharge: &stripe.Charge{ID: "ch_1", AmountRefunded: 0}}
	}
	held := billing.Money{Amount: 12345, Currency: "EUR"}
	tests := []struct {
		status        stripe.PaymentIntentStatus
		want          gateway.Charge
		wantTransient bool
		wantErr       bool
	}{
		{stripe.PaymentIntentStatusRequiresCapture, gateway.Charge{Status: gateway.ChargeAuthorized, AuthorizationID: "pi_1", Amount: held}, false, false},
		{stripe.PaymentIntentStatusSucceeded, gateway.Charge{Status: gateway.ChargeCaptured, AuthorizationID: "pi_1", Amount: held, CaptureID: "pi_1"}, false, false},
		{stripe.PaymentIntentStatusCanceled, gateway.Charge{Status: gateway.ChargeVoided, AuthorizationID: "pi_1", Amount: held}, false, false},
		{stripe.PaymentIntentStatusRequiresPaymentMethod, gateway.Charge{Status: gateway.ChargeNone, AuthorizationID: "pi_1", Amount: held}, false, false},
		{stripe.PaymentIntentStatusRequiresConfirmation, gateway.Charge{Status: gateway.ChargeNone, AuthorizationID: "pi_1", Amount: held}, false, false},
		{stripe.PaymentIntentStatusRequiresAction, gateway.Charge{Status: gateway.ChargeRequiresAction, AuthorizationID: "pi_1", Amount: held}, false, false},
		{stripe.PaymentIntentStatusProcessing, gateway.Charge{}, true, true},
		{"something_new", gateway.Charge{}, false, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			got, err := chargeOf(intent(tt.status))
			if tt.wantErr {
				if err == nil || gateway.IsTransient(err) != tt.wantTransient || gateway.IsPermanent(err) {
					t.Fatalf("chargeOf = %+v, %v; want an error, transient %v", got, err, tt.wantTransient)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("chargeOf = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}

	// A partial capture took amount_received; the refunds are the charge's.
	pi := intent(stripe.PaymentIntentStatusSucceeded)
	pi.AmountReceived, pi.LatestCharge.AmountRefunded = 10000, 2500
	got, err := chargeOf(pi)
	want := gateway.Charge{Status: gateway.ChargeCaptured, AuthorizationID: "pi_1", CaptureID: "pi_1",
		Amount: billing.Money{Amount: 10000, Currency: "EUR"}, Refunded: 2500}
	if err != nil || got != want {
		t.Errorf("partial capture = %+v, %v; want %+v", got, err, want)
	}
}

func TestMostAdvancedIntent(t *testing.T) {
	pi := func(id string, status stripe.PaymentIntentStatus, created int64) *stripe.PaymentIntent {
		return &stripe.PaymentIntent{ID: id, Status: status, Created: created}
	}
	tests := []struct {
		intents []*stripe.PaymentIntent
		want    string
	}{
		{[]*stripe.PaymentIntent{pi("a", stripe.PaymentIntentStatusRequiresPaymentMethod, 3), pi("b", stripe.PaymentIntentStatusSucceeded, 1)}, "b"},
		{[]*stripe.PaymentIntent{pi("a", stripe.PaymentIntentStatusCanceled, 1), pi("b", stripe.PaymentIntentStatusRequiresCapture, 2), pi("c", stripe.PaymentIntentStatusProcessing, 3)}, "b"},
		{[]*stripe.PaymentIntent{pi("a", stripe.PaymentIntentStatusCanceled, 1), pi("b", stripe.PaymentIntentStatusCanceled, 2)}, "b"},
		{[]*stripe.PaymentIntent{pi("a", stripe.PaymentIntentStatusRequiresPaymentMethod, 1)}, "a"},
	}
	for _, tt := range tests {
		if got := mostAdvanced(tt.intents); got.ID != tt.want {
			t.Errorf("mostAdvanced = %s, want %s", got.ID, tt.want)
		}
	}
}

func TestMetadataAndQuery(t *testing.T) {
	for key, want := range map[string]map[string]string{
		"pay_1/authorize": {MetadataKey: "pay_1/authorize", MetadataPaymentID: "pay_1"},
		"legacy-key":      {MetadataKey: "legacy-key"},
	} {
		if got := authorizeMetadata(key); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("authorizeMetadata(%q) = %v, want %v", key, got, want)
		}
	}
	if got := keyQuery("pay_1/authorize"); got != `metadata['payportal_key']:'pay_1/authorize'` {
		t.Errorf("keyQuery = %s", got)
	}
	if got := keyQuery(`o'brien\x`); got != `metadata['payportal_key']:'o\'brien\\x'` {
		t.Errorf("keyQuery with a quote = %s", got)
	}
}

// newMockedProcessor is a Processor on stripe-mock behind a recording proxy, with a fixed clock.
func newMockedProcessor(t *testing.T) (*Processor, *mockProxy, time.Time) {
	t.Helper()
	proxy := &mockProxy{}
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: proxy.start(t, startStripeMock(t))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	return p, proxy, now
}

// answer sets how the proxy edits and refuses answers, and forgets the requests so far.
func (m *mockProxy) answer(edit func(*http.Request, map[string]any), refuse func(*http.Request) (int, string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.edit, m.refuse, m.requests = edit, refuse, nil
}

func (m *mockProxy) count(method, path string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, r := range m.requests {
		if r.method == method && r.path == path {
			n++
		}
	}
	return n
}

// expands lists the expand[] values of a request.
func expands(form url.Values) []string {
	var out []string
	for k, vs := range form {
		if k == "expand" || strings.HasPrefix(k, "expand[") {
			out = append(out, vs...)
		}
	}
	return out
}

// intentsOf is the list of intents in a list or search answer.
func intentsOf(body map[string]any) []map[string]any {
	data, _ := body["data"].([]any)
	var out []map[string]any
	for _, d := range data {
		if m, ok := d.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// makeIntent turns the fixture intents of a list or search answer into PayPortal's intent for key.
func makeIntent(body map[string]any, key, status string, refunded int) {
	for _, pi := range intentsOf(body) {
		pi["metadata"] = map[string]any{MetadataKey: key, MetadataPaymentID: paymentIDOf(key)}
		pi["status"], pi["amount"], pi["amount_received"], pi["currency"] = status, 12345, 12345, "eur"
		if ch, ok := pi["latest_charge"].(map[string]any); ok {
			ch["amount_refunded"] = refunded
		}
	}
}

const (
	searchPath = "/v1/payment_intents/search"
	listPath   = "/v1/payment_intents"
)

func TestLookupChargeAgainstStripeMock(t *testing.T) {
	ctx := context.Background()
	p, proxy, now := newMockedProcessor(t)

	t.Run("found by search", func(t *testing.T) {
		proxy.answer(func(r *http.Request, body map[string]any) {
			if r.URL.Path == searchPath {
				makeIntent(body, "pay_9/authorize", "succeeded", 345)
			}
		}, nil)
		c, err := p.LookupCharge(ctx, "pay_9/authorize")
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != gateway.ChargeCaptured || !strings.HasPrefix(c.CaptureID, "pi_") || c.CaptureID != c.AuthorizationID ||
			c.Refunded != 345 || c.Amount != (billing.Money{Amount: 12345, Currency: "EUR"}) {
			t.Errorf("charge = %+v", c)
		}
		r, _ := proxy.find("GET", searchPath)
		if q := r.form.Get("query"); q != `metadata['payportal_key']:'pay_9/authorize'` {
			t.Errorf("search query = %q", q)
		}
		if !slices.Contains(expands(r.form), "data.latest_charge") {
			t.Errorf("search expands %v, want data.latest_charge for the refunds", expands(r.form))
		}
		if n := proxy.count("GET", listPath); n != 0 {
			t.Errorf("listed %d times after search found the intent", n)
		}
	})

	t.Run("not searchable yet, found by listing", func(t *testing.T) {
		// The fixture from search has no PayPortal metadata: search found nothing.
		proxy.answer(func(r *http.Request, body map[string]any) {
			if r.URL.Path == listPath {
				makeIntent(body, "pay_9/authorize", "requires_capture", 0)
			}
		}, nil)
		c, err := p.LookupCharge(ctx, "pay_9/authorize")
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != gateway.ChargeAuthorized || c.AuthorizationID == "" || c.CaptureID != "" {
			t.Errorf("charge = %+v", c)
		}
		r, ok := proxy.find("GET", listPath)
		if !ok || r.form.Get("created[gte]") != fmt.Sprint(now.Add(-searchLag).Unix()) || r.form.Get("limit") != "100" {
			t.Errorf("list request = %+v", r)
		}
	})

	t.Run("nowhere", func(t *testing.T) {
		proxy.answer(nil, nil)
		c, err := p.LookupCharge(ctx, "pay_9/authorize")
		if err != nil || c != (gateway.Charge{Status: gateway.ChargeNone}) {
			t.Errorf("charge = %+v, %v; want none", c, err)
		}
		if proxy.count("GET", searchPath) != 1 || proxy.count("GET", listPath) != 1 {
			t.Errorf("requests = %+v", proxy.requests)
		}
	})

	t.Run("search unavailable", func(t *testing.T) {
		proxy.answer(func(r *http.Request, body map[string]any) {
			if r.URL.Path == listPath {
				makeIntent(body, "pay_9/authorize", "canceled", 0)
			}
		}, func(r *http.Request) (int, string) {
			if r.URL.Path == searchPath {
				return http.StatusBadRequest, `{"error":{"type":"invalid_request_error","message":"Search is not available for this account."}}`
			}
			return 0, ""
		})
		c, err := p.LookupCharge(ctx, "pay_9/authorize")
		if err != nil || c.Status != gateway.ChargeVoided {
			t.Errorf("charge = %+v, %v; want voided", c, err)
		}
		if r, _ := proxy.find("GET", listPath); r.form.Get("created[gte]") != fmt.Sprint(now.Add(-unsearchableLookback).Unix()) {
			t.Errorf("list request = %+v, want the long window", r)
		}
	})

	t.Run("stripe down", func(t *testing.T) {
		proxy.answer(nil, func(r *http.Request) (int, string) {
			return http.StatusServiceUnavailable, `{"error":{"type":"api_error","message":"unavailable"}}`
		})
		c, err := p.LookupCharge(ctx, "pay_9/authorize")
		if !gateway.IsTransient(err) {
			t.Errorf("charge = %+v, %v; want a transient error, never none", c, err)
		}
	})

	t.Run("still processing", func(t *testing.T) {
		proxy.answer(func(r *http.Request, body map[string]any) {
			if r.URL.Path == searchPath {
				makeIntent(body, "pay_9/authorize", "processing", 0)
			}
		}, nil)
		if c, err := p.LookupCharge(ctx, "pay_9/authorize"); !gateway.IsTransient(err) {
			t.Errorf("charge = %+v, %v; want transient", c, err)
		}
	})

	if _, err := p.LookupCharge(ctx, " "); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Errorf("empty key = %v", err)
	}
}

func TestCapturesSinceAgainstStripeMock(t *testing.T) {
	ctx := context.Background()
	p, proxy, now := newMockedProcessor(t)
	since := now.Add(-time.Hour)

	proxy.answer(func(r *http.Request, body map[string]any) {
		if r.URL.Path != listPath {
			return
		}
		fixture := intentsOf(body)[0]
		intent := func(id, key, status string, capturedAt time.Time) map[string]any {
			pi := map[string]any{}
			for k, v := range fixture {
				pi[k] = v
			}
			pi["id"], pi["status"], pi["amount"], pi["amount_received"], pi["currency"] = id, status, 5000, 4000, "usd"
			pi["created"] = capturedAt.Add(-24 * time.Hour).Unix()
			pi["metadata"] = map[string]any{}
			if key != "" {
				pi["metadata"] = map[string]any{MetadataKey: key}
			}
			pi["latest_charge"] = map[string]any{"id": "ch_" + id, "object": "charge", "amount_refunded": 1000,
				"balance_transaction": map[string]any{"id": "txn_" + id, "object": "balance_transaction", "created": capturedAt.Unix()}}
			return pi
		}
		body["data"] = []any{
			intent("pi_new", "pay_new/authorize", "succeeded", since.Add(30*time.Minute)),
			intent("pi_old", "pay_old/authorize", "succeeded", since.Add(-time.Minute)), // captured before since
			intent("pi_held", "pay_held/authorize", "requires_capture", since.Add(time.Minute)),
			intent("pi_foreign", "", "succeeded", since.Add(time.Minute)), // not PayPortal's
			intent("pi_first", "pay_first/authorize", "succeeded", since),
		}
	}, nil)
	got, err := p.CapturesSince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.Capture{
		{CaptureID: "pi_first", PaymentID: "pay_first", Amount: billing.Money{Amount: 4000, Currency: "USD"}, Refunded: 1000, CreatedAt: since},
		{CaptureID: "pi_new", PaymentID: "pay_new", Amount: billing.Money{Amount: 4000, Currency: "USD"}, Refunded: 1000, CreatedAt: since.Add(30 * time.Minute)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("captures =\n%+v\nwant\n%+v", got, want)
	}
	r, _ := proxy.find("GET", listPath)
	if r.form.Get("created[gte]") != fmt.Sprint(since.Add(-captureWindow).Unix()) ||
		!slices.Contains(expands(r.form), "data.latest_charge.balance_transaction") {
		t.Errorf("list request = %+v", r)
	}

	proxy.answer(nil, func(r *http.Request) (int, string) {
		return http.StatusTooManyRequests, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}`
	})
	if _, err := p.CapturesSince(ctx, since); !gateway.IsTransient(err) {
		t.Errorf("rate limited = %v, want transient", err)
	}
}

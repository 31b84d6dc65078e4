package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/openapitest"
)

// FuzzWriteRoutes sends any body through the real router to the strict fakes of
// security_test.go, which fail like Postgres (a 500) on text it cannot store. CI runs it for a
// few seconds: go test -run '^$' -fuzz '^FuzzWriteRoutes$' -fuzztime 3s ./api

// fuzzRouter is the router over the strict fakes, in process.
type fuzzRouter struct {
	h        http.Handler
	cards    *strictCards
	payments *strictPayments
}

func newFuzzRouter() *fuzzRouter {
	r := &fuzzRouter{cards: &strictCards{}, payments: &strictPayments{}}
	srv := &api.Server{
		Auth:           cardKeys{"cust": {KeyID: "key_cust", AccountID: "acct_demo"}, "rep": {KeyID: "key_rep", Rep: true}},
		Billing:        strictBilling{},
		Cards:          r.cards,
		Payments:       r.payments,
		PDFs:           strictBilling{},
		Limits:         api.RateLimits{PerSecond: 1e9, Burst: 1 << 30},
		Registry:       prometheus.NewRegistry(),
		Clock:          &billing.FixedClock{T: cardNow},
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		ReturnURLHosts: api.ReturnURLHosts{AnyWhenEmpty: true},
	}
	r.h = srv.Handler()
	return r
}

// post sends body and checks what every write route promises whatever the body: a JSON
// answer, never a 5xx, an error in the contract's shape, and no card number from the body
// in the answer. It answers the status.
func (r *fuzzRouter) post(t *testing.T, path, key, body string, header map[string]string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	openapitest.Handler(t, r.h).ServeHTTP(w, req)
	r.cards.added, r.payments.created = nil, nil // the fakes would grow without end

	answer := w.Body.String()
	if w.Code >= 500 {
		t.Fatalf("POST %s %q answered %d: %s", path, body, w.Code, answer)
	}
	var parsed map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &parsed); err != nil {
		t.Fatalf("POST %s %q answered %d, not JSON: %q", path, body, w.Code, answer)
	}
	if w.Code >= 400 {
		e, _ := parsed["error"].(map[string]any)
		if e == nil || e["type"] == "" || e["code"] == "" || e["message"] == "" {
			t.Fatalf("POST %s %q answered %d without the contract's error: %s", path, body, w.Code, answer)
		}
		if want := map[int]string{400: "invalid_request", 413: "invalid_request", 422: "invalid_request", 404: "not_found", 409: "conflict"}[w.Code]; want != "" && e["type"] != want {
			t.Fatalf("POST %s answered %d with error type %v, want %s", path, w.Code, e["type"], want)
		}
		if param, _ := e["param"].(string); param != "" && param != "Idempotency-Key" && !fieldPath.MatchString(param) {
			t.Fatalf("POST %s %q answered an error naming param %q, which is no field", path, body, param)
		}
	}
	// An error repeats no long number from the body (a card number sent in the wrong field
	// is one still); an answer repeats no card number.
	secrets, shown := cardNumbers(body), answer
	if w.Code >= 400 {
		secrets = append(secrets, digitRuns(body)...)
	} else {
		// What the customer wrote is shown back as written, whatever it holds.
		for _, echoed := range []string{"billing_address", "contact_email", "return_url", "decision_reason"} {
			delete(parsed, echoed)
		}
		b, _ := json.Marshal(parsed)
		shown = string(b)
	}
	flat := stripSeparators(shown)
	for _, d := range secrets {
		if strings.Contains(flat, d) {
			t.Fatalf("POST %s answered %d repeating %s from the body: %s", path, w.Code, d, answer)
		}
	}
	return w.Code
}

var (
	digitRun = regexp.MustCompile(`[0-9][0-9 -]{10,}[0-9]`)
	// fieldPath is a param an error may name: a field of the body, maybe nested.
	fieldPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63})*$`)
)

func stripSeparators(s string) string { return strings.NewReplacer(" ", "", "-", "").Replace(s) }

// digitRuns is every run of 12 digits or more (maybe grouped) in the body, JSON escapes
// undone.
func digitRuns(body string) []string {
	text := body
	var decoded any
	if json.Unmarshal([]byte(body), &decoded) == nil {
		if b, err := json.Marshal(decoded); err == nil {
			text += " " + string(b)
		}
	}
	var out []string
	for _, m := range digitRun.FindAllString(text, -1) {
		if d := stripSeparators(m); len(d) >= 12 {
			out = append(out, d)
		}
	}
	return out
}

// cardNumbers is the body's card.number, separators dropped, when it is six digits or more.
func cardNumbers(body string) []string {
	var b struct {
		Card struct {
			Number any `json:"number"`
		} `json:"card"`
	}
	_ = json.Unmarshal([]byte(body), &b)
	number, _ := b.Card.Number.(string)
	if d := stripSeparators(number); len(d) >= 6 {
		return []string{d}
	}
	return nil
}

const (
	fuzzPaymentsPath = "/v1/accounts/acct_demo/payments"
	fuzzCardsPath    = "/v1/accounts/acct_demo/payment-methods"
)

// FuzzWriteRoutes sends any body to each write route (route picks which) through the real
// router: never a 5xx, the contract's error shape, no card number echoed, an error's param a
// field of the request, and whatever is accepted is what the route's validation promises.
func FuzzWriteRoutes(f *testing.F) {
	const (
		createPayment = iota
		addPaymentMethod
		repDecision
		routes
	)
	for _, seed := range []struct {
		route     uint8
		body, key string
	}{
		{createPayment, `{"amount": 1500, "currency": "USD", "method": "card", "card": {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Ada"}, "use_company_info": true}`, "key-1"},
		{createPayment, `{"amount": 2000, "currency": "EUR", "method": "paypal", "return_url": "https://shop.example/back?x=1"}`, "key-2"},
		{createPayment, `{"amount": 1500, "currency": "USD", "method": "card", "card": {"number": "4242424242424241", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Ada"}, "billing_address": {"line1": "1 Main", "city": "X", "postal_code": "1", "country": "US"}}`, "key-3"},
		{createPayment, `{"amount": 0, "currency": "usd", "method": "cash"}`, ""},
		{createPayment, `{"amount": 1, "currency": "USD", "method": "paypal", "card": {}}`, strings.Repeat("k", 300)},
		{createPayment, `{"amount": 1, "currency": "USD", "method": "paypal", "return_url": "javascript:alert(1)"}`, "\xff"},
		{createPayment, `{"amount": "1500", "AMOUNT": 2, "4242424242424242": 1}`, "k"},
		{createPayment, `{"amount": 1e400} {"amount": 2}`, "k"},
		{createPayment, `{"amount": 100, "currency": "USD", "method": "paypal", "metadata": {"order": "A-1", "Order": "b", "4242424242424242": "x"}}`, "k"},
		{createPayment, `{"amount": 100, "currency": "USD", "method": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A"}, "use_company_info": true, "metadata": {"pan": "4242-4242-4242-4242", "n": {"x": 1}}}`, "k"},
		{addPaymentMethod, `{"card": {"number": "4242 4242 4242 4242", "exp_month": 3, "exp_year": 2026, "cvc": "123", "holder_name": "Ada Lovelace"}, "billing_address": {"line1": " 1 Main St ", "city": "Springfield", "postal_code": "12345", "country": "US"}, "contact_email": "ap@example.com"}`, ""},
		{addPaymentMethod, `{"card": {"number": "378282246310005", "exp_month": 12, "exp_year": 2030, "cvc": "1234", "holder_name": "A"}, "use_company_info": true, "contact_email": "a@b.co", "eu_supported": true}`, ""},
		{addPaymentMethod, `{"card": {"number": "4242424242424242", "exp_month": 3, "exp_year": 2026, "cvc": "123", "holder_name": "A\u0000"}, "billing_address": {"line1": "a\nb", "city": "c", "postal_code": "1", "country": "us"}, "contact_email": "Ada <a@b.co>"}`, ""},
		{addPaymentMethod, `{"card": {"number": 4242424242424242}, "card": {"number": "5555555555554444"}}`, ""},
		{addPaymentMethod, `{"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "A"}, "use_company_info": true, "contact_email": "a@b.co", "metadata": {"k": "a\u0000b", "METADATA": 1}}`, ""},
		{repDecision, `{"decision": "approve"}`, ""},
		{repDecision, `{"decision": "reject", "reason": "the name does not match the company"}`, ""},
		{repDecision, `{"decision": "maybe", "reason": "a\u0000b"}`, ""},
		{repDecision, `{"decision": "reject", "reason": "` + strings.Repeat("é", 501) + `"}`, ""},
		{repDecision, "{\"reason\": \"\xff\"}", ""},
	} {
		f.Add(seed.route, seed.body, seed.key)
	}
	r := newFuzzRouter()
	f.Fuzz(func(t *testing.T, route uint8, body, idempotencyKey string) {
		switch route % routes {
		case createPayment:
			header := map[string]string{}
			if idempotencyKey != "" && !strings.ContainsAny(idempotencyKey, "\r\n\x00") {
				header["Idempotency-Key"] = idempotencyKey
			}
			if r.post(t, fuzzPaymentsPath, "cust", body, header) != http.StatusAccepted {
				return
			}
			var b struct {
				Amount   int64         `json:"amount"`
				Currency string        `json:"currency"`
				Method   string        `json:"method"`
				Card     *gateway.Card `json:"card"`
			}
			if err := json.Unmarshal([]byte(body), &b); err != nil || b.Amount <= 0 || !billing.ValidCurrency(b.Currency) ||
				(b.Method != "card" && b.Method != "paypal") ||
				(b.Method == "card" && (b.Card == nil || gateway.ValidateCard(*b.Card, cardNow) != nil)) {
				t.Fatalf("accepted the payment %q", body)
			}
		case addPaymentMethod:
			if r.post(t, fuzzCardsPath, "cust", body, nil) != http.StatusAccepted {
				return
			}
			var b struct {
				Card         *gateway.Card `json:"card"`
				ContactEmail string        `json:"contact_email"`
			}
			if err := json.Unmarshal([]byte(body), &b); err != nil || b.Card == nil || gateway.ValidateCard(*b.Card, cardNow) != nil ||
				!strings.Contains(b.ContactEmail, "@") {
				t.Fatalf("accepted the card %q", body)
			}
		case repDecision:
			if r.post(t, "/v1/rep/payment-methods/pm_abc/decision", "rep", body, nil) != http.StatusOK {
				return
			}
			var b struct{ Decision, Reason string }
			if err := json.Unmarshal([]byte(body), &b); err != nil || (b.Decision != "approve" && b.Decision != "reject") {
				t.Fatalf("accepted the decision %q", body)
			}
		}
	})
}

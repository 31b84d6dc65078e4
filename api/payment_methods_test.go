package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/testenv"
)

// cardNow is the validation clock: cards expiring 03/2026 are still good, 02/2026 are not.
var cardNow = time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)

// cardKeys maps the test's API keys to callers.
type cardKeys map[string]billing.Caller

func (k cardKeys) CallerByAPIKey(_ context.Context, key string) (billing.Caller, error) {
	if c, ok := k[key]; ok {
		return c, nil
	}
	return billing.Caller{}, billing.Errorf(billing.KindUnauthenticated, billing.CodeInvalidKey, "unknown key")
}

// cardOnFile is a card as the card service answers one: every field the contract requires,
// the account's company address as its billing address.
func cardOnFile(id, accountID string, status billing.PaymentMethodStatus) billing.PaymentMethod {
	return billing.PaymentMethod{ID: id, AccountID: accountID, Status: status, Brand: "visa", Last4: "4242",
		ExpMonth: 12, ExpYear: 2030, ContactEmail: "billing@example.com",
		BillingAddress: billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		CreatedAt:      cardNow, ValidationDeadline: cardNow.Add(24 * time.Hour), WorkflowID: "card-validation/" + id}
}

// fakeCards records what the handlers ask of the card service.
type fakeCards struct {
	mu        sync.Mutex
	added     []portal.NewCard
	decisions []string
	decideErr error
}

func (f *fakeCards) Add(_ context.Context, accountID string, in portal.NewCard) (billing.PaymentMethod, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, in)
	pm := cardOnFile("pm_new", accountID, billing.PMPendingValidation)
	pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear = in.Card.Brand(), in.Card.Last4(), in.Card.ExpMonth, in.Card.ExpYear
	pm.ContactEmail, pm.EUSupported = in.ContactEmail, in.EUSupported
	if in.BillingAddress != nil {
		pm.BillingAddress = *in.BillingAddress
	}
	return pm, false, nil
}

func (f *fakeCards) List(context.Context, string, billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return nil, false, nil
}

func (f *fakeCards) Get(context.Context, string, string) (billing.PaymentMethod, error) {
	return billing.PaymentMethod{}, billing.NotFound("payment method")
}

func (f *fakeCards) Pending(context.Context, billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return []billing.PaymentMethod{cardOnFile("pm_old", "acct_demo", billing.PMPendingValidation)}, false, nil
}

func (f *fakeCards) Decide(_ context.Context, repKeyID, pmID string, d billing.Decision, reason, _ string) (billing.PaymentMethod, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decisions = append(f.decisions, repKeyID+" "+pmID+" "+string(d)+" "+reason)
	if f.decideErr != nil {
		return billing.PaymentMethod{}, false, f.decideErr
	}
	pm := cardOnFile(pmID, "acct_demo", billing.PMValidated)
	pm.DecidedAt = &cardNow
	return pm, false, nil
}

func startCardServer(t *testing.T) (*fakeCards, string) {
	t.Helper()
	cards := &fakeCards{}
	srv := &api.Server{
		Auth: cardKeys{
			"cust": {KeyID: "key_cust", AccountID: "acct_demo"},
			"rep":  {KeyID: "key_rep", Rep: true},
		},
		Cards:  cards,
		Clock:  &billing.FixedClock{T: cardNow},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return cards, ts.URL
}

func cardCall(t *testing.T, base, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	resp, raw := testenv.Do(t, base, testenv.Request{Method: method, Path: path, Key: key, Body: body})
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s answered %d with non-JSON %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// cardBody is a valid request with edits applied as JSON merges: "card" keys go inside card.
func cardBody(t *testing.T, edits map[string]any) string {
	t.Helper()
	card := map[string]any{"number": "4242 4242 4242 4242", "exp_month": 3, "exp_year": 2026, "cvc": "123", "holder_name": "Ada Lovelace"}
	body := map[string]any{
		"card":            card,
		"billing_address": map[string]any{"line1": " 1 Main St ", "city": "Springfield", "postal_code": "12345", "country": "US"},
		"contact_email":   "ap@example.com",
	}
	for k, v := range edits {
		if field, ok := strings.CutPrefix(k, "card."); ok {
			if v == nil {
				delete(card, field)
			} else {
				card[field] = v
			}
			continue
		}
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAddPaymentMethodValidatesEveryField(t *testing.T) {
	cards, base := startCardServer(t)
	addr := func(edits map[string]any) map[string]any {
		a := map[string]any{"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
		for k, v := range edits {
			if v == nil {
				delete(a, k)
			} else {
				a[k] = v
			}
		}
		return a
	}
	cases := []struct {
		name        string
		body        string
		status      int
		code, param string
	}{
		{"no card", cardBody(t, map[string]any{"card": nil}), 422, "missing_field", "card"},
		{"no number", cardBody(t, map[string]any{"card.number": nil}), 422, "missing_field", "card.number"},
		{"letters", cardBody(t, map[string]any{"card.number": "4242abcd42424242"}), 422, "invalid_card_number", "card.number"},
		{"luhn", cardBody(t, map[string]any{"card.number": "4242424242424241"}), 422, "invalid_card_number", "card.number"},
		{"visa length", cardBody(t, map[string]any{"card.number": "42424242424242"}), 422, "invalid_card_number", "card.number"},
		{"unknown brand", cardBody(t, map[string]any{"card.number": "9999999999999995"}), 422, "invalid_card_number", "card.number"},
		{"month", cardBody(t, map[string]any{"card.exp_month": 13}), 422, "invalid_expiry", "card.exp_month"},
		{"expired last month", cardBody(t, map[string]any{"card.exp_month": 2}), 422, "card_expired", "card.exp_month"},
		{"expired last year", cardBody(t, map[string]any{"card.exp_month": 12, "card.exp_year": 2025}), 422, "card_expired", "card.exp_year"},
		{"cvc letters", cardBody(t, map[string]any{"card.cvc": "12a"}), 422, "invalid_cvc", "card.cvc"},
		{"amex needs 4", cardBody(t, map[string]any{"card.number": "378282246310005"}), 422, "invalid_cvc", "card.cvc"},
		{"holder", cardBody(t, map[string]any{"card.holder_name": "  "}), 422, "missing_field", "card.holder_name"},
		{"holder too long", cardBody(t, map[string]any{"card.holder_name": strings.Repeat("a", 201)}), 422, "invalid_value", "card.holder_name"},
		{"neither address", cardBody(t, map[string]any{"billing_address": nil}), 422, "missing_field", "billing_address"},
		{"both addresses", cardBody(t, map[string]any{"use_company_info": true}), 422, "invalid_value", "use_company_info"},
		{"line1", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"line1": " "})}), 422, "missing_field", "billing_address.line1"},
		{"city", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"city": nil})}), 422, "missing_field", "billing_address.city"},
		{"postal code", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"postal_code": strings.Repeat("1", 21)})}), 422, "invalid_value", "billing_address.postal_code"},
		{"country", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"country": "usa"})}), 422, "invalid_value", "billing_address.country"},
		{"country case", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"country": "us"})}), 422, "invalid_value", "billing_address.country"},
		{"no email", cardBody(t, map[string]any{"contact_email": nil}), 422, "missing_field", "contact_email"},
		{"bad email", cardBody(t, map[string]any{"contact_email": "ap@"}), 422, "invalid_email", "contact_email"},
		{"named email", cardBody(t, map[string]any{"contact_email": "AP <ap@example.com>"}), 422, "invalid_email", "contact_email"},
		{"unknown field", cardBody(t, map[string]any{"card.pin": "0000"}), 400, "unknown_field", "pin"}, // decodeJSON names the field without its path,
		{"wrong type", cardBody(t, map[string]any{"card.exp_month": "03"}), 400, "wrong_type", "card.exp_month"},
		{"address field", cardBody(t, map[string]any{"billing_address": addr(map[string]any{"street": "x"})}), 400, "unknown_field", "street"},
		{"malformed", `{"card": `, 400, "malformed_json", ""},
	}
	for _, tc := range cases {
		status, out := cardCall(t, base, "POST", "/v1/accounts/acct_demo/payment-methods", "cust", tc.body)
		e, _ := out["error"].(map[string]any)
		if status != tc.status || e["code"] != tc.code || (e["param"] != nil && e["param"] != tc.param) || (e["param"] == nil && tc.param != "") {
			t.Errorf("%s: %d %v, want %d %s on %q", tc.name, status, out, tc.status, tc.code, tc.param)
		}
		if msg, _ := e["message"].(string); strings.Contains(msg, "4242") || strings.Contains(msg, "123") {
			t.Errorf("%s: the error message repeats card data: %q", tc.name, msg)
		}
	}
	if len(cards.added) != 0 {
		t.Errorf("invalid requests reached the card service %d times", len(cards.added))
	}
}

func TestAddPaymentMethodPassesACleanCard(t *testing.T) {
	cards, base := startCardServer(t)
	status, out := cardCall(t, base, "POST", "/v1/accounts/acct_demo/payment-methods", "cust",
		cardBody(t, map[string]any{"eu_supported": true, "contact_email": " ap@example.com "}))
	if status != 202 || out["status"] != "pending_validation" || out["last4"] != "4242" || out["decided_at"] != nil ||
		out["validation_deadline"] != "2026-04-01T23:00:00Z" || out["workflow_id"] != "card-validation/pm_new" {
		t.Fatalf("202 answer: %d %v", status, out)
	}
	for _, field := range []string{"number", "cvc", "card", "processor_token"} {
		if _, ok := out[field]; ok {
			t.Errorf("the answer shows %q", field)
		}
	}
	in := cards.added[0]
	if in.BillingAddress == nil || in.BillingAddress.Line1 != "1 Main St" || in.ContactEmail != "ap@example.com" || !in.EUSupported {
		t.Errorf("service got %+v / %+v", in, in.BillingAddress)
	}

	status, _ = cardCall(t, base, "POST", "/v1/accounts/acct_demo/payment-methods", "cust",
		cardBody(t, map[string]any{"billing_address": nil, "use_company_info": true, "card.number": "378282246310005", "card.cvc": "1234"}))
	if status != 202 || cards.added[1].BillingAddress != nil {
		t.Errorf("use_company_info: %d, address %+v, want 202 and the service to use the company's", status, cards.added[1].BillingAddress)
	}
	if status, _ := cardCall(t, base, "POST", "/v1/accounts/acct_other/payment-methods", "cust", cardBody(t, nil)); status != 404 {
		t.Errorf("another account: %d, want 404", status)
	}
	if status, _ := cardCall(t, base, "POST", "/v1/accounts/acct_demo/payment-methods", "rep", cardBody(t, nil)); status != 403 {
		t.Errorf("a rep adding a customer's card: %d, want 403", status)
	}
}

func TestRepDecisionRoute(t *testing.T) {
	cards, base := startCardServer(t)
	path := "/v1/rep/payment-methods/pm_abc/decision"
	cases := []struct {
		name, key, path, body string
		status                int
		code, param           string
	}{
		{"customer key", "cust", path, `{"decision":"approve"}`, 403, "rep_only", ""},
		{"no decision", "rep", path, `{"reason":"x"}`, 422, "missing_field", "decision"},
		{"bad decision", "rep", path, `{"decision":"maybe"}`, 422, "invalid_value", "decision"},
		{"long reason", "rep", path, `{"decision":"reject","reason":"` + strings.Repeat("x", 501) + `"}`, 422, "invalid_value", "reason"},
		{"unknown field", "rep", path, `{"decision":"approve","by":"me"}`, 400, "unknown_field", "by"},
		{"not a card id", "rep", "/v1/rep/payment-methods/inv_abc/decision", `{"decision":"approve"}`, 404, "resource_missing", ""},
	}
	for _, tc := range cases {
		status, out := cardCall(t, base, "POST", tc.path, tc.key, tc.body)
		e, _ := out["error"].(map[string]any)
		param, _ := e["param"].(string)
		if status != tc.status || e["code"] != tc.code || param != tc.param {
			t.Errorf("%s: %d %v, want %d %s %q", tc.name, status, out, tc.status, tc.code, tc.param)
		}
	}
	if len(cards.decisions) != 0 {
		t.Fatalf("refused decisions reached the service: %q", cards.decisions)
	}

	status, out := cardCall(t, base, "POST", path, "rep", `{"decision":"approve","reason":"  matches\nthe ID  "}`)
	if status != 200 || out["status"] != "validated" {
		t.Errorf("approve: %d %v", status, out)
	}
	if want := "key_rep pm_abc approve matches the ID"; len(cards.decisions) != 1 || cards.decisions[0] != want {
		t.Errorf("service got %q, want %q", cards.decisions, want)
	}

	cards.decideErr = billing.Conflict(billing.CodeAlreadyDecided, "payment method pm_abc is already validated")
	status, out = cardCall(t, base, "POST", path, "rep", `{"decision":"reject"}`)
	if e, _ := out["error"].(map[string]any); status != 409 || e["code"] != "already_decided" || e["type"] != "conflict" {
		t.Errorf("second decision: %d %v, want 409 already_decided", status, out)
	}
}

func TestRepQueue(t *testing.T) {
	_, base := startCardServer(t)
	status, out := cardCall(t, base, "GET", "/v1/rep/payment-methods?status=pending_validation", "rep", "")
	data, _ := out["data"].([]any)
	if status != 200 || len(data) != 1 || data[0].(map[string]any)["account_id"] != "acct_demo" {
		t.Errorf("queue: %d %v", status, out)
	}
	if status, _ := cardCall(t, base, "GET", "/v1/rep/payment-methods?status=validated", "rep", ""); status != 422 {
		t.Errorf("queue of validated cards: %d, want 422", status)
	}
	if status, _ := cardCall(t, base, "GET", "/v1/rep/payment-methods?limit=0", "rep", ""); status != 422 {
		t.Errorf("limit=0: %d, want 422", status)
	}
}

// Idempotency-Key is optional on card additions and decisions, and checked as on payments
// when sent: the service gets it, and one too long never reaches the service.
func TestOptionalIdempotencyKeyIsCheckedWhenSent(t *testing.T) {
	cards, base := startCardServer(t)
	long := strings.Repeat("k", 256)
	for _, tc := range []struct{ path, key, body string }{
		{"/v1/accounts/acct_demo/payment-methods", "cust", cardBody(t, nil)},
		{"/v1/rep/payment-methods/pm_old/decision", "rep", `{"decision": "approve"}`},
		{"/v1/accounts/acct_demo/payments/pay_x/cancel", "cust", ""},
	} {
		resp, raw := testenv.Do(t, base, testenv.Request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body,
			Header: map[string]string{"Idempotency-Key": long}})
		var out struct{ Error struct{ Code, Param string } }
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode != 400 || out.Error.Code != "invalid_value" || out.Error.Param != "Idempotency-Key" {
			t.Errorf("%s with a 256-character key: %d %s, want 400 invalid_value on Idempotency-Key", tc.path, resp.StatusCode, raw)
		}
	}
	if len(cards.added) != 0 || len(cards.decisions) != 0 {
		t.Errorf("a request with a bad key reached the service: %v %v", cards.added, cards.decisions)
	}
	resp, raw := testenv.Do(t, base, testenv.Request{Method: "POST", Path: "/v1/accounts/acct_demo/payment-methods", Key: "cust",
		Body: cardBody(t, nil), Header: map[string]string{"Idempotency-Key": "add-1"}})
	if resp.StatusCode != 202 || len(cards.added) != 1 || cards.added[0].IdempotencyKey != "add-1" {
		t.Errorf("a good key: %d %s, service got %d cards, want 202 and the key passed on", resp.StatusCode, raw, len(cards.added))
	}
}

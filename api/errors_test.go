package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/payportal/payportal/api"
)

// errorOf decodes the contract's error body.
func errorOf(t *testing.T, raw string) (code, message, param string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Message, Param string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	return b.Error.Code, b.Error.Message, b.Error.Param
}

// TestAmountTypeErrorTeachesMinorUnits: an amount sent as a decimal or a string is refused with
// the conversion the caller needs, in the request's currency, from the value sent when it is
// a decimal; a newcomer told only "must be an integer" would send 50 and pay 0.50.
func TestAmountTypeErrorTeachesMinorUnits(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for i, tc := range []struct{ body, want string }{
		{`{"amount":50.00,"currency":"USD","method":"paypal"}`, "amount must be an integer number of minor units: 50.00 USD is 5000"},
		{`{"amount":"50","currency":"USD","method":"paypal"}`, "amount must be an integer number of minor units: 50.00 USD is 5000"},
		{`{"amount":12.5,"currency":"EUR","method":"paypal"}`, "amount must be an integer number of minor units: 12.5 EUR is 1250"},
		{`{"currency":"EUR","amount":"12.5","method":"paypal"}`, "amount must be an integer number of minor units: 12.5 EUR is 1250"},
		{`{"amount":12.5,"currency":"JPY","method":"paypal"}`, "amount must be an integer number of minor units: 50 JPY is 50"},
		{`{"amount":1.5,"currency":"KWD","method":"paypal"}`, "amount must be an integer number of minor units: 1.5 KWD is 1500"},
		{`{"amount":12.345,"currency":"USD","method":"paypal"}`, "amount must be an integer number of minor units: 50.00 USD is 5000"},
		{`{"amount":true,"method":"paypal"}`, "amount must be an integer number of minor units: 50.00 USD is 5000"},
		{`{"amount":1.5,"currency":"usd","method":"paypal"}`, "amount must be an integer number of minor units: 1.5 USD is 150"},
		{`{"amount":99999999999999999999,"currency":"USD","method":"paypal"}`, "amount is out of range: an amount is at most 9223372036854775807 minor units"},
	} {
		resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust", body: tc.body,
			header: map[string]string{"Idempotency-Key": "k" + string(rune('a'+i))}})
		code, msg, param := errorOf(t, raw)
		if resp.StatusCode != http.StatusBadRequest || code != "wrong_type" || param != "amount" || msg != tc.want {
			t.Errorf("%s: %d %s %q (param %q), want 400 wrong_type %q", tc.body, resp.StatusCode, code, msg, param, tc.want)
		}
	}
}

// TestCurrencyErrorStatesTheRule: the rule (three upper-case letters, ISO 4217), not only an
// example; a lower-case code is named as it should be sent.
func TestCurrencyErrorStatesTheRule(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for i, tc := range []struct{ currency, want string }{
		{"usd", "currency must be three upper-case letters (ISO 4217), e.g. USD: send USD, not usd"},
		{"DOLLARS", "currency must be three upper-case letters (ISO 4217), e.g. USD"},
		{"€", "currency must be three upper-case letters (ISO 4217), e.g. USD"},
	} {
		body := `{"amount":5000,"currency":"` + tc.currency + `","method":"paypal"}`
		resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust", body: body,
			header: map[string]string{"Idempotency-Key": "c" + string(rune('a'+i))}})
		code, msg, param := errorOf(t, raw)
		if resp.StatusCode != http.StatusUnprocessableEntity || code != "invalid_value" || param != "currency" || msg != tc.want {
			t.Errorf("currency %q: %d %s %q (param %q), want 422 invalid_value %q", tc.currency, resp.StatusCode, code, msg, param, tc.want)
		}
	}
}

// TestErrorTextIsNotHTMLEscaped: JSON is no HTML page; "<key>" reads as written, on every
// error and on the 405 answer.
func TestErrorTextIsNotHTMLEscaped(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	resp, raw := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(raw, "Bearer <key>") || strings.Contains(raw, `\u003c`) {
		t.Errorf("no key: %d %s, want 401 saying Bearer <key> literally", resp.StatusCode, raw)
	}
	resp, raw = s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", header: map[string]string{"Authorization": "Basic x&y"}})
	if resp.StatusCode != http.StatusUnauthorized || strings.ContainsAny(raw, `\`) {
		t.Errorf("Basic auth: %d %s, want 401 without escapes", resp.StatusCode, raw)
	}
}

package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
)

// TestMetadataLimits: each of metadata's limits is refused with 422 invalid_metadata on
// metadata, on both routes that take it, with a message saying which limit; metadata at
// every limit passes through to the service as sent.
func TestMetadataLimits(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1_000_000})
	fifty, fiftyOne := map[string]any{}, map[string]any{}
	for i := range 51 {
		if i < 50 {
			fifty[fmt.Sprintf("k%d", i)] = "v"
		}
		fiftyOne[fmt.Sprintf("k%d", i)] = "v"
	}
	atLimits := map[string]any{strings.Repeat("é", 40): strings.Repeat("東", 500), "a": "1", "A": "2", "note": "two\nlines"}

	routes := []struct {
		name, path string
		body       func(metadata any) map[string]any
		header     map[string]string
	}{
		{"payment", fuzzPaymentsPath, func(m any) map[string]any {
			return map[string]any{"amount": 100, "currency": "USD", "method": "paypal", "metadata": m}
		}, map[string]string{"Idempotency-Key": "k"}},
		{"payment method", fuzzCardsPath, func(m any) map[string]any {
			return map[string]any{"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder_name": "Ada"},
				"use_company_info": true, "contact_email": "ap@example.com", "metadata": m}
		}, nil},
	}
	for _, route := range routes {
		for _, tc := range []struct {
			name     string
			metadata any
			says     string
		}{
			{"51 keys", fiftyOne, "at most 50"},
			{"a key of 41 characters", map[string]any{strings.Repeat("k", 41): "v"}, "longer than 40"},
			{"an empty key", map[string]any{"": "v"}, "must not be empty"},
			{"a control character in a key", map[string]any{"a\tb": "v"}, "control characters"},
			{"a value of 501 characters", map[string]any{"k": strings.Repeat("é", 501)}, "longer than 500"},
			{"a nested object", map[string]any{"k": map[string]any{"a": "b"}}, "must be a string"},
			{"an array", map[string]any{"k": []string{"a"}}, "must be a string"},
			{"a number", map[string]any{"k": 12}, "must be a string"},
			{"null", map[string]any{"k": nil}, "must be a string"},
			{"a NUL", map[string]any{"k": "a\x00b"}, "NUL"},
			{"a card number in a value", map[string]any{"k": "paid with 4242 4242 4242 4242"}, "card number"},
			{"a card number as a key", map[string]any{"5555555555554444": "v"}, "card number"},
		} {
			t.Run(route.name+"/"+tc.name, func(t *testing.T) {
				body, _ := json.Marshal(route.body(tc.metadata))
				resp, raw := s.do(t, secRequest{method: http.MethodPost, path: route.path, key: "cust", body: string(body), header: route.header})
				var e contractError
				_ = json.Unmarshal([]byte(raw), &e)
				if resp.StatusCode != http.StatusUnprocessableEntity || e.Error.Code != billing.CodeInvalidMetadata || e.Error.Param != "metadata" ||
					!strings.Contains(e.Error.Message, tc.says) {
					t.Errorf("answered %d %s, want 422 invalid_metadata on metadata saying %q", resp.StatusCode, raw, tc.says)
				}
				if strings.Contains(raw, "4242") || strings.Contains(raw, "5555") {
					t.Errorf("the error repeats the card number: %s", raw)
				}
			})
		}
		t.Run(route.name+"/not an object", func(t *testing.T) {
			body, _ := json.Marshal(route.body("k=v"))
			resp, raw := s.do(t, secRequest{method: http.MethodPost, path: route.path, key: "cust", body: string(body), header: route.header})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, billing.CodeWrongType) {
				t.Errorf("metadata as a string: %d %s, want 400 wrong_type", resp.StatusCode, raw)
			}
		})
		t.Run(route.name+"/a key twice", func(t *testing.T) {
			body, _ := json.Marshal(route.body(map[string]any{"k": "1"}))
			twice := strings.Replace(string(body), `"metadata":{"k":"1"}`, `"metadata":{"k":"1","k":"2"}`, 1)
			resp, raw := s.do(t, secRequest{method: http.MethodPost, path: route.path, key: "cust", body: twice, header: route.header})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, billing.CodeMalformedJSON) {
				t.Errorf("metadata with k twice: %d %s, want 400 malformed_json", resp.StatusCode, raw)
			}
		})
		for name, m := range map[string]map[string]any{"fifty keys": fifty, "keys and values at their limits, case kept": atLimits} {
			t.Run(route.name+"/"+name, func(t *testing.T) {
				body, _ := json.Marshal(route.body(m))
				resp, raw := s.do(t, secRequest{method: http.MethodPost, path: route.path, key: "cust", body: string(body), header: route.header})
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("answered %d %s, want 202", resp.StatusCode, raw)
				}
				var got map[string]string
				if route.path == fuzzPaymentsPath {
					got = s.payments.created[len(s.payments.created)-1].Metadata
				} else {
					got = s.cards.added[len(s.cards.added)-1].Metadata
				}
				want := map[string]string{}
				for k, v := range m {
					want[k] = v.(string)
				}
				if !maps.Equal(got, want) {
					t.Errorf("the service got %d keys, want the %d sent", len(got), len(want))
				}
			})
		}
	}
}

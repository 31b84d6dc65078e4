package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/payportal/payportal/api"
)

// TestTrustedProxyForwardsTheClientAddress: behind a trusted proxy each client has its own
// authentication-failure budget, read from X-Forwarded-For, so one client guessing keys does
// not lock out the others; what a client writes into the header itself is not believed.
func TestTrustedProxyForwardsTheClientAddress(t *testing.T) {
	// httptest serves on loopback: the test's connections come from 127.0.0.1, the "proxy".
	s := startSecurityServer(t, api.RateLimits{PerSecond: 0.001, Burst: 3}, func(srv *api.Server) {
		srv.TrustedProxies = []string{"127.0.0.0/8", "::1/128"}
	})
	from := func(xff, key string) int {
		resp, _ := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", key: key, header: map[string]string{"X-Forwarded-For": xff}})
		return resp.StatusCode
	}
	var guesses []int
	for i := range 4 {
		guesses = append(guesses, from("203.0.113.5", fmt.Sprintf("guess%d", i)))
	}
	if fmt.Sprint(guesses) != "[401 401 401 429]" {
		t.Fatalf("4 unknown keys from one forwarded address answered %v, want 3 × 401 then 429", guesses)
	}
	if got := from("203.0.113.6", "cust"); got != http.StatusOK {
		t.Errorf("another client behind the proxy: %d, want 200 (its own budget)", got)
	}
	// The proxy appends the address it saw: entries a client wrote before it are skipped.
	if got := from("198.51.100.1, 203.0.113.5", "cust"); got != http.StatusTooManyRequests {
		t.Errorf("the locked-out client prefixing a forged address: %d, want 429", got)
	}
	// A proxy chain: trusted hops on the right are skipped to reach the client.
	if got := from("203.0.113.5, 127.0.0.2", "cust"); got != http.StatusTooManyRequests {
		t.Errorf("the locked-out client behind two proxies: %d, want 429", got)
	}
}

// TestUntrustedPeerCannotForwardAnAddress: when the peer is not a trusted proxy its
// X-Forwarded-For is ignored, so changing the header does not buy a new budget.
func TestUntrustedPeerCannotForwardAnAddress(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 0.001, Burst: 3}, func(srv *api.Server) {
		srv.TrustedProxies = []string{"10.0.0.0/8"} // not the test's loopback peer
	})
	var statuses []int
	for i := range 4 {
		resp, _ := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", key: fmt.Sprintf("guess%d", i),
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}})
		statuses = append(statuses, resp.StatusCode)
	}
	if fmt.Sprint(statuses) != "[401 401 401 429]" {
		t.Errorf("4 unknown keys from one peer with varying X-Forwarded-For answered %v, want 3 × 401 then 429", statuses)
	}
	resp, _ := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", key: "cust", header: map[string]string{"X-Forwarded-For": "203.0.113.99"}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a valid key from the same peer claiming a new address: %d, want 429", resp.StatusCode)
	}
}

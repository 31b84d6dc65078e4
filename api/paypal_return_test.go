package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/payportal/payportal/api"
)

// TestPayPalReturnRedirectsOnlyWhileThePaymentWaited: the return and cancel links send the
// buyer to return_url only on the visit that found the payment waiting for the buyer; once the
// payment has moved on, the link answers the payment (200 JSON), so it is no open redirect.
func TestPayPalReturnRedirectsOnlyWhileThePaymentWaited(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for _, link := range []string{"/v1/paypal/return", "/v1/paypal/cancel"} {
		resp, raw := s.do(t, secRequest{path: link + "?token=ORDER1"})
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/back" {
			t.Errorf("%s while waiting: %d to %q %s, want 302 to the return_url", link, resp.StatusCode, resp.Header.Get("Location"), raw)
		}
		resp, raw = s.do(t, secRequest{path: link + "?token=ORDER2"})
		var p struct{ ID, Status string }
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "" || json.Unmarshal([]byte(raw), &p) != nil ||
			p.ID != "pay_pp2" || p.Status != "succeeded" {
			t.Errorf("%s after the payment ended: %d to %q %s, want 200 with the payment", link, resp.StatusCode, resp.Header.Get("Location"), raw)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s after the payment ended: Content-Type %q", link, resp.Header.Get("Content-Type"))
		}
	}
}

// TestReturnURLHostsAllowList: return_url must name a listed host, exactly or under a "*."
// wildcard (subdomains only); with no list, production refuses every return_url and says
// which setting lists the hosts, while development (AnyWhenEmpty) takes any host.
func TestReturnURLHostsAllowList(t *testing.T) {
	pay := func(s *securityServer, returnURL string) (*http.Response, string) {
		body := `{"amount":100,"currency":"USD","method":"paypal"}`
		if returnURL != "" {
			body = fmt.Sprintf(`{"amount":100,"currency":"USD","method":"paypal","return_url":%q}`, returnURL)
		}
		return s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust", body: body,
			header: map[string]string{"Idempotency-Key": "k-" + fmt.Sprint(len(returnURL)) + strings.NewReplacer("/", "", ":", "").Replace(returnURL)}})
	}
	refused := func(resp *http.Response, raw string) bool {
		return resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(raw, `"code":"invalid_value"`) &&
			strings.Contains(raw, `"param":"return_url"`) && strings.Contains(raw, "PAYPORTAL_RETURN_URL_HOSTS")
	}

	listed := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6}, func(srv *api.Server) {
		srv.ReturnURLHosts = api.ReturnURLHosts{Allowed: []string{"shop.example.com", "*.pay.example", "127.0.0.1"}}
	})
	for _, good := range []string{"https://shop.example.com/back?o=1", "https://SHOP.example.com/x", "https://a.pay.example/",
		"https://x.y.pay.example:8443/done", "http://127.0.0.1:3000/paid"} {
		if resp, raw := pay(listed, good); resp.StatusCode != http.StatusAccepted {
			t.Errorf("listed host %q: %d %s, want 202", good, resp.StatusCode, raw)
		}
	}
	for _, bad := range []string{"https://pay.example/", "https://evilshop.example.com/", "https://shop.example.com.evil.example/",
		"https://evil.example/?next=shop.example.com", "https://apay.example/", "http://127.0.0.2/"} {
		if resp, raw := pay(listed, bad); !refused(resp, raw) {
			t.Errorf("unlisted host %q: %d %s, want 422 invalid_value on return_url naming the setting", bad, resp.StatusCode, raw)
		}
	}

	production := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6}, func(srv *api.Server) {
		srv.ReturnURLHosts = api.ReturnURLHosts{}
	})
	if resp, raw := pay(production, "https://shop.example.com/back"); !refused(resp, raw) {
		t.Errorf("production without a list: %d %s, want 422 invalid_value on return_url naming the setting", resp.StatusCode, raw)
	}
	if resp, raw := pay(production, ""); resp.StatusCode != http.StatusAccepted {
		t.Errorf("production without a list, no return_url: %d %s, want 202", resp.StatusCode, raw)
	}

	development := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6}) // AnyWhenEmpty
	if resp, raw := pay(development, "https://anything.example/back"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("development without a list: %d %s, want 202", resp.StatusCode, raw)
	}
}

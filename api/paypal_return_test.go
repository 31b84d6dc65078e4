package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
)

// TestPayPalReturnRedirectsOnlyWhileThePaymentWaited: the return and cancel links send the
// buyer to return_url only on the visit that found the payment waiting for the buyer; once the
// payment has moved on, the link answers the payment (200: JSON to a client asking for it, the
// landing page to a browser), so it is no open redirect.
func TestPayPalReturnRedirectsOnlyWhileThePaymentWaited(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for _, link := range []string{"/v1/paypal/return", "/v1/paypal/cancel"} {
		resp, raw := s.do(t, secRequest{path: link + "?token=ORDER1"})
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/back" {
			t.Errorf("%s while waiting: %d to %q %s, want 302 to the return_url", link, resp.StatusCode, resp.Header.Get("Location"), raw)
		}
		resp, raw = s.do(t, secRequest{path: link + "?token=ORDER2", header: map[string]string{"Accept": "application/json"}})
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

// TestPayPalReturnLandsABrowserOnAPage: without a redirect, a browser gets a small page saying
// how the payment stands (paid, cancelled, failed, still waiting) with its amount and a link
// back, in English or French by Accept-Language, scriptless under a strict CSP; a client
// asking for JSON gets the payment.
func TestPayPalReturnLandsABrowserOnAPage(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6}, func(srv *api.Server) {
		srv.PortalURL = "https://portal.example/billing"
	})
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	for _, tc := range []struct {
		status            billing.PaymentStatus
		returnURL         string
		lang              string
		state, title, amt string
		back              string
	}{
		{billing.PaymentSucceeded, "https://shop.example/back", "en-US,en;q=0.9", "paid", "Payment received", "$20.00", `href="https://shop.example/back"`},
		{billing.PaymentCanceled, "", "en", "canceled", "Payment cancelled", "$20.00", `href="https://portal.example/billing"`},
		{billing.PaymentExpired, "", "", "canceled", "Payment cancelled", "$20.00", `href="https://portal.example/billing"`},
		{billing.PaymentFailed, "", "en", "failed", "Payment failed", "$20.00", "Back to your account"},
		{billing.PaymentProcessing, "", "fr-FR,fr;q=0.9", "waiting", "Paiement en cours", "20,00", "Retour à votre compte"},
		{billing.PaymentRequiresAction, "", "fr", "waiting", "Paiement en cours", "20,00", "Retour à votre compte"},
		{billing.PaymentSucceeded, "", "fr", "paid", "Paiement reçu", "20,00", "Retour à votre compte"},
	} {
		s.payments.landed = &billing.Payment{ID: "pay_land", Status: tc.status, Method: billing.MethodPayPal,
			Amount: billing.Money{Amount: 2000, Currency: "USD"}, ReturnURL: tc.returnURL, CreatedAt: cardNow}
		h := map[string]string{"Accept-Language": tc.lang}
		for k, v := range browser {
			h[k] = v
		}
		for _, link := range []string{"/v1/paypal/return", "/v1/paypal/cancel"} {
			resp, page := s.do(t, secRequest{path: link + "?token=LANDED", header: h})
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s for a %s payment: %d %s %s", link, tc.status, resp.StatusCode, resp.Header.Get("Content-Type"), page)
			}
			for _, w := range []string{`data-state="` + tc.state + `"`, tc.title, `id="payment">pay_land`, tc.back, "PayPortal", tc.amt} {
				if !strings.Contains(page, w) {
					t.Errorf("%s for a %s payment (Accept-Language %q) lacks %q:\n%s", link, tc.status, tc.lang, w, page)
				}
			}
			if strings.Contains(page, "<script") {
				t.Errorf("%s: the landing page has a script", link)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("%s: CSP %q, X-Frame-Options %q", link, csp, resp.Header.Get("X-Frame-Options"))
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Errorf("%s: Vary %q, want Accept (the answer depends on it)", link, resp.Header.Get("Vary"))
			}
		}
	}

	// Content negotiation: JSON to whoever prefers it, the page to browsers and to */*.
	for _, tc := range []struct {
		accept, want string
	}{
		{"application/json", "application/json"},
		{"application/json, text/html;q=0.5", "application/json"},
		{"text/html", "text/html"},
		{"*/*", "text/html"},
		{"", "text/html"},
	} {
		resp, raw := s.do(t, secRequest{path: "/v1/paypal/return?token=LANDED", header: map[string]string{"Accept": tc.accept}})
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.want) {
			t.Errorf("Accept %q: %d %s, want %s", tc.accept, resp.StatusCode, resp.Header.Get("Content-Type"), tc.want)
		}
		if tc.want == "application/json" {
			var p struct{ ID, Status string }
			if json.Unmarshal([]byte(raw), &p) != nil || p.ID != "pay_land" {
				t.Errorf("Accept %q: %s, want the payment", tc.accept, raw)
			}
		}
	}

	// No return_url and no portal: no link, a word instead.
	bare := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	bare.payments.landed = &billing.Payment{ID: "pay_land", Status: billing.PaymentSucceeded, Method: billing.MethodPayPal,
		Amount: billing.Money{Amount: 2000, Currency: "USD"}, CreatedAt: cardNow}
	if _, page := bare.do(t, secRequest{path: "/v1/paypal/return?token=LANDED"}); strings.Contains(page, "<a ") ||
		!strings.Contains(page, "You can close this page.") {
		t.Errorf("landing page without a link back:\n%s", page)
	}
}

// TestSandboxCheckoutNamesWhoIsPaidForWhat: the sandbox's approval page names the merchant,
// the account (company and id), the payment and the amount, escaped.
func TestSandboxCheckoutNamesWhoIsPaidForWhat(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6}, func(srv *api.Server) { srv.MerchantName = "Acme Cloud" })
	resp, page := s.do(t, secRequest{path: "/sandbox/paypal/checkout?token=ORDER1"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("checkout page: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{`id="merchant">Acme Cloud`, "$20.00", `id="account">Acme &lt;Corp&gt; (acct_demo)`,
		`id="payment">pay_pp`, `id="order">ORDER1`, "PayPortal payment pay_pp"} {
		if !strings.Contains(page, want) {
			t.Errorf("checkout page lacks %q:\n%s", want, page)
		}
	}
}

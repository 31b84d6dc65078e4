package stripe

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// Tokens made by Stripe.js and 3-D Secure on session, against stripe-mock. stripe-mock is
// stateless and never runs 3-D Secure, so the proxy gives its fixtures the statuses Stripe
// would answer (requires_action with a redirect, then requires_capture or
// requires_payment_method); what is checked is what PayPortal sends and how it reads them.
func TestTokensAnd3DSAgainstStripeMock(t *testing.T) {
	ctx := context.Background()
	proxy := &mockProxy{}
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: proxy.start(t, startStripeMock(t))})
	if err != nil {
		t.Fatal(err)
	}

	tc, err := p.RedeemToken(ctx, "pm_from_stripe_js")
	if err != nil || !strings.HasPrefix(tc.Token, "pm_") || tc.Last4 == "" || tc.Brand == "" || tc.ExpMonth == 0 {
		t.Fatalf("RedeemToken = %+v, %v; want the PaymentMethod's card", tc, err)
	}
	if _, ok := proxy.find("GET", "/v1/payment_methods/pm_from_stripe_js"); !ok {
		t.Error("RedeemToken did not retrieve the PaymentMethod")
	}
	if _, err := p.RedeemToken(ctx, "4242424242424242"); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Code != gateway.CodeTokenInvalid {
		t.Errorf("RedeemToken(not a pm_ id) = %v, want %s", err, gateway.CodeTokenInvalid)
	}
	proxy.refuse = func(r *http.Request) (int, string) {
		if r.URL.Path == "/v1/payment_methods/pm_unknown" {
			return http.StatusNotFound, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such PaymentMethod"}}`
		}
		return 0, ""
	}
	if _, err := p.RedeemToken(ctx, "pm_unknown"); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Code != gateway.CodeTokenInvalid {
		t.Errorf("RedeemToken(unknown) = %v, want %s", err, gateway.CodeTokenInvalid)
	}
	proxy.refuse = nil

	const challenge = "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1"
	status := "requires_action"
	proxy.edit = func(r *http.Request, body map[string]any) {
		if strings.HasPrefix(r.URL.Path, "/v1/payment_intents") && !strings.HasSuffix(r.URL.Path, "/cancel") {
			body["status"] = status
			if status == "requires_action" {
				body["next_action"] = map[string]any{"type": "redirect_to_url",
					"redirect_to_url": map[string]any{"url": challenge, "return_url": "http://portal.test/v1/card-authentication/return"}}
			}
		}
	}
	req := gateway.ChargeRequest{Token: tc.Token, Amount: billing.Money{Amount: 900, Currency: "USD"}, IdempotencyKey: "pay_3ds/authorize"}
	a, err := p.AuthorizeOnSession(ctx, req, "http://portal.test/v1/card-authentication/return")
	if err != nil || a.ID == "" || a.RedirectURL != challenge {
		t.Fatalf("AuthorizeOnSession = %+v, %v; want the challenge's redirect", a, err)
	}
	r, _ := proxy.find("POST", "/v1/payment_intents")
	if r.form.Get("return_url") != "http://portal.test/v1/card-authentication/return" || r.form.Has("error_on_requires_action") ||
		r.form.Has("off_session") || r.form.Get("confirm") != "true" || r.form.Get("capture_method") != "manual" || r.idempotencyKey != "pay_3ds/authorize" {
		t.Errorf("on-session payment intent request = %+v", r)
	}

	for st, want := range map[string]gateway.ChargeStatus{"requires_action": gateway.ChargeRequiresAction,
		"requires_capture": gateway.ChargeAuthorized, "requires_payment_method": gateway.ChargeNone} {
		status = st
		c, err := p.LookupAuthorization(ctx, a.ID)
		if err != nil || c.Status != want || c.AuthorizationID != a.ID {
			t.Errorf("LookupAuthorization of a %s intent = %+v, %v; want %s", st, c, err, want)
		}
	}

	// Off session (a recurring charge) the same card declines instead of asking.
	status = "requires_action"
	_, err = p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: req.Amount, IdempotencyKey: "pay_off/authorize"})
	if d, ok := gateway.AsDecline(err); !ok || d.Code != gateway.CodeAuthenticationRequired {
		t.Errorf("off-session Authorize = %v, want a decline %s", err, gateway.CodeAuthenticationRequired)
	}
	if r, _ := proxy.find("POST", "/v1/payment_intents"); r.form.Has("return_url") ||
		(r.form.Get("error_on_requires_action") != "true" && r.form.Get("off_session") != "true") {
		t.Errorf("off-session payment intent request = %+v", r)
	}
}

package portal_test

import (
	"context"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/webhooks"
)

// In production an endpoint must be https and public: each URL is a 422 on url, before
// anything is stored (the service has no database here).
func TestProductionRefusesPrivateWebhookURLs(t *testing.T) {
	s := &portal.Webhooks{Policy: webhooks.Policy{}, Clock: billing.SystemClock{}}
	for _, url := range []string{"https://10.0.0.5/hook", "https://192.168.1.1/", "https://169.254.169.254/latest/meta-data",
		"https://127.0.0.1/", "https://localhost:8443/", "http://hooks.example.com/"} {
		_, _, err := s.CreateEndpoint(context.Background(), "acct_demo", portal.NewWebhookEndpoint{URL: url,
			Events: []billing.EventType{billing.EventPaymentSucceeded}}, "")
		e := billing.ErrorOf(err)
		if e == nil || e.Kind != billing.KindInvalid || e.Param != "url" {
			t.Errorf("%s: %v, want 422 on url", url, err)
		}
	}
	_, _, err := s.CreateEndpoint(context.Background(), "acct_demo", portal.NewWebhookEndpoint{URL: "https://hooks.example.com/",
		Events: []billing.EventType{"payment.teleported"}}, "")
	if e := billing.ErrorOf(err); e == nil || e.Param != "events" {
		t.Errorf("unknown event type: %v, want 422 on events", err)
	}
}

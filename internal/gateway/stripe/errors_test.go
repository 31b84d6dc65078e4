package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// stripeAnswering returns a processor whose Stripe answers every request with status and
// body (Stripe's error JSON), except GET of a payment method, which succeeds.
func stripeAnswering(t *testing.T, status int, body string) *Processor {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test")
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/payment_methods/") {
			fmt.Fprint(w, `{"id":"pm_1","object":"payment_method","type":"card","customer":null,"card":{"brand":"visa","last4":"0002","exp_month":12,"exp_year":2030}}`)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuthorizeErrorMapping(t *testing.T) {
	charge := gateway.ChargeRequest{Token: "pm_1", Amount: billing.Money{Amount: 100, Currency: "USD"}, IdempotencyKey: "k"}
	intent := `"payment_intent":{"id":"pi_1","object":"payment_intent","status":"requires_payment_method","client_secret":"pi_1_secret_DONOTLEAK"}`
	tests := []struct {
		name        string
		status      int
		body        string
		wantDecline string
		transient   bool
		sentinel    error
	}{
		{"generic decline", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined.",` + intent + `}}`, billing.CodeCardDeclined, false, nil},
		{"insufficient funds", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds."}}`, billing.CodeInsufficientFunds, false, nil},
		{"expired", 402, `{"error":{"type":"card_error","code":"expired_card","message":"Your card has expired."}}`, billing.CodeExpiredCard, false, nil},
		{"cvc", 402, `{"error":{"type":"card_error","code":"incorrect_cvc","message":"Your card's security code is incorrect."}}`, billing.CodeIncorrectCVC, false, nil},
		{"processing error", 402, `{"error":{"type":"card_error","code":"processing_error","message":"An error occurred while processing your card."}}`, "", true, nil},
		{"stripe 500", 500, `{"error":{"type":"api_error","message":"Something went wrong."}}`, "", true, nil},
		{"rate limited", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests."}}`, "", true, nil},
		{"key in use", 409, `{"error":{"type":"idempotency_error","code":"idempotency_key_in_use","message":"another request in progress"}}`, "", true, nil},
		{"key reused", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters"}}`, "", false, gateway.ErrInvalidState},
		{"no such intent", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such payment_intent"}}`, "", false, gateway.ErrNotFound},
		{"bad request", 400, `{"error":{"type":"invalid_request_error","code":"parameter_invalid_integer","message":"Invalid integer"}}`, "", false, gateway.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := stripeAnswering(t, tt.status, tt.body)
			_, err := p.Authorize(context.Background(), charge)
			if err == nil {
				t.Fatal("Authorize succeeded")
			}
			if strings.Contains(err.Error(), "DONOTLEAK") {
				t.Errorf("error leaks the client secret: %v", err)
			}
			if d, ok := gateway.AsDecline(err); tt.wantDecline != "" && (!ok || d.Code != tt.wantDecline || d.Message == "") {
				t.Errorf("err = %v, want decline %s", err, tt.wantDecline)
			}
			if gateway.IsTransient(err) != tt.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, !tt.transient, tt.transient)
			}
			if tt.sentinel != nil && (!errors.Is(err, tt.sentinel) || !gateway.IsPermanent(err)) {
				t.Errorf("err = %v, want %v", err, tt.sentinel)
			}
		})
	}
}

func TestVoidOfCanceledIntentSucceeds(t *testing.T) {
	p := stripeAnswering(t, 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
		"message":"You cannot cancel this PaymentIntent because it has a status of canceled.",
		"payment_intent":{"id":"pi_1","object":"payment_intent","status":"canceled"}}}`)
	if err := p.Void(context.Background(), "pi_1", "k"); err != nil {
		t.Fatalf("Void = %v", err)
	}
	p = stripeAnswering(t, 400, `{"error":{"type":"invalid_request_error","code":"payment_intent_unexpected_state",
		"message":"You cannot cancel this PaymentIntent because it has a status of succeeded.",
		"payment_intent":{"id":"pi_1","object":"payment_intent","status":"succeeded"}}}`)
	if err := p.Void(context.Background(), "pi_1", "k"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Fatalf("Void of a captured intent = %v, want ErrInvalidState", err)
	}
}

func TestTokenizeFormatErrors(t *testing.T) {
	card := gateway.Card{Number: "4242424242424241", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada"}
	p := stripeAnswering(t, 402, `{"error":{"type":"card_error","code":"incorrect_number","param":"number","message":"Your card number is incorrect."}}`)
	_, err := p.Tokenize(context.Background(), card, billing.Address{})
	if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeInvalidCardNumber || e.Param != gateway.ParamCardNumber {
		t.Fatalf("Tokenize = %v, want invalid_card_number", err)
	}
	if strings.Contains(err.Error(), "4242424242424241") {
		t.Fatalf("error leaks the number: %v", err)
	}
}

func TestUnreachableStripeIsTransient(t *testing.T) {
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Capture(context.Background(), "pi_1", billing.Money{Amount: 1, Currency: "USD"}, "k")
	if !gateway.IsTransient(err) {
		t.Fatalf("Capture = %v, want transient", err)
	}
	if _, err := p.Capture(context.Background(), "pi_1", billing.Money{Amount: 1, Currency: "USD"}, ""); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Fatalf("Capture without key = %v", err)
	}
}

package paypal

import (
	"context"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// TestEachPayPalCallIsASpan: the token and the order calls are client spans under the
// caller's, and PayPal is sent no trace context.
func TestEachPayPalCallIsASpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := &fakePayPal{t: t, tokenLifetime: 32400, revoked: map[string]bool{}, replies: map[string]string{},
		orders: map[string]string{}, captures: map[string]string{}, answers: map[string]string{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, ClientID: "client-id", ClientSecret: "s3cret", HTTPClient: srv.Client(), Tracing: tp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "RunActivity:CreatePayPalOrder")
	_, err = c.CreateOrder(ctx, gateway.OrderRequest{RequestID: "pay_1/order", Amount: billing.Money{Amount: 2000, Currency: "USD"},
		Description: "PayPortal payment pay_1", ReturnURL: "https://portal.example/r", CancelURL: "https://portal.example/c"})
	parent.End()
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	var names []string
	for _, s := range rec.Ended() {
		if s == nil || s.Name() == "RunActivity:CreatePayPalOrder" {
			continue
		}
		names = append(names, s.Name())
		if s.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %s is not under the caller's", s.Name())
		}
	}
	if len(names) != 2 || names[0] != "paypal POST" || names[1] != "paypal POST" {
		t.Errorf("spans %v, want the token's and the order's, each \"paypal POST\"", names)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if v := r.Header.Get("Traceparent"); v != "" {
			t.Errorf("%s %s sent traceparent %s", r.Method, r.URL.Path, v)
		}
	}
}

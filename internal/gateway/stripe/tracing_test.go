package stripe

import (
	"context"
	"net/http"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// TestEachStripeCallIsASpan: a call to Stripe is a client span under the activity's span,
// named without the object ids of its path, and the trace context stays home.
func TestEachStripeCallIsASpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var (
		mu      sync.Mutex
		leaked  []string
		reached int
	)
	proxy := &mockProxy{refuse: func(r *http.Request) (int, string) {
		mu.Lock()
		defer mu.Unlock()
		reached++
		for _, h := range []string{"Traceparent", "Tracestate", "Baggage"} {
			if v := r.Header.Get(h); v != "" {
				leaked = append(leaked, h+": "+v)
			}
		}
		return 0, ""
	}}
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: proxy.start(t, startStripeMock(t)), Tracing: tp})
	if err != nil {
		t.Fatal(err)
	}

	ctx, activity := tp.Tracer("test").Start(context.Background(), "RunActivity:AuthorizeCard")
	_, err = p.Authorize(ctx, gateway.ChargeRequest{Token: "pm_card_visa", Amount: billing.Money{Amount: 500, Currency: "USD"},
		IdempotencyKey: "pay_1/authorize", Description: "PayPortal payment pay_1"})
	activity.End()
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}

	var calls []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() != "RunActivity:AuthorizeCard" {
			calls = append(calls, s)
		}
	}
	if len(calls) == 0 || len(calls) != reached {
		t.Fatalf("%d spans for %d requests to Stripe", len(calls), reached)
	}
	for _, s := range calls {
		if (s.Name() != "stripe POST" && s.Name() != "stripe GET") || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %q kind %v, want a client span \"stripe POST\" or \"stripe GET\"", s.Name(), s.SpanKind())
		}
		if s.Parent().SpanID() != activity.SpanContext().SpanID() || s.SpanContext().TraceID() != activity.SpanContext().TraceID() {
			t.Errorf("the Stripe span %q is not under the activity's", s.Name())
		}
		var status string
		for _, kv := range s.Attributes() {
			if kv.Key == "http.response.status_code" {
				status = kv.Value.String()
			}
		}
		if status != "200" {
			t.Errorf("%s: status code attribute %q, want 200 (attributes %v)", s.Name(), status, s.Attributes())
		}
	}
	if len(leaked) > 0 {
		t.Errorf("trace context sent to Stripe: %v", leaked)
	}
}

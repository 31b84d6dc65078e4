package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/telemetry"
)

// syncBuffer is a log sink the server writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines are the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// observedServer is the router over the card fakes, logging JSON as the app does.
func observedServer(t *testing.T) (http.Handler, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	srv := &api.Server{
		Auth:   cardKeys{"cust": {KeyID: "key_cust", AccountID: "acct_demo"}},
		Cards:  &fakeCards{},
		Clock:  &billing.FixedClock{T: cardNow},
		Logger: telemetry.Logger(slog.New(slog.NewJSONHandler(logs, nil))),
	}
	return openapitest.Handler(t, srv.Handler()), logs
}

func serve(h http.Handler, method, path string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer cust")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

var generatedRequestID = regexp.MustCompile(`^req_[0-9a-f]{24}$`)

// TestEveryAnswerCarriesARequestID: a well-formed Request-Id (or X-Request-Id) from the
// caller comes back and names the request's log line; anything else is replaced by a new
// id, also on errors and unknown routes.
func TestEveryAnswerCarriesARequestID(t *testing.T) {
	h, logs := observedServer(t)
	list := "/v1/accounts/acct_demo/payment-methods"
	cases := []struct {
		name, path string
		header     map[string]string
		want       string // "" for a generated id
		status     int
	}{
		{"the caller's", list, map[string]string{"Request-Id": "checkout-7f3a.2_B"}, "checkout-7f3a.2_B", 200},
		{"the caller's X-Request-Id", list, map[string]string{"X-Request-Id": "abc123"}, "abc123", 200},
		{"Request-Id before X-Request-Id", list, map[string]string{"Request-Id": "first", "X-Request-Id": "second"}, "first", 200},
		{"none", list, nil, "", 200},
		{"with a blank", list, map[string]string{"Request-Id": "two words"}, "", 200},
		{"forging a log line", list, map[string]string{"Request-Id": `x" level=ERROR msg="forged`}, "", 200},
		{"too long", list, map[string]string{"Request-Id": strings.Repeat("a", 129)}, "", 200},
		{"longest allowed", list, map[string]string{"Request-Id": strings.Repeat("a", 128)}, strings.Repeat("a", 128), 200},
		{"on an error", "/v1/accounts/acct_other/payment-methods", map[string]string{"Request-Id": "err-1"}, "err-1", 404},
		{"on an unknown route", "/nowhere", nil, "", 404},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		w := serve(h, http.MethodGet, tc.path, tc.header)
		got := w.Header().Get("Request-Id")
		switch {
		case w.Code != tc.status:
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		case tc.want != "" && got != tc.want:
			t.Errorf("%s: Request-Id %q, want %q", tc.name, got, tc.want)
		case tc.want == "" && !generatedRequestID.MatchString(got):
			t.Errorf("%s: Request-Id %q, want a generated one", tc.name, got)
		case tc.want == "" && seen[got]:
			t.Errorf("%s: generated Request-Id %q twice", tc.name, got)
		}
		seen[got] = true
		var logged bool
		for _, l := range logs.lines(t) {
			if l["msg"] == "http request" && l["request_id"] == got {
				logged = true
			}
		}
		if !logged {
			t.Errorf("%s: no log line names request %q", tc.name, got)
		}
	}
}

// TestTheRequestSpanContinuesTheCallersTrace: a request is a server span named after its
// route, a child of the caller's traceparent, and its log line names the trace.
func TestTheRequestSpanContinuesTheCallersTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prevProp := otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		// Not back to the global delegate, which would keep delegating to tp.
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetTextMapPropagator(prevProp)
	})

	h, logs := observedServer(t)
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	w := serve(h, http.MethodGet, "/v1/accounts/acct_demo/payment-methods?limit=2",
		map[string]string{"traceparent": "00-" + callerTrace + "-" + callerSpan + "-01", "Request-Id": "traced-1"})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d %s", w.Code, w.Body)
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want the request's", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /v1/accounts/:account_id/payment-methods" {
		t.Errorf("span name %q", s.Name())
	}
	if s.SpanContext().TraceID().String() != callerTrace || s.Parent().SpanID().String() != callerSpan {
		t.Errorf("span in trace %s under %s, want the caller's %s under %s", s.SpanContext().TraceID(), s.Parent().SpanID(), callerTrace, callerSpan)
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{"http.request.method": "GET", "http.route": "/v1/accounts/:account_id/payment-methods",
		"http.response.status_code": "200", "payportal.request_id": "traced-1"} {
		if attrs[k] != v {
			t.Errorf("span attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	var line map[string]any
	for _, l := range logs.lines(t) {
		if l["request_id"] == "traced-1" {
			line = l
		}
	}
	if line["trace_id"] != callerTrace || line["span_id"] != s.SpanContext().SpanID().String() {
		t.Errorf("log line %v, want trace %s span %s", line, callerTrace, s.SpanContext().SpanID())
	}

	// A server error marks its span as failed.
	rec2 := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec2)))
	srv := &api.Server{Auth: cardKeys{"cust": {KeyID: "key_cust", AccountID: "acct_demo"}}, Cards: &panickyCards{},
		Clock: &billing.FixedClock{T: cardNow}, Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))}
	w = serve(openapitest.Handler(t, srv.Handler()), http.MethodGet, "/v1/accounts/acct_demo/payment-methods", nil)
	if w.Code != http.StatusInternalServerError || w.Header().Get("Request-Id") == "" {
		t.Errorf("a panicking handler answered %d with Request-Id %q", w.Code, w.Header().Get("Request-Id"))
	}
	if ended := rec2.Ended(); len(ended) != 1 || ended[0].Status().Code.String() != "Error" {
		t.Errorf("spans of a panicking request: %v", ended)
	}
}

// panickyCards fails the way a bug would.
type panickyCards struct{ fakeCards }

func (*panickyCards) List(context.Context, string, billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	panic("boom")
}

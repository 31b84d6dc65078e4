package payments_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/telemetry"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/internal/testenv"
)

// instrumentedClient is the test's Temporal client, on the same connection, with tel's
// metrics handler and tracing interceptor: the client `payportal api` and `worker` dial.
func instrumentedClient(t *testing.T, tc client.Client, tel *telemetry.Telemetry) client.Client {
	t.Helper()
	opts, err := temporalclient.ClientOptions(temporalclient.Options{Address: testenv.TemporalAddress(t), Namespace: "default",
		Codec: testenv.PayloadCodec(), MetricsHandler: tel.TemporalMetrics(), Interceptors: tel.TemporalInterceptors()})
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = testenv.NopTemporalLogger()
	c, err := client.NewClientFromExisting(tc, opts)
	if err != nil {
		t.Fatalf("instrumented temporal client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// startObservedPortal is the portal with its telemetry recording every span; OpenTelemetry's
// globals (the HTTP middleware's, the pgx tracer's) point at it for the test.
func startObservedPortal(t *testing.T) (*portal, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tel, err := telemetry.New(context.Background(), telemetry.Options{SpanProcessor: rec, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	tel.InstallGlobal()
	t.Cleanup(func() {
		// Not back to the global delegate, which would keep delegating here.
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		_ = tel.Shutdown(context.Background())
	})
	return startPortal(t, portalOptions{telemetry: tel}), rec
}

// scrape reads the ops listener's /metrics.
func (p *portal) scrape() map[string]*dto.MetricFamily {
	p.t.Helper()
	w := httptest.NewRecorder()
	p.app.OpsHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		p.t.Fatalf("/metrics answered %d %s", w.Code, w.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(w.Body.String()))
	if err != nil {
		p.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample is the value of the family's series with exactly these labels (a histogram's
// count), or -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	mf := fams[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

// TestAPaymentShowsInTheMetrics: after one card payment, /metrics on the ops listener shows
// it once in the business counters (a repeated apply does not count again), the Temporal
// SDK's series for the saga's workflow and activity tasks, the pool's and Go's.
func TestAPaymentShowsInTheMetrics(t *testing.T) {
	p, _ := startObservedPortal(t)
	pay := p.pay(cardPayment(1500, "4242 4242 4242 4242", "123"))
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %s", got.Status)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	card := map[string]string{"method": "card", "outcome": "succeeded"}

	fams := p.scrape()
	if v := sample(fams, "payportal_payments_total", card); v != 1 {
		t.Errorf("payportal_payments_total{method=card,outcome=succeeded} = %v, want 1", v)
	}
	for _, outcome := range []string{"failed", "canceled", "expired"} {
		if v := sample(fams, "payportal_payments_total", map[string]string{"method": "card", "outcome": outcome}); v != 0 {
			t.Errorf("payportal_payments_total{method=card,outcome=%s} = %v, want 0", outcome, v)
		}
	}
	// The saga's apply, retried (a lost answer), books nothing and counts nothing.
	if _, err := p.db.ApplyPayment(context.Background(), pay.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if v := sample(p.scrape(), "payportal_payments_total", card); v != 1 {
		t.Errorf("after a repeated apply payportal_payments_total{method=card,outcome=succeeded} = %v, want still 1", v)
	}

	queue := map[string]string{"task_queue": p.taskQueue}
	for _, name := range []string{
		"temporal_workflow_task_execution_latency_seconds",
		"temporal_workflow_task_schedule_to_start_latency_seconds",
		"temporal_workflow_endtoend_latency_seconds",
		"temporal_local_activity_execution_latency_seconds", // the saga's steps are local activities
		"temporal_local_activity_total",
		"temporal_workflow_completed_total",
	} {
		if v := sample(fams, name, queue); v < 1 {
			t.Errorf("%s{task_queue=%s} = %v, want at least one", name, p.taskQueue, v)
		}
	}
	for _, name := range []string{"temporal_num_pollers", "temporal_request_total", "temporal_worker_task_slots_available"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	for _, name := range []string{"payportal_db_pool_acquires_total", "payportal_db_pool_connections", "go_goroutines",
		"payportal_card_validations_total", "payportal_compensations_total", "payportal_accounts_past_due_total",
		"payportal_http_requests_total"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if t.Failed() {
		var names []string
		for n := range fams {
			names = append(names, n)
		}
		t.Logf("families: %s", strings.Join(names, " "))
	}
}

// TestAPaymentIsOneTrace: the request that creates a card payment, the saga's workflow, its
// activities and their queries are one trace rooted in the HTTP request's span, and the
// request's log lines name it. (The sandbox processor makes no HTTP call; the Stripe and
// PayPal adapters' spans are tested beside them.)
func TestAPaymentIsOneTrace(t *testing.T) {
	p, rec := startObservedPortal(t)
	const requestID = "e2e-trace-1"
	resp, raw := testenv.Do(t, p.base, testenv.Request{Method: http.MethodPost, Path: demoPath + "/payments", Key: demoKey,
		Body:   cardPayment(1200, "4242 4242 4242 4242", "123"),
		Header: map[string]string{"Idempotency-Key": "key-" + randomHex(8), "Request-Id": requestID}})
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Request-Id") != requestID {
		t.Fatalf("POST payment answered %d with Request-Id %q: %s", resp.StatusCode, resp.Header.Get("Request-Id"), raw)
	}
	pay := decode[payment](t, raw)
	p.awaitFinal(pay.ID, 30*time.Second)
	p.awaitClosed(pay.WorkflowID, 30*time.Second)

	// The request's span names its id; its trace is the payment's.
	var root sdktrace.ReadOnlySpan
	var trace []sdktrace.ReadOnlySpan
	p.eventually("the workflow's span ends", 10*time.Second, func() bool {
		root, trace = nil, nil
		for _, s := range rec.Ended() {
			for _, kv := range s.Attributes() {
				if kv.Key == "payportal.request_id" && kv.Value.AsString() == requestID {
					root = s
				}
			}
		}
		if root == nil {
			return false
		}
		done := false
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID() == root.SpanContext().TraceID() {
				trace = append(trace, s)
				done = done || s.Name() == "RunWorkflow:Payment"
			}
		}
		return done
	})
	if root.Name() != "POST /v1/accounts/:account_id/payments" || root.Parent().IsValid() {
		t.Errorf("the request's span is %q under %v, want the trace's root", root.Name(), root.Parent().SpanID())
	}
	ids := map[string]sdktrace.ReadOnlySpan{}
	names := map[string]int{}
	for _, s := range trace {
		ids[s.SpanContext().SpanID().String()] = s
		name, _, _ := strings.Cut(s.Name(), ":")
		if strings.HasPrefix(s.Name(), "postgres ") {
			name = "postgres"
		}
		names[name]++
	}
	// Every span hangs, through its parents, from the request's: one tree.
	for _, s := range trace {
		for cur := s; cur != root; {
			parent, ok := ids[cur.Parent().SpanID().String()]
			if !ok {
				t.Errorf("span %s hangs from %s, which is not in the request's trace", s.Name(), cur.Parent().SpanID())
				break
			}
			cur = parent
		}
	}
	for _, want := range []string{"UpdateWithStartWorkflow", "RunWorkflow", "StartActivity", "RunActivity", "postgres"} {
		if names[want] == 0 {
			t.Errorf("no %s span in the payment's trace: %v", want, names)
		}
	}
	// The activities' queries are under the activities.
	var underActivity bool
	for _, s := range trace {
		if parent, ok := ids[s.Parent().SpanID().String()]; ok && strings.HasPrefix(s.Name(), "postgres ") && strings.HasPrefix(parent.Name(), "RunActivity:") {
			underActivity = true
		}
	}
	if !underActivity {
		t.Error("no query span under an activity's span")
	}
	t.Logf("the payment's trace: %d spans %v", len(trace), names)

	// The request's log lines name the trace and the request.
	traceID := root.SpanContext().TraceID().String()
	var logged []string
	for _, line := range strings.Split(p.logs.String(), "\n") {
		if !strings.Contains(line, "request_id="+requestID) {
			continue
		}
		logged = append(logged, line)
		if !strings.Contains(line, "trace_id="+traceID) {
			t.Errorf("log line %q does not name trace %s", line, traceID)
		}
	}
	if len(logged) < 2 { // "payment accepted" from the service, "http request" from the router
		t.Errorf("log lines naming the request: %q, want the service's and the router's", logged)
	}
}

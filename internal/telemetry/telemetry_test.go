package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/telemetry"
	"github.com/payportal/payportal/internal/testenv"
)

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func newTelemetry(t *testing.T, o telemetry.Options) *telemetry.Telemetry {
	t.Helper()
	if o.Getenv == nil {
		o.Getenv = env(nil)
	}
	tel, err := telemetry.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return tel
}

func families(t *testing.T, tel *telemetry.Telemetry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := tel.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func TestRegistryHoldsGoProcessAndBusinessSeries(t *testing.T) {
	tel := newTelemetry(t, telemetry.Options{})
	tel.Counters.PaymentFinished(billing.MethodCard, billing.PaymentSucceeded)
	tel.Counters.CardDecided(billing.PMValidated)
	tel.Counters.PaymentCompensated(billing.CompensationRefunded)
	tel.Counters.FindingRecorded("stranded_payment", true)
	tel.Counters.AccountPastDue()
	tel.Counters.ReceiptsSettled(3, 0, 1)

	got := families(t, tel)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total",
		"payportal_payments_total", "payportal_card_validations_total", "payportal_compensations_total",
		"payportal_reconciler_findings_total", "payportal_accounts_past_due_total", "payportal_receipts_total"} {
		if got[name] == nil {
			t.Errorf("no %s in the registry", name)
		}
	}
	want := `
# HELP payportal_accounts_past_due_total Accounts that went past due after dunning ran out of retries.
# TYPE payportal_accounts_past_due_total counter
payportal_accounts_past_due_total 1
# HELP payportal_receipts_total Payment receipts the outbox mailer handled, by outcome (mailed, given_up, retry: failed for now, due again in a minute).
# TYPE payportal_receipts_total counter
payportal_receipts_total{outcome="given_up"} 0
payportal_receipts_total{outcome="mailed"} 3
payportal_receipts_total{outcome="retry"} 1
`
	if err := testutil.GatherAndCompare(tel.Registry, strings.NewReader(want), "payportal_accounts_past_due_total", "payportal_receipts_total"); err != nil {
		t.Error(err)
	}
	// Every outcome is there from the start, at zero, so rate() sees the first one.
	for _, m := range got["payportal_payments_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		want := 0.0
		if labels["method"] == "card" && labels["outcome"] == "succeeded" {
			want = 1
		}
		if v := m.GetCounter().GetValue(); v != want {
			t.Errorf("payments_total%v = %v, want %v", labels, v, want)
		}
	}
	if n := len(got["payportal_payments_total"].GetMetric()); n != 8 {
		t.Errorf("%d payments_total series, want 2 methods × 4 outcomes", n)
	}
	if tel.TracingEnabled() {
		t.Error("tracing is on without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
}

// TestTemporalSDKMetricsFollowPrometheusNames: the SDK names its metrics temporal_*; through
// the OpenTelemetry handler counters get _total and timers _seconds.
func TestTemporalSDKMetricsFollowPrometheusNames(t *testing.T) {
	tel := newTelemetry(t, telemetry.Options{})
	h := tel.TemporalMetrics().WithTags(map[string]string{"namespace": "default", "task_queue": "payportal"})
	h.Counter("temporal_request").Inc(2)
	h.Timer("temporal_workflow_task_execution_latency").Record(30 * time.Millisecond)
	h.Gauge("temporal_num_pollers").Update(3)
	// The same metric with other tags, as the SDK emits some, must not break /metrics.
	tel.TemporalMetrics().WithTags(map[string]string{"operation": "StartWorkflowExecution"}).Counter("temporal_request").Inc(1)

	got := families(t, tel)
	if c := got["temporal_request_total"]; c == nil || c.GetType() != dto.MetricType_COUNTER || len(c.GetMetric()) != 2 {
		t.Errorf("temporal_request_total = %v", c)
	}
	lat := got["temporal_workflow_task_execution_latency_seconds"]
	if lat == nil || lat.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("temporal_workflow_task_execution_latency_seconds = %v", lat)
	}
	hist := lat.GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 1 || hist.GetSampleSum() < 0.029 || hist.GetSampleSum() > 0.031 {
		t.Errorf("latency histogram count %d sum %v, want one sample of 0.03 s", hist.GetSampleCount(), hist.GetSampleSum())
	}
	var le []float64
	for _, b := range hist.GetBucket() {
		le = append(le, b.GetUpperBound())
	}
	if len(le) == 0 || le[0] > 0.01 {
		t.Errorf("latency buckets %v: want second-sized buckets, not OpenTelemetry's millisecond defaults", le)
	}
	if g := got["temporal_num_pollers"]; g == nil || g.GetType() != dto.MetricType_GAUGE || g.GetMetric()[0].GetGauge().GetValue() != 3 {
		t.Errorf("temporal_num_pollers = %v", g)
	}
}

func TestOTLPExportFollowsTheStandardVariables(t *testing.T) {
	cases := []struct {
		vars    map[string]string
		enabled bool
		fails   bool
	}{
		{vars: nil},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, enabled: true},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, enabled: true},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, enabled: true},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{vars: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"}, fails: true},
	}
	for _, tc := range cases {
		tel, err := telemetry.New(context.Background(), telemetry.Options{Getenv: env(tc.vars)})
		if tc.fails {
			if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
				t.Errorf("%v: err %v, want one naming the protocol setting", tc.vars, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.vars, err)
			continue
		}
		if tel.TracingEnabled() != tc.enabled {
			t.Errorf("%v: tracing enabled %v, want %v", tc.vars, tel.TracingEnabled(), tc.enabled)
		}
		// Nothing listens on those ports: shutting down must not hang on the export.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = tel.Shutdown(ctx)
		cancel()
	}
}

func TestLogLinesNameTheirTraceAndRequest(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := newTelemetry(t, telemetry.Options{SpanProcessor: rec})
	var buf bytes.Buffer
	log := telemetry.Logger(slog.New(slog.NewJSONHandler(&buf, nil)))
	if telemetry.Logger(log) != log {
		t.Error("wrapping a correlating logger again wrapped it twice")
	}

	ctx, span := tel.Tracing.Tracer("test").Start(context.Background(), "op")
	ctx = telemetry.WithRequestID(ctx, "req-42")
	log.With("component", "test").InfoContext(ctx, "inside")
	span.End()
	log.Info("outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines: %s", len(lines), buf.String())
	}
	var inside, outside map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &inside); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &outside); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if inside["trace_id"] != sc.TraceID().String() || inside["span_id"] != sc.SpanID().String() ||
		inside["request_id"] != "req-42" || inside["component"] != "test" {
		t.Errorf("line inside the span: %v, want trace %s span %s request req-42", inside, sc.TraceID(), sc.SpanID())
	}
	for _, k := range []string{"trace_id", "span_id", "request_id"} {
		if _, ok := outside[k]; ok {
			t.Errorf("line without a context has %s: %v", k, outside)
		}
	}
	if len(rec.Ended()) != 1 {
		t.Errorf("recorded %d spans, want 1", len(rec.Ended()))
	}
}

func TestPoolStatistics(t *testing.T) {
	db, _ := testenv.Database(t)
	tel := newTelemetry(t, telemetry.Options{})
	tel.Registry.MustRegister(telemetry.NewPoolCollector(db.Pool))
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	got := families(t, tel)
	value := func(name string) float64 {
		mf := got[name]
		if mf == nil {
			t.Errorf("no %s", name)
			return -1
		}
		m := mf.GetMetric()[0]
		if mf.GetType() == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if v := value("payportal_db_pool_acquired_connections"); v != 1 {
		t.Errorf("acquired connections %v, want 1 (the test holds one)", v)
	}
	if v := value("payportal_db_pool_connections"); v < 1 {
		t.Errorf("open connections %v, want at least 1", v)
	}
	if v := value("payportal_db_pool_max_connections"); v < 1 {
		t.Errorf("max connections %v", v)
	}
	if v := value("payportal_db_pool_acquires_total"); v < 1 {
		t.Errorf("acquires %v, want at least 1", v)
	}
	for _, name := range []string{"payportal_db_pool_idle_connections", "payportal_db_pool_acquire_duration_seconds_total",
		"payportal_db_pool_empty_acquires_total", "payportal_db_pool_empty_acquire_wait_seconds_total",
		"payportal_db_pool_canceled_acquires_total", "payportal_db_pool_constructing_connections", "payportal_db_pool_new_connections_total"} {
		value(name)
	}
	problems, err := testutil.CollectAndLint(telemetry.NewPoolCollector(db.Pool))
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %+v", err, problems)
	}
}

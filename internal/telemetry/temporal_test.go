package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/internal/telemetry"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// TestWorkflowAndActivityLogLinesNameTheirSpan: through the tracing interceptor a workflow
// and an activity are spans of one trace, and what they log with workflow.GetLogger and
// activity.GetLogger names the span with the keys every other PayPortal log line uses.
func TestWorkflowAndActivityLogLinesNameTheirSpan(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tel := newTelemetry(t, telemetry.Options{SpanProcessor: rec})
	var logs lockedBuffer
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	env := suite.NewTestWorkflowEnvironment()
	var workerInterceptors []interceptor.WorkerInterceptor
	for _, i := range tel.TemporalInterceptors() {
		if wi, ok := i.(interceptor.WorkerInterceptor); ok {
			workerInterceptors = append(workerInterceptors, wi)
		}
	}
	if len(workerInterceptors) != 1 {
		t.Fatalf("%d of the client's interceptors are worker interceptors, want the tracing one", len(workerInterceptors))
	}
	env.SetWorkerOptions(worker.Options{Interceptors: workerInterceptors})
	env.RegisterActivityWithOptions(func(ctx context.Context) error {
		activity.GetLogger(ctx).Info("in the activity")
		return nil
	}, activity.RegisterOptions{Name: "Charge"})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context) error {
		workflow.GetLogger(ctx).Info("in the workflow")
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		return workflow.ExecuteActivity(ctx, "Charge").Get(ctx, nil)
	}, workflow.RegisterOptions{Name: "Pay"})
	env.ExecuteWorkflow("Pay")
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	spans := map[string]string{} // name → span id
	var traceID string
	for _, s := range rec.Ended() {
		spans[s.Name()] = s.SpanContext().SpanID().String()
		if s.Name() == "RunWorkflow:Pay" {
			traceID = s.SpanContext().TraceID().String()
		}
		if traceID != "" && s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %s is in another trace", s.Name())
		}
	}
	for _, name := range []string{"RunWorkflow:Pay", "StartActivity:Charge", "RunActivity:Charge"} {
		if spans[name] == "" {
			t.Errorf("no %s span among %v", name, spans)
		}
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	found := map[string]map[string]any{}
	for _, l := range strings.Split(strings.TrimSpace(logs.b.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "in the ") {
				found[msg] = m
			}
		}
	}
	for msg, span := range map[string]string{"in the workflow": "RunWorkflow:Pay", "in the activity": "RunActivity:Charge"} {
		line := found[msg]
		if line["trace_id"] != traceID || line["span_id"] != spans[span] {
			t.Errorf("%q logged %v, want trace_id %s and the span_id of %s (%s)", msg, line, traceID, span, spans[span])
		}
		if _, ok := line["TraceID"]; ok {
			t.Errorf("%q also names the trace as TraceID: %v", msg, line)
		}
	}
}

// Package telemetry is what PayPortal tells ops about itself: one Prometheus registry per
// process (Go and process collectors, the Temporal SDK's series, the pgx pool, the business
// counters) and OpenTelemetry traces, exported over OTLP when the standard
// OTEL_EXPORTER_OTLP_* variables name a collector and not made at all otherwise. Log lines
// written with a request's or an activity's context carry its trace and request ids.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
)

// ServiceName is the OpenTelemetry service.name unless OTEL_SERVICE_NAME says otherwise.
const ServiceName = "payportal"

// Options shape a process's telemetry. The zero value is what production wants: settings
// from the environment, OTLP export when configured.
type Options struct {
	// Logger hears of export and metric errors; nil: slog.Default().
	Logger *slog.Logger
	// Getenv reads the OTEL_* settings; nil: os.Getenv.
	Getenv func(string) string
	// SpanProcessor, when set, receives every span instead of an OTLP exporter: tests record
	// spans with go.opentelemetry.io/otel/sdk/trace/tracetest.
	SpanProcessor sdktrace.SpanProcessor
}

// Telemetry is one process's metrics and tracing.
type Telemetry struct {
	// Registry is what /metrics serves.
	Registry *prometheus.Registry
	// Counters are the business counters, registered on Registry; postgres.DB reports to them.
	Counters *Counters
	// Tracing makes the spans: an SDK provider when traces go somewhere, a no-op otherwise.
	Tracing trace.TracerProvider
	// Propagator carries trace context across HTTP and Temporal headers (W3C traceparent and
	// baggage).
	Propagator propagation.TextMapPropagator

	log             *slog.Logger
	temporalMetrics client.MetricsHandler
	temporalTracing interceptor.Interceptor
	shutdown        []func(context.Context) error
}

// New builds the registry, the Temporal SDK's metrics handler and the tracer provider.
func New(ctx context.Context, o Options) (*Telemetry, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	t := &Telemetry{
		log:        log,
		Registry:   prometheus.NewRegistry(),
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	t.Counters = NewCounters(t.Registry)

	if err := t.setUpTemporalMetrics(log); err != nil {
		return nil, err
	}
	if err := t.setUpTracing(ctx, o, getenv); err != nil {
		_ = t.Shutdown(ctx)
		return nil, err
	}
	tracer, err := temporalotel.NewTracer(temporalotel.TracerOptions{
		Tracer:            t.Tracing.Tracer("go.temporal.io/sdk"),
		TextMapPropagator: t.Propagator,
	})
	if err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("temporal tracer: %w", err)
	}
	t.temporalTracing = interceptor.NewTracingInterceptor(temporalTracer{tracer})
	return t, nil
}

// temporalTracer is the SDK's OpenTelemetry tracer whose workflow and activity loggers
// (workflow.GetLogger, activity.GetLogger) name the span as PayPortal's log lines do:
// trace_id and span_id, where the SDK's own would say TraceID and SpanID.
type temporalTracer struct{ interceptor.Tracer }

func (t temporalTracer) GetLogger(logger tlog.Logger, ref interceptor.TracerSpanRef) tlog.Logger {
	span, ok := ref.(interface{ SpanContext() trace.SpanContext })
	if !ok || !span.SpanContext().IsValid() {
		return logger
	}
	sc := span.SpanContext()
	return tlog.With(logger, "trace_id", sc.TraceID().String(), "span_id", sc.SpanID().String())
}

// temporalSecondsBuckets bound the SDK's latencies, which it records in seconds: from a
// workflow task's few milliseconds to a schedule-to-start of minutes behind a backlog.
var temporalSecondsBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// setUpTemporalMetrics routes the Temporal SDK's metrics (workflow task latency,
// schedule-to-start, poller counts, request failures...) through an OpenTelemetry meter into
// the registry. Names follow Prometheus conventions: counters end in _total, latencies in
// _seconds (temporal_workflow_task_execution_latency_seconds).
func (t *Telemetry) setUpTemporalMetrics(log *slog.Logger) error {
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(t.Registry),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
		otelprom.WithAggregationSelector(func(kind sdkmetric.InstrumentKind) sdkmetric.Aggregation {
			if kind == sdkmetric.InstrumentKindHistogram {
				return sdkmetric.AggregationExplicitBucketHistogram{Boundaries: temporalSecondsBuckets}
			}
			return sdkmetric.DefaultAggregationSelector(kind)
		}),
	)
	if err != nil {
		return fmt.Errorf("prometheus exporter for the temporal sdk's metrics: %w", err)
	}
	meters := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.shutdown = append(t.shutdown, meters.Shutdown)
	t.temporalMetrics = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                meters.Meter("go.temporal.io/sdk"),
		UseMonotonicCounters: true,
		// The handler panics on an instrument error unless told otherwise; a metric is never
		// worth a worker.
		OnError: func(err error) { log.Warn("temporal sdk metric", "err", err) },
	})
	return nil
}

// setUpTracing picks where spans go: the test's processor, an OTLP exporter when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, nowhere
// otherwise (a no-op provider, which costs nothing). OTEL_SDK_DISABLED=true and
// OTEL_TRACES_EXPORTER=none turn export off; the SDK itself reads OTEL_TRACES_SAMPLER,
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func (t *Telemetry) setUpTracing(ctx context.Context, o Options, getenv func(string) string) error {
	processor := o.SpanProcessor
	if processor == nil {
		exporter, err := otlpExporter(ctx, getenv)
		if err != nil {
			return err
		}
		if exporter == nil {
			t.Tracing = tracenoop.NewTracerProvider()
			return nil
		}
		processor = sdktrace.NewBatchSpanProcessor(exporter)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithHost(),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win
	)
	if err != nil && res == nil {
		return fmt.Errorf("tracing resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(processor), sdktrace.WithResource(res))
	t.shutdown = append(t.shutdown, tp.Shutdown)
	t.Tracing = tp
	return nil
}

// TracingEnabled reports whether spans are made and sent somewhere.
func (t *Telemetry) TracingEnabled() bool {
	_, ok := t.Tracing.(*sdktrace.TracerProvider)
	return ok
}

// InstallGlobal makes this tracer provider and propagator OpenTelemetry's globals, which the
// HTTP middleware, the pgx tracer and the processors' HTTP transports use, and sends
// OpenTelemetry's own errors (an export that failed) to the log. A process calls it once,
// before it builds them.
func (t *Telemetry) InstallGlobal() {
	otel.SetTracerProvider(t.Tracing)
	otel.SetTextMapPropagator(t.Propagator)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { t.log.Warn("opentelemetry", "err", err) }))
}

// TemporalMetrics is the Temporal client's MetricsHandler: every worker built from the client
// reports through it too.
func (t *Telemetry) TemporalMetrics() client.MetricsHandler { return t.temporalMetrics }

// TemporalInterceptors are the Temporal client's interceptors: the SDK's OpenTelemetry
// tracing, which starts a span for each workflow start, update and signal and carries the
// trace in the headers. It is a worker interceptor as well, and the SDK hands a client's
// worker interceptors to every worker built from that client, so workers need it nowhere else
// (given twice, each span would be made twice).
func (t *Telemetry) TemporalInterceptors() []interceptor.ClientInterceptor {
	return []interceptor.ClientInterceptor{t.temporalTracing}
}

// Shutdown flushes the spans still buffered and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	t.shutdown = nil
	return errors.Join(errs...)
}

// otlpExporter is the OTLP span exporter the standard variables configure, or nil when none
// is. The exporters read OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, certificates)
// themselves; only the protocol is chosen here: http/protobuf unless grpc is asked for.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return nil, nil
	}
	if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	protocol := getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var (
		exp sdktrace.SpanExporter
		err error
	)
	switch protocol {
	case "", "http/protobuf":
		exp, err = newOTLPHTTP(ctx)
	case "grpc":
		exp, err = newOTLPGRPC(ctx)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("otlp trace exporter (%s): %w", protocol, err)
	}
	return exp, nil
}

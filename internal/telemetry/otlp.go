package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The exporters take endpoint, headers, timeout, compression and certificates from the
// standard OTEL_EXPORTER_OTLP_* variables; neither connects before its first export.

func newOTLPHTTP(ctx context.Context) (sdktrace.SpanExporter, error) { return otlptracehttp.New(ctx) }

func newOTLPGRPC(ctx context.Context) (sdktrace.SpanExporter, error) { return otlptracegrpc.New(ctx) }

package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

type requestIDKey struct{}

// WithRequestID is ctx carrying the HTTP request's id, which every log line written with it
// names.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the request id ctx carries, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Logger is log with every line written with a context naming that context's trace_id and
// span_id (when a span is in it) and request_id (when an HTTP request is), so a log line
// joins its trace, its request and, through the trace, its workflow. Wrapping twice changes
// nothing.
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	if _, ok := log.Handler().(correlatingHandler); ok {
		return log
	}
	return slog.New(correlatingHandler{inner: log.Handler()})
}

// correlatingHandler adds the context's ids to each record.
type correlatingHandler struct{ inner slog.Handler }

func (h correlatingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h correlatingHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.inner.Handle(ctx, r)
}

func (h correlatingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return correlatingHandler{inner: h.inner.WithAttrs(attrs)}
}

func (h correlatingHandler) WithGroup(name string) slog.Handler {
	return correlatingHandler{inner: h.inner.WithGroup(name)}
}

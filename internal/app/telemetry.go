package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/telemetry"
)

// The business counters hear the database's events.
var _ postgres.Events = (*telemetry.Counters)(nil)

// openTelemetry builds the process's metrics registry and tracer from the environment
// (OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set) and makes the tracer OpenTelemetry's
// global one, which the API middleware, the pgx tracer and the processors' HTTP clients use.
// Open calls it before anything it instruments is built.
func openTelemetry(ctx context.Context, log *slog.Logger) (*telemetry.Telemetry, error) {
	tel, err := telemetry.New(ctx, telemetry.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	tel.InstallGlobal()
	if tel.TracingEnabled() {
		log.Info("tracing: spans exported over OTLP")
	}
	return tel, nil
}

// UseTelemetry makes tel this app's telemetry: the database's business events count in its
// counters, the pool's statistics and the API's HTTP metrics go to its registry. The Temporal
// client must have been built with tel's metrics handler and interceptors (Open does so).
func (a *App) UseTelemetry(tel *telemetry.Telemetry) {
	a.Telemetry = tel
	a.DB.Events = tel.Counters
	if err := tel.Registry.Register(telemetry.NewPoolCollector(a.DB.Pool)); err != nil {
		a.Log.Warn("pgx pool metrics", "err", err) // registered already: same registry twice
	}
}

// registry is where the API's metrics go: the telemetry's registry, or nil (the API makes its
// own) for an app built without telemetry, as most tests build it.
func (a *App) registry() *prometheus.Registry {
	if a.Telemetry == nil {
		return nil
	}
	return a.Telemetry.Registry
}

// closeTelemetry flushes the spans still buffered, giving the collector a few seconds.
func (a *App) closeTelemetry() {
	if a.Telemetry == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Telemetry.Shutdown(ctx); err != nil {
		a.Log.Warn("telemetry shutdown", "err", err)
	}
}

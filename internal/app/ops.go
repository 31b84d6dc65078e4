package app

import (
	"context"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/codec"
)

// OpsHandler is the ops listener's router (PAYPORTAL_OPS_ADDR), the same in `payportal api`,
// `payportal worker` and `payportal dev`: /healthz, /readyz (Postgres required, Temporal
// reported), /metrics (the registry the API's metrics go to) and the codec server under
// /codec/ for the Temporal UI and CLI.
func (a *App) OpsHandler() http.Handler {
	ops := &api.Server{Ready: a.readiness(), Registry: a.registry(), Logger: a.Log}
	if a.Codec != nil {
		ops.Codec = codec.Handler(a.Codec, codec.HandlerOptions{AllowedOrigins: a.Config.CodecCORSOrigins, Token: a.Config.CodecToken})
	}
	return ops.OpsHandler()
}

// readiness is what /readyz checks. Only Postgres is required: reads need nothing else, and
// a payment accepted while Temporal is down is resumed by the reconciler once it is back, so
// an API process stays in rotation and says Temporal is unavailable.
func (a *App) readiness() []api.HealthCheck {
	return []api.HealthCheck{
		{Name: "postgres", Check: a.DB.Ping},
		{Name: "temporal", Optional: true, Check: func(ctx context.Context) error {
			if _, err := a.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
				return fmt.Errorf("temporal health: %w", err)
			}
			return nil
		}},
	}
}

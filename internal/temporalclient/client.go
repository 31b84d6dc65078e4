// Package temporalclient is the one place PayPortal dials Temporal, so the API, the worker and
// the dev command share the same settings.
package temporalclient

import (
	"context"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// Options say where Temporal is.
type Options struct {
	Address   string
	Namespace string
	Logger    *slog.Logger
}

// Dial connects and checks the server answers.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts := client.Options{HostPort: o.Address, Namespace: o.Namespace}
	if o.Logger != nil {
		opts.Logger = tlog.NewStructuredLogger(o.Logger.With("component", "temporal"))
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}

// Package activities holds the side effects PayPortal's workflows orchestrate: PostgreSQL
// through pgx, the card and PayPal processors, email and invoice PDFs. Every activity is safe
// to retry: it is idempotent on the IDs the workflow passes in.
package activities

import (
	"log/slog"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

// Dependencies are the clients the activities use, built once per worker.
type Dependencies struct {
	DB     *postgres.DB
	Clock  billing.Clock
	Logger *slog.Logger
}

// RegisterAll registers every activity struct. Each feature adds its line here.
func RegisterAll(r worker.ActivityRegistry, deps Dependencies) {
}

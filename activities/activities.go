// Package activities holds the side effects PayPortal's workflows orchestrate: PostgreSQL
// through pgx, the card and PayPal processors, email and invoice PDFs. Every activity is safe
// to retry: it is idempotent on the IDs the workflow passes in.
package activities

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/client"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/pdfstore"
	"github.com/payportal/payportal/internal/postgres"
)

// Dependencies are the clients the activities use, built once per worker.
type Dependencies struct {
	DB     *postgres.DB
	Clock  billing.Clock
	Logger *slog.Logger
	Mail   mail.Sender           // customer mails: SMTP, or the log in development
	Cards  gateway.CardProcessor // the one card processor the app built (sandbox by default)
	PayPal gateway.PayPal        // the sandbox by default, PayPal Orders v2 when configured
	// PublicURL is where browsers reach the API; PayPal sends buyers back under it.
	PublicURL string
	// Temporal and StartPaymentSaga let the reconciler see sagas and start a missing one.
	Temporal         client.Client
	StartPaymentSaga func(ctx context.Context, p billing.Payment) error
	// EnsureBillingSchedule creates or updates one account's billing schedule.
	EnsureBillingSchedule func(ctx context.Context, acct billing.Account) error
	// Webhooks posts events; nil registers no webhook activities' dependencies (they fail).
	Webhooks *Webhooks
}

// RegisterAll registers every activity struct.
func RegisterAll(r worker.ActivityRegistry, deps Dependencies) {
	r.RegisterActivity(&CardValidation{DB: deps.DB, Mail: deps.Mail, Clock: deps.Clock})
	payments := &Payments{DB: deps.DB, Cards: deps.Cards, PayPal: deps.PayPal, Mail: deps.Mail,
		Clock: deps.Clock, PublicURL: deps.PublicURL, Logger: deps.Logger}
	r.RegisterActivity(payments)
	r.RegisterActivity(&BillingSchedules{DB: deps.DB, Ensure: deps.EnsureBillingSchedule, Logger: deps.Logger})
	r.RegisterActivity(&Reconciler{DB: deps.DB, Temporal: deps.Temporal, Payments: payments,
		StartSaga: deps.StartPaymentSaga, Clock: deps.Clock, Logger: deps.Logger})
	r.RegisterActivity(&Invoices{DB: deps.DB, PDFs: &pdfstore.Store{DB: deps.DB, Clock: deps.Clock}, Mail: deps.Mail, Clock: deps.Clock})
	r.RegisterActivity(&Refunds{DB: deps.DB, Cards: deps.Cards, PayPal: deps.PayPal, Mail: deps.Mail, Clock: deps.Clock, Logger: deps.Logger})
	r.RegisterActivity(&RecurringBilling{DB: deps.DB, Mail: deps.Mail, Clock: deps.Clock})
	webhooks := deps.Webhooks
	if webhooks == nil {
		webhooks = &Webhooks{}
	}
	r.RegisterActivity(webhooks)
}

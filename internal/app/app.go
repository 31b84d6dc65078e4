// Package app builds PayPortal's parts from the configuration: the database, the Temporal
// client, the processors and the mailer, then the HTTP server and the worker on top of them.
// cmd/payportal and the end-to-end tests both start PayPortal through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/payportal/payportal/api/console"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/pdfstore"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/schedules"
	"github.com/payportal/payportal/internal/telemetry"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/worker"
)

// App is one running PayPortal process's dependencies.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Clock    billing.Clock
	DB       *postgres.DB
	Temporal client.Client
	Cards    gateway.CardProcessor // built once: the API tokenizes with it, activities charge with it
	Mail     mail.Sender
	PayPal   gateway.PayPal // built once: the sandbox's checkout page and the activities share it
	// Telemetry is the metrics registry and tracing (Open sets it up; UseTelemetry); nil: none.
	Telemetry *telemetry.Telemetry
	// Codec encrypts Temporal payloads with the configured key ring (Config.PayloadKeyRing);
	// the ops listener's codec server decodes with it. nil when the ring is unset outside
	// development (Open refuses that; tests may build such an app).
	Codec *codec.Codec
}

// Open connects to Postgres and Temporal and builds the processors and the mailer.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *App, err error) {
	tel, err := openTelemetry(ctx, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tel.Shutdown(ctx)
		}
	}()
	keys, err := cfg.PayloadKeyRing()
	if err != nil {
		// Production without keys: name every other setting production refuses too, at once.
		if perr := cfg.CheckProduction(); perr != nil {
			err = perr
		}
		return nil, err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	tc, err := temporalclient.Dial(ctx, temporalclient.Options{Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Connection: &cfg.Temporal, Logger: log,
		Codec: codec.New(keys), MetricsHandler: tel.TemporalMetrics(), Interceptors: tel.TemporalInterceptors()})
	if err != nil {
		db.Close()
		return nil, err
	}
	a, err := New(cfg, log, db, tc)
	if err != nil {
		tc.Close()
		db.Close()
		return nil, err
	}
	a.UseTelemetry(tel)
	return a, nil
}

// New builds the app over connections the caller opened; tests use it with a fresh database
// and the test Temporal server.
func New(cfg config.Config, log *slog.Logger, db *postgres.DB, tc client.Client) (*App, error) {
	log = telemetry.Logger(log) // lines written with a request's or an activity's context name its trace
	a := &App{Config: cfg, Log: log, Clock: billing.SystemClock{}, DB: db, Temporal: tc}
	if keys, err := cfg.PayloadKeyRing(); err == nil {
		a.Codec = codec.New(keys)
	}
	var err error
	if a.Cards, err = newCardProcessor(cfg, db, a.Clock); err != nil {
		return nil, err
	}
	if a.Mail, err = newMailSender(cfg, log); err != nil {
		return nil, err
	}
	if a.PayPal, err = newPayPal(cfg, db); err != nil {
		return nil, err
	}
	return a, nil
}

// CheckProductionSafe refuses what is for development only unless PAYPORTAL_ENV=development:
// the settings config.CheckProduction refuses (sandbox processors, default secret) and the
// demo API keys of internal/devdata in the database, which anyone can read in the README.
// `payportal api` and `payportal worker` call it before serving; every problem found is
// reported at once, each naming what to change.
func (a *App) CheckProductionSafe(ctx context.Context) error {
	if a.Config.Development() {
		a.Log.Warn("PAYPORTAL_ENV=development: sandbox processors, demo keys and the default idempotency secret are allowed; never serve real customers so")
		return nil
	}
	errs := []error{a.Config.CheckProduction()}
	demo, err := a.activeDemoKeys(ctx)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("check the database for demo API keys: %w", err))
	case len(demo) > 0:
		errs = append(errs, fmt.Errorf("the database holds the demo API keys of `payportal migrate --demo` (ids %s), "+
			"which anyone can read in the README; revoke them (UPDATE api_keys SET revoked_at = now() WHERE id IN ('%s')) "+
			"or set PAYPORTAL_ENV=development for a trial", strings.Join(demo, ", "), strings.Join(demo, "', '")))
	}
	return errors.Join(errs...)
}

// activeDemoKeys answers the ids of the demo keys the database still accepts, looked up by
// their digests as any caller's key is.
func (a *App) activeDemoKeys(ctx context.Context) ([]string, error) {
	var ids []string
	for _, key := range []string{devdata.DemoCustomerKey, devdata.OtherCustomerKey, devdata.DemoRepKey} {
		caller, err := a.DB.CallerByAPIKey(ctx, key)
		switch {
		case billing.KindOf(err) == billing.KindUnauthenticated:
			continue // unknown or revoked
		case err != nil:
			return nil, err
		}
		ids = append(ids, caller.KeyID)
	}
	return ids, nil
}

// Close releases the connections.
func (a *App) Close() {
	a.Temporal.Close()
	a.DB.Close()
	a.closeTelemetry()
}

// APIServer is the HTTP API over this app's services.
func (a *App) APIServer() *api.Server {
	return &api.Server{
		Auth:           a.DB,
		Billing:        &portal.Billing{DB: a.DB, Clock: a.Clock},
		Cards:          a.cardService(),
		Payments:       a.paymentService(),
		Refunds:        a.refundService(),
		Webhooks:       a.WebhookService(),
		Checkout:       a.checkout(),
		SandboxCards:   a.sandboxCards(),
		RefuseRawCards: !a.Config.RawCardsAllowed(),
		Clock:          a.Clock,
		PDFs:           &portal.InvoicePDFs{Store: &pdfstore.Store{DB: a.DB, Clock: a.Clock}},
		Registry:       a.registry(),
		Limits:         api.RateLimits{PerSecond: a.Config.RateLimitPerSecond, Burst: a.Config.RateLimitBurst},
		ReturnURLHosts: api.ReturnURLHosts{Allowed: a.Config.ReturnURLHosts, AnyWhenEmpty: a.Config.Development()},
		MerchantName:   a.Config.MerchantName,
		PortalURL:      a.Config.PortalURL,
		TrustedProxies: a.Config.TrustedProxies,
		Console: (&console.Console{DB: a.DB, Cards: a.cardService(), Refunds: a.refundService(), Clock: a.Clock, Secure: !a.Config.Development(),
			TemporalUI: a.Config.TemporalUIURL, TemporalNamespace: a.Config.TemporalNamespace, Logger: a.Log}).Handler(),
		Logger: a.Log,
	}
}

// WorkerConfig is the worker over this app's activities.
func (a *App) WorkerConfig() worker.Config {
	return worker.Config{
		TaskQueue:   a.Config.TaskQueue,
		StopTimeout: a.Config.WorkerStopTimeout,
		Activities: activities.Dependencies{
			DB:        a.DB,
			Clock:     a.Clock,
			Logger:    a.Log,
			Mail:      a.Mail,
			Cards:     a.Cards,
			PayPal:    a.PayPal,
			PublicURL: a.Config.PublicURL,
			Temporal:  a.Temporal,
			// The API's own start, so a resumed saga is the one the API would have started.
			StartPaymentSaga: a.paymentService().StartSaga,
			EnsureBillingSchedule: func(ctx context.Context, acct billing.Account) error {
				return schedules.EnsureAccount(ctx, a.Temporal, a.Config.TaskQueue, acct)
			},
			Webhooks: a.webhookActivities(),
		},
	}
}

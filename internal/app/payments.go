package app

import (
	"context"
	"fmt"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/paypal"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
)

// newPayPal is the PayPal the configuration names: the sandbox, whose approval links open a
// page of this server under PAYPORTAL_PUBLIC_URL, unless PAYPORTAL_PAYPAL=live, which talks
// to PayPal's Orders v2 API at PAYPAL_API_BASE with PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET.
func newPayPal(cfg config.Config, db *postgres.DB) (gateway.PayPal, error) {
	switch cfg.PayPalMode {
	case "", "sandbox":
		return sandbox.NewPayPal(db.Pool, cfg.PublicURL), nil
	case "live":
		c, err := paypal.New(paypal.Config{BaseURL: cfg.PayPalAPIBase, ClientID: cfg.PayPalClientID, ClientSecret: cfg.PayPalClientSecret})
		if err != nil {
			return nil, fmt.Errorf("paypal: %w", err)
		}
		return c, nil
	default:
		return nil, fmt.Errorf("paypal mode %q: want sandbox or live", cfg.PayPalMode)
	}
}

// paymentService is the one-time payment service the API calls.
func (a *App) paymentService() *portal.Payments {
	return &portal.Payments{
		DB:                    a.DB,
		Temporal:              a.Temporal,
		Processor:             a.Cards,
		Clock:                 a.Clock,
		TaskQueue:             a.Config.TaskQueue,
		PayPalApprovalTimeout: a.Config.PayPalApprovalTimeout,
		RequestHashKey:        []byte(a.Config.IdempotencySecret),
		Logger:                a.Log,
	}
}

// checkout is the sandbox's buyer page, mounted only when PayPal is the sandbox; nil (no
// routes) with the live PayPal.
func (a *App) checkout() api.PayPalCheckout {
	if sb, ok := a.PayPal.(*sandbox.PayPal); ok {
		return sb
	}
	return nil
}

// Sweeping for payments whose saga never started: often enough that a stranded payment does
// not hold the customer's balance for long, with a grace period that leaves the API's own
// start (and the client's retry) time to happen first.
const (
	strandedSweepEvery = time.Minute
	strandedGrace      = 2 * time.Minute
)

// SweepStrandedPayments starts the saga of any one-time payment that has none, every minute
// until ctx ends. Workers run it; several at once are harmless since starting is idempotent.
func (a *App) SweepStrandedPayments(ctx context.Context) error {
	tick := time.NewTicker(strandedSweepEvery)
	defer tick.Stop()
	for {
		if n, err := a.ResumeStrandedPayments(ctx); err != nil {
			a.Log.WarnContext(ctx, "stranded payment sweep failed; next sweep retries", "err", err)
		} else if n > 0 {
			a.Log.InfoContext(ctx, "stranded payment sweep", "payments_checked", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ResumeStrandedPayments is one sweep: it starts the saga of every one-time payment still
// processing after the grace period that has none, and reports how many it looked at.
func (a *App) ResumeStrandedPayments(ctx context.Context) (int, error) {
	return a.paymentService().ResumeStranded(ctx, strandedGrace)
}

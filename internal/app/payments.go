package app

import (
	"fmt"

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
		PayPal:                a.PayPal,
		Clock:                 a.Clock,
		TaskQueue:             a.Config.TaskQueue,
		PayPalApprovalTimeout: a.Config.PayPalApprovalTimeout,
		RequestHashKey:        []byte(a.Config.IdempotencySecret),
		Logger:                a.Log,
	}
}

// refundService is the reps' refunds and credits.
func (a *App) refundService() *portal.Refunds {
	return &portal.Refunds{DB: a.DB, Temporal: a.Temporal, Clock: a.Clock, TaskQueue: a.Config.TaskQueue,
		RequestHashKey: []byte(a.Config.IdempotencySecret), Logger: a.Log}
}

// checkout is the sandbox's buyer page, mounted only in development with the PayPal
// sandbox; nil (no routes) otherwise. Anyone holding an order's token may press Approve
// there, so it must never be served to real customers: production refuses the sandbox at
// start (CheckProductionSafe), and this keeps the page off even if that check were skipped.
func (a *App) checkout() api.PayPalCheckout {
	if !a.Config.Development() {
		return nil
	}
	if sb, ok := a.PayPal.(*sandbox.PayPal); ok {
		return sb
	}
	return nil
}

// sandboxCards is the card sandbox's tokenization endpoint and 3-D Secure page, mounted, like
// the PayPal checkout page, only in development with the sandbox card processor: anyone may
// call them, and the challenge page lets anyone holding an authorization's id authenticate it.
func (a *App) sandboxCards() api.SandboxCards {
	if !a.Config.Development() {
		return nil
	}
	if sb, ok := a.Cards.(*sandbox.CardProcessor); ok {
		return sb
	}
	return nil
}

package app

import (
	"fmt"
	"log/slog"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/gateway/stripe"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
)

// newCardProcessor is the card processor the configuration names: the sandbox (state in
// Postgres, so API and worker processes share it) unless PAYPORTAL_CARD_PROCESSOR=stripe.
func newCardProcessor(cfg config.Config, db *postgres.DB, clock billing.Clock) (gateway.CardProcessor, error) {
	switch cfg.CardProcessor {
	case "", "sandbox":
		// Its 3-D Secure challenge page is on this server, under the public URL.
		return sandbox.NewCardProcessor(db.Pool, clock).WithPublicURL(cfg.PublicURL), nil
	case "stripe":
		p, err := stripe.New(stripe.Config{APIKey: cfg.StripeAPIKey, BackendURL: cfg.StripeAPIBase})
		if err != nil {
			return nil, fmt.Errorf("card processor: %w", err)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("card processor %q: want sandbox or stripe", cfg.CardProcessor)
	}
}

// newMailSender sends over SMTP when PAYPORTAL_SMTP_ADDR is set; otherwise mails are logged,
// which is what `payportal dev` wants out of the box.
func newMailSender(cfg config.Config, log *slog.Logger) (mail.Sender, error) {
	if cfg.SMTPAddr == "" {
		return mail.LogSender{Logger: log}, nil
	}
	s, err := mail.NewSMTPSender(mail.SMTPConfig{
		Addr:     cfg.SMTPAddr,
		From:     cfg.SMTPFrom,
		Username: cfg.SMTPUsername,
		Password: cfg.SMTPPassword,
		TLS:      mail.TLSPolicy(cfg.SMTPTLS),
	})
	if err != nil {
		return nil, fmt.Errorf("mail sender: %w", err)
	}
	return s, nil
}

// cardService is the card-on-file service the API calls.
func (a *App) cardService() *portal.Cards {
	return &portal.Cards{
		DB:                a.DB,
		Temporal:          a.Temporal,
		Processor:         a.Cards,
		Clock:             a.Clock,
		TaskQueue:         a.Config.TaskQueue,
		ValidationTimeout: a.Config.CardValidationTimeout,
		Logger:            a.Log,
		RequestHashKey:    []byte(a.Config.IdempotencySecret),
	}
}

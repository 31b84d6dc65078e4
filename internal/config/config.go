// Package config reads PayPortal's settings from the environment. Every setting has a default
// that works on a developer machine; the README's table lists them all.
package config

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Config is every setting, read once at start.
type Config struct {
	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	HTTPAddr          string
	PublicURL         string // how browsers reach the API: PayPal approval and return links
	SMTPAddr          string // empty: mail is logged, not sent
	SMTPFrom          string
	SMTPUsername      string
	SMTPPassword      string
	SMTPTLS           string // opportunistic | mandatory | none

	CardValidationTimeout time.Duration
	PayPalApprovalTimeout time.Duration

	CardProcessor      string // sandbox | stripe
	StripeAPIKey       string
	StripeAPIBase      string
	PayPalMode         string // sandbox | live
	PayPalClientID     string
	PayPalClientSecret string
	PayPalAPIBase      string

	// IdempotencySecret keys the fingerprint of payment requests; set it in production.
	IdempotencySecret string

	RateLimitPerSecond float64 // per API key
	RateLimitBurst     int
	LogLevel           string
	DevStateDir        string // payportal dev: Temporal's state file and logs
	TemporalUIPort     int
	TemporalCLI        string // payportal dev: the temporal binary; empty = build it from tools/
}

// Load reads the environment.
func Load() (Config, error) {
	c := Config{
		DatabaseURL:        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/payportal?sslmode=disable"),
		TemporalAddress:    env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace:  env("TEMPORAL_NAMESPACE", "default"),
		TaskQueue:          env("PAYPORTAL_TASK_QUEUE", "payportal"),
		HTTPAddr:           env("PAYPORTAL_HTTP_ADDR", "127.0.0.1:8080"),
		SMTPAddr:           env("PAYPORTAL_SMTP_ADDR", ""),
		SMTPFrom:           env("PAYPORTAL_SMTP_FROM", "PayPortal Billing <billing@payportal.local>"),
		SMTPUsername:       env("PAYPORTAL_SMTP_USERNAME", ""),
		SMTPPassword:       env("PAYPORTAL_SMTP_PASSWORD", ""),
		SMTPTLS:            env("PAYPORTAL_SMTP_TLS", "opportunistic"),
		CardProcessor:      env("PAYPORTAL_CARD_PROCESSOR", "sandbox"),
		StripeAPIKey:       env("STRIPE_API_KEY", ""),
		StripeAPIBase:      env("STRIPE_API_BASE", ""),
		PayPalMode:         env("PAYPORTAL_PAYPAL", "sandbox"),
		PayPalClientID:     env("PAYPAL_CLIENT_ID", ""),
		PayPalClientSecret: env("PAYPAL_CLIENT_SECRET", ""),
		PayPalAPIBase:      env("PAYPAL_API_BASE", "https://api-m.sandbox.paypal.com"),
		LogLevel:           env("PAYPORTAL_LOG_LEVEL", "info"),
		IdempotencySecret:  env("PAYPORTAL_IDEMPOTENCY_SECRET", "payportal-dev-idempotency-secret"),
		DevStateDir:        env("PAYPORTAL_DEV_STATE_DIR", ".payportal"),
		TemporalCLI:        env("PAYPORTAL_TEMPORAL_CLI", ""),
	}
	c.PublicURL = env("PAYPORTAL_PUBLIC_URL", "http://"+c.HTTPAddr)
	var err error
	if c.CardValidationTimeout, err = durationEnv("PAYPORTAL_CARD_VALIDATION_TIMEOUT", 24*time.Hour); err != nil {
		return Config{}, err
	}
	if c.PayPalApprovalTimeout, err = durationEnv("PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT", 3*time.Hour); err != nil {
		return Config{}, err
	}
	if c.RateLimitPerSecond, err = floatEnv("PAYPORTAL_RATE_LIMIT_RPS", 50); err != nil {
		return Config{}, err
	}
	burst, err := floatEnv("PAYPORTAL_RATE_LIMIT_BURST", 100)
	if err != nil {
		return Config{}, err
	}
	c.RateLimitBurst = int(burst)
	ui, err := floatEnv("PAYPORTAL_TEMPORAL_UI_PORT", 8233)
	if err != nil {
		return Config{}, err
	}
	c.TemporalUIPort = int(ui)
	switch c.SMTPTLS {
	case "opportunistic", "mandatory", "none":
	default:
		return Config{}, fmt.Errorf("PAYPORTAL_SMTP_TLS=%q: want opportunistic, mandatory or none", c.SMTPTLS)
	}
	switch c.CardProcessor {
	case "sandbox", "stripe":
	default:
		return Config{}, fmt.Errorf("PAYPORTAL_CARD_PROCESSOR=%q: want sandbox or stripe", c.CardProcessor)
	}
	switch c.PayPalMode {
	case "sandbox", "live":
	default:
		return Config{}, fmt.Errorf("PAYPORTAL_PAYPAL=%q: want sandbox or live", c.PayPalMode)
	}
	return c, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive Go duration such as 24h or 90s", name, v)
	}
	return d, nil
}

func floatEnv(name string, def float64) (float64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive number", name, v)
	}
	return f, nil
}

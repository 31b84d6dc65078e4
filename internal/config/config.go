// Package config reads PayPortal's settings from the environment. Every setting has a default
// that works on a developer machine; the README's table lists them all.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/payportal/payportal/internal/codec"
)

// The two environments (PAYPORTAL_ENV). Production is the default, so a deployment that
// forgets the setting gets the safety checks, not the sandboxes.
const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// DefaultIdempotencySecret is the built-in key of the request fingerprints: public, so fine
// for development only.
const DefaultIdempotencySecret = "payportal-dev-idempotency-secret"

// minIdempotencySecretLen is the shortest secret production accepts: 32 bytes, as long as
// the HMAC-SHA-256 it keys.
const minIdempotencySecretLen = 32

// Config is every setting, read once at start.
type Config struct {
	// Env is development or production (PAYPORTAL_ENV). Outside development, `payportal api`
	// and `payportal worker` refuse the sandboxes, demo keys and default secrets
	// (CheckProduction), and the PayPal sandbox's buyer page is not served.
	Env string

	DatabaseURL       string
	TemporalAddress   string
	TemporalNamespace string
	// Temporal is the connection as the SDK's environment configuration reads it, like the
	// temporal CLI: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*,
	// TEMPORAL_GRPC_META_*, over a profile (TEMPORAL_PROFILE) of the TOML file
	// TEMPORAL_CONFIG_FILE. Its address and namespace are TemporalAddress and TemporalNamespace.
	Temporal envconfig.ClientConfigProfile

	TaskQueue    string
	HTTPAddr     string
	PublicURL    string // how browsers reach the API: PayPal approval and return links
	SMTPAddr     string // empty: mail is logged, not sent
	SMTPFrom     string
	SMTPUsername string
	SMTPPassword string
	SMTPTLS      string // opportunistic | mandatory | none

	CardValidationTimeout time.Duration
	PayPalApprovalTimeout time.Duration

	CardProcessor      string // sandbox | stripe
	StripeAPIKey       string
	StripeAPIBase      string
	PayPalMode         string // sandbox | live
	PayPalClientID     string
	PayPalClientSecret string
	PayPalAPIBase      string

	// AllowRawCards lets requests carry a raw card number in production
	// (PAYPORTAL_ALLOW_RAW_CARDS=true): only for a Stripe account enabled for raw card data
	// (PCI DSS SAQ D). Otherwise cards arrive as tokens made in the browser; see
	// RawCardsAllowed.
	AllowRawCards bool

	// IdempotencySecret keys the fingerprint of payment requests; set it in production.
	IdempotencySecret string

	// ReturnURLHosts are the hosts a payment's return_url may name
	// (PAYPORTAL_RETURN_URL_HOSTS): exact names, or "*.example.com" for its subdomains. Empty
	// allows any host in development and refuses every return_url in production.
	ReturnURLHosts []string
	// MerchantName is who the buyer's pages say is paid (PAYPORTAL_MERCHANT_NAME; PayPortal).
	MerchantName string
	// PortalURL is the customer portal the PayPal return page links back to when the payment
	// has no return_url (PAYPORTAL_PORTAL_URL; empty: no link).
	PortalURL string
	// TrustedProxies are the CIDRs of the reverse proxies whose X-Forwarded-For is believed
	// (PAYPORTAL_TRUSTED_PROXIES); empty: the connection's address is the client's.
	TrustedProxies []string

	// OpsAddr is the ops listener (PAYPORTAL_OPS_ADDR): /metrics, /healthz, /readyz and the
	// codec server, never on the public listener.
	OpsAddr string
	// PayloadKeys encrypt every Temporal payload (PAYPORTAL_PAYLOAD_KEYS, "id:base64key,...",
	// the first encrypts); zero: unset, see PayloadKeyRing.
	PayloadKeys codec.KeyRing
	// CodecCORSOrigins are the browser origins (the Temporal UI's) that may call the codec
	// server (PAYPORTAL_CODEC_CORS_ORIGINS).
	CodecCORSOrigins []string
	// CodecToken, when set, is the bearer token the codec server wants (PAYPORTAL_CODEC_TOKEN).
	CodecToken string
	// WorkerStopTimeout is how long a stopping worker lets running activities finish before
	// cancelling them (PAYPORTAL_WORKER_STOP_TIMEOUT).
	WorkerStopTimeout time.Duration

	// Webhooks: a failed delivery is retried after WebhookRetryInitial, doubling up to
	// WebhookRetryMax, until WebhookGiveUpAfter has passed since the first attempt; then the
	// endpoint is disabled (PAYPORTAL_WEBHOOK_RETRY_INITIAL, _RETRY_MAX, _GIVE_UP_AFTER).
	// Zero: the defaults of WebhookRetries.
	WebhookRetryInitial time.Duration
	WebhookRetryMax     time.Duration
	WebhookGiveUpAfter  time.Duration

	RateLimitPerSecond float64 // per API key
	RateLimitBurst     int
	LogLevel           string
	DevStateDir        string // payportal dev: Temporal's state file and logs
	TemporalUIPort     int
	// TemporalUIURL is the Temporal Web UI the rep console links workflows to
	// (PAYPORTAL_TEMPORAL_UI_URL; the dev server's UI by default).
	TemporalUIURL string
	TemporalCLI   string // payportal dev: the temporal binary; empty = build it from tools/
}

// Load reads the environment.
func Load() (Config, error) {
	c := Config{
		Env:                env("PAYPORTAL_ENV", EnvProduction),
		DatabaseURL:        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/payportal?sslmode=disable"),
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
		IdempotencySecret:  env("PAYPORTAL_IDEMPOTENCY_SECRET", DefaultIdempotencySecret),
		DevStateDir:        env("PAYPORTAL_DEV_STATE_DIR", ".payportal"),
		TemporalCLI:        env("PAYPORTAL_TEMPORAL_CLI", ""),
		OpsAddr:            env("PAYPORTAL_OPS_ADDR", DefaultOpsAddr),
		CodecToken:         env("PAYPORTAL_CODEC_TOKEN", ""),
	}
	c.PublicURL = env("PAYPORTAL_PUBLIC_URL", "http://"+c.HTTPAddr)
	var err error
	if c.Temporal, err = envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{EnvLookup: nonEmptyEnv{}}); err != nil {
		return Config{}, fmt.Errorf("temporal connection (TEMPORAL_* and TEMPORAL_CONFIG_FILE): %w", err)
	}
	if c.Temporal.Address == "" {
		c.Temporal.Address = "127.0.0.1:7233"
	}
	if c.Temporal.Namespace == "" {
		c.Temporal.Namespace = "default"
	}
	c.TemporalAddress, c.TemporalNamespace = c.Temporal.Address, c.Temporal.Namespace
	if c.ReturnURLHosts, err = hostListEnv("PAYPORTAL_RETURN_URL_HOSTS"); err != nil {
		return Config{}, err
	}
	c.MerchantName = env("PAYPORTAL_MERCHANT_NAME", "PayPortal")
	c.PortalURL = os.Getenv("PAYPORTAL_PORTAL_URL")
	if u, perr := url.Parse(c.PortalURL); c.PortalURL != "" && (perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		return Config{}, fmt.Errorf("PAYPORTAL_PORTAL_URL %q: want an absolute http(s) URL", c.PortalURL)
	}
	if c.TrustedProxies, err = cidrListEnv("PAYPORTAL_TRUSTED_PROXIES"); err != nil {
		return Config{}, err
	}
	if c.AllowRawCards, err = boolEnv("PAYPORTAL_ALLOW_RAW_CARDS"); err != nil {
		return Config{}, err
	}
	if c.CardValidationTimeout, err = durationEnv("PAYPORTAL_CARD_VALIDATION_TIMEOUT", 24*time.Hour); err != nil {
		return Config{}, err
	}
	if c.PayPalApprovalTimeout, err = durationEnv("PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT", 3*time.Hour); err != nil {
		return Config{}, err
	}
	if c.WebhookRetryInitial, err = durationEnv("PAYPORTAL_WEBHOOK_RETRY_INITIAL", 0); err != nil {
		return Config{}, err
	}
	if c.WebhookRetryMax, err = durationEnv("PAYPORTAL_WEBHOOK_RETRY_MAX", 0); err != nil {
		return Config{}, err
	}
	if c.WebhookGiveUpAfter, err = durationEnv("PAYPORTAL_WEBHOOK_GIVE_UP_AFTER", 0); err != nil {
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
	c.TemporalUIURL = os.Getenv("PAYPORTAL_TEMPORAL_UI_URL")
	if c.TemporalUIURL == "" {
		c.TemporalUIURL = fmt.Sprintf("http://127.0.0.1:%d", c.TemporalUIPort)
	}
	if c.WorkerStopTimeout, err = durationEnv("PAYPORTAL_WORKER_STOP_TIMEOUT", DefaultWorkerStopTimeout); err != nil {
		return Config{}, err
	}
	if keys := os.Getenv("PAYPORTAL_PAYLOAD_KEYS"); keys != "" {
		if c.PayloadKeys, err = codec.ParseKeyRing(keys); err != nil {
			return Config{}, fmt.Errorf("PAYPORTAL_PAYLOAD_KEYS: %w", err)
		}
	}
	if c.CodecCORSOrigins, err = originListEnv("PAYPORTAL_CODEC_CORS_ORIGINS"); err != nil {
		return Config{}, err
	}
	if len(c.CodecCORSOrigins) == 0 {
		c.CodecCORSOrigins = []string{fmt.Sprintf("http://127.0.0.1:%d", c.TemporalUIPort), fmt.Sprintf("http://localhost:%d", c.TemporalUIPort)}
	}
	if _, _, err := net.SplitHostPort(c.OpsAddr); err != nil {
		return Config{}, fmt.Errorf("PAYPORTAL_OPS_ADDR=%q: want host:port, e.g. 127.0.0.1:9090", c.OpsAddr)
	}
	switch c.Env {
	case EnvDevelopment, EnvProduction:
	default:
		return Config{}, fmt.Errorf("PAYPORTAL_ENV=%q: want development or production", c.Env)
	}
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

// DefaultOpsAddr is where the ops listener listens unless PAYPORTAL_OPS_ADDR says otherwise:
// this host only.
const DefaultOpsAddr = "127.0.0.1:9090"

// DefaultWorkerStopTimeout covers the longest money-moving activity (30 s StartToClose): a
// deploy lets an authorization or a capture finish rather than cancel it half way.
const DefaultWorkerStopTimeout = 30 * time.Second

// nonEmptyEnv is the environment with empty variables unset, as for every PayPortal setting:
// to the SDK an empty TEMPORAL_TLS_CLIENT_CERT_PATH would turn TLS on, an empty
// TEMPORAL_ADDRESS would hide the profile's.
type nonEmptyEnv struct{}

func (nonEmptyEnv) Environ() []string { return os.Environ() }

func (nonEmptyEnv) LookupEnv(key string) (string, bool) {
	v := os.Getenv(key)
	return v, v != ""
}

// Development reports whether PAYPORTAL_ENV=development: sandboxes, demo data and default
// secrets are allowed. Anything else (also a Config built without Env) is production.
func (c Config) Development() bool { return c.Env == EnvDevelopment }

// WebhookRetries are the delivery retry settings with their defaults filled in: 30 s,
// doubling up to an hour, for 3 days.
func (c Config) WebhookRetries() (initial, maxInterval, giveUpAfter time.Duration) {
	initial, maxInterval, giveUpAfter = c.WebhookRetryInitial, c.WebhookRetryMax, c.WebhookGiveUpAfter
	if initial <= 0 {
		initial = 30 * time.Second
	}
	if maxInterval <= 0 {
		maxInterval = time.Hour
	}
	if giveUpAfter <= 0 {
		giveUpAfter = 72 * time.Hour
	}
	return initial, max(initial, maxInterval), giveUpAfter
}

// RawCardsAllowed reports whether the API takes a raw card number (card) besides a processor
// token: always in development, in production only with PAYPORTAL_ALLOW_RAW_CARDS=true. A
// refused raw card is answered raw_card_not_allowed, before the number goes anywhere.
func (c Config) RawCardsAllowed() bool { return c.Development() || c.AllowRawCards }

// CheckProduction refuses the settings that are for development only, unless Env is
// development: a sandbox card processor or PayPal (customers could approve their own
// payments), and a missing, built-in or short idempotency secret (anyone could compute the
// fingerprints), and payload keys that are missing or the public development one (Temporal
// would hold personal data anyone could read). Each refusal names the setting to change; all of them are reported at once.
// The demo API keys live in the database: app.CheckProductionSafe checks those too.
func (c Config) CheckProduction() error {
	if c.Development() {
		return nil
	}
	var errs []error
	if c.CardProcessor == "" || c.CardProcessor == "sandbox" {
		errs = append(errs, errors.New("PAYPORTAL_CARD_PROCESSOR=sandbox is for development; "+
			"set PAYPORTAL_CARD_PROCESSOR=stripe (or PAYPORTAL_ENV=development for a trial)"))
	}
	if c.PayPalMode == "" || c.PayPalMode == "sandbox" {
		errs = append(errs, errors.New("PAYPORTAL_PAYPAL=sandbox is for development (its checkout page lets buyers approve their own payments); "+
			"set PAYPORTAL_PAYPAL=live with PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (or PAYPORTAL_ENV=development for a trial)"))
	}
	switch {
	case c.IdempotencySecret == "" || c.IdempotencySecret == DefaultIdempotencySecret:
		errs = append(errs, fmt.Errorf("PAYPORTAL_IDEMPOTENCY_SECRET is the built-in development secret; "+
			"set it to a random secret of at least %d bytes (or PAYPORTAL_ENV=development for a trial)", minIdempotencySecretLen))
	case len(c.IdempotencySecret) < minIdempotencySecretLen:
		errs = append(errs, fmt.Errorf("PAYPORTAL_IDEMPOTENCY_SECRET is %d bytes; "+
			"set it to a random secret of at least %d bytes (or PAYPORTAL_ENV=development for a trial)", len(c.IdempotencySecret), minIdempotencySecretLen))
	}
	if c.Temporal.APIKey != "" && c.Temporal.TLS != nil && c.Temporal.TLS.Disabled {
		errs = append(errs, errors.New("TEMPORAL_API_KEY is set with TEMPORAL_TLS=false, so the key would cross the network in plain text; "+
			"drop TEMPORAL_TLS=false (an API key turns TLS on)"))
	}
	switch {
	case c.PayloadKeys.IsZero():
		errs = append(errs, errPayloadKeysUnset)
	case c.PayloadKeys.HoldsDevelopmentKey():
		errs = append(errs, fmt.Errorf("PAYPORTAL_PAYLOAD_KEYS holds the development key %s, which is public; "+
			"set your own: PAYPORTAL_PAYLOAD_KEYS=<id>:$(openssl rand -base64 32) (or PAYPORTAL_ENV=development for a trial)", codec.DevelopmentKeyID))
	}
	return errors.Join(errs...)
}

var errPayloadKeysUnset = errors.New("PAYPORTAL_PAYLOAD_KEYS is unset, and Temporal would hold customers' emails, names and addresses in plain text; " +
	"set it to id:base64key, e.g. PAYPORTAL_PAYLOAD_KEYS=k1:$(openssl rand -base64 32) (or PAYPORTAL_ENV=development for a trial)")

// PayloadKeyRing is the key ring that encrypts Temporal payloads: PAYPORTAL_PAYLOAD_KEYS, or
// in development when it is unset the public development key (codec.DevelopmentKeyID), so
// `payportal dev`, the tests and docker compose need no setting. Production without keys
// is an error.
func (c Config) PayloadKeyRing() (codec.KeyRing, error) {
	switch {
	case !c.PayloadKeys.IsZero():
		return c.PayloadKeys, nil
	case c.Development():
		return codec.DevelopmentKeyRing(), nil
	}
	return codec.KeyRing{}, errPayloadKeysUnset
}

// OpsURL is how a process on this host reaches the ops listener: OpsAddr, with a wildcard
// host (0.0.0.0, ::, empty) replaced by the loopback address.
func (c Config) OpsURL() string {
	host, port, err := net.SplitHostPort(c.OpsAddr)
	if err != nil {
		return "http://" + c.OpsAddr
	}
	if ip, err := netip.ParseAddr(host); host == "" || err == nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
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

func boolEnv(name string) (bool, error) {
	v := os.Getenv(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
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

// list splits a comma-separated setting, dropping blanks.
func list(name string) []string {
	var out []string
	for _, v := range strings.Split(os.Getenv(name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// hostListEnv reads host names, each exact ("shop.example.com") or a subdomain wildcard
// ("*.example.com"), lower-cased.
func hostListEnv(name string) ([]string, error) {
	hosts := list(name)
	for i, h := range hosts {
		h = strings.ToLower(h)
		if !validHostName(strings.TrimPrefix(h, "*.")) {
			return nil, fmt.Errorf("%s: %q is not a host name; want names such as shop.example.com or *.example.com, comma-separated", name, hosts[i])
		}
		hosts[i] = h
	}
	return hosts, nil
}

// validHostName accepts DNS names and IP literals: letters, digits, dashes and dots, or an
// IPv6 address; no scheme, port, path or wildcard in the middle.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// originListEnv reads browser origins: scheme://host[:port], no path.
func originListEnv(name string) ([]string, error) {
	origins := list(name)
	for i, o := range origins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%s: %q is not an origin; want origins such as https://temporal.example.com or http://127.0.0.1:8233, comma-separated", name, o)
		}
		origins[i] = u.Scheme + "://" + u.Host
	}
	return origins, nil
}

// cidrListEnv reads CIDRs; a bare address is taken as its own /32 (or /128).
func cidrListEnv(name string) ([]string, error) {
	items := list(name)
	for i, v := range items {
		if p, err := netip.ParsePrefix(v); err == nil {
			items[i] = p.Masked().String()
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%s: %q is not a CIDR; want networks such as 10.0.0.0/8 or 192.168.1.10/32, comma-separated", name, v)
		}
		items[i] = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return items, nil
}

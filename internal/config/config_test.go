package config_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/config"
)

// clearEnv unsets every setting these tests read, so the machine's environment cannot leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"PAYPORTAL_ENV", "PAYPORTAL_CARD_PROCESSOR", "PAYPORTAL_PAYPAL", "PAYPORTAL_IDEMPOTENCY_SECRET",
		"PAYPORTAL_RETURN_URL_HOSTS", "PAYPORTAL_TRUSTED_PROXIES", "STRIPE_API_KEY", "PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET",
		"PAYPORTAL_PAYLOAD_KEYS", "PAYPORTAL_OPS_ADDR", "PAYPORTAL_CODEC_CORS_ORIGINS", "PAYPORTAL_CODEC_TOKEN",
		"PAYPORTAL_WORKER_STOP_TIMEOUT", "PAYPORTAL_TEMPORAL_UI_PORT", "PAYPORTAL_ALLOW_RAW_CARDS"} {
		t.Setenv(name, "") // restored after the test; empty reads as unset
	}
	// The SDK's connection settings; the TOML file is one that does not exist.
	for _, name := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "TEMPORAL_PROFILE",
		"TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME"} {
		t.Setenv(name, "")
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", filepath.Join(t.TempDir(), "none.toml"))
}

// productionReady is a configuration production accepts.
func productionReady(t *testing.T) {
	t.Helper()
	clearEnv(t)
	t.Setenv("PAYPORTAL_CARD_PROCESSOR", "stripe")
	t.Setenv("PAYPORTAL_PAYPAL", "live")
	t.Setenv("PAYPORTAL_IDEMPOTENCY_SECRET", strings.Repeat("s", 32))
	t.Setenv("PAYPORTAL_PAYLOAD_KEYS", productionKeys)
}

// productionKeys is a key ring of two keys that are not the development key.
var productionKeys = "k2:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("b", 32))) +
	",k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("a", 32)))

func load(t *testing.T) config.Config {
	t.Helper()
	c, err := config.Load()
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func TestEnvDefaultsToProduction(t *testing.T) {
	clearEnv(t)
	c := load(t)
	if c.Env != config.EnvProduction || c.Development() {
		t.Errorf("Env %q, Development %v; want production by default", c.Env, c.Development())
	}
	if (config.Config{}).Development() {
		t.Error("a Config built without Env is development; want production")
	}
	t.Setenv("PAYPORTAL_ENV", "staging")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "PAYPORTAL_ENV") {
		t.Errorf("PAYPORTAL_ENV=staging: %v, want an error naming PAYPORTAL_ENV", err)
	}
}

func TestProductionAcceptsRealProcessorsAndASecret(t *testing.T) {
	productionReady(t)
	if err := load(t).CheckProduction(); err != nil {
		t.Errorf("stripe, live PayPal and a 32-byte secret: %v", err)
	}
}

// TestProductionRefusesEachDevelopmentSetting: each development-only setting is refused with
// an error naming the setting to change, and PAYPORTAL_ENV=development allows every one.
func TestProductionRefusesEachDevelopmentSetting(t *testing.T) {
	for _, tc := range []struct {
		name, env, value string
		want             []string // in the error
	}{
		{"sandbox card processor", "PAYPORTAL_CARD_PROCESSOR", "sandbox",
			[]string{"PAYPORTAL_CARD_PROCESSOR=sandbox is for development", "set PAYPORTAL_CARD_PROCESSOR=stripe", "PAYPORTAL_ENV=development"}},
		// The reported bug: PayPal stays the sandbox when only the card processor is set.
		{"PayPal left at its default", "PAYPORTAL_PAYPAL", "",
			[]string{"PAYPORTAL_PAYPAL=sandbox is for development", "set PAYPORTAL_PAYPAL=live", "PAYPORTAL_ENV=development"}},
		{"sandbox PayPal", "PAYPORTAL_PAYPAL", "sandbox", []string{"PAYPORTAL_PAYPAL=sandbox"}},
		{"default secret", "PAYPORTAL_IDEMPOTENCY_SECRET", "",
			[]string{"PAYPORTAL_IDEMPOTENCY_SECRET is the built-in development secret", "at least 32 bytes"}},
		{"the built-in secret set explicitly", "PAYPORTAL_IDEMPOTENCY_SECRET", config.DefaultIdempotencySecret,
			[]string{"PAYPORTAL_IDEMPOTENCY_SECRET is the built-in"}},
		{"short secret", "PAYPORTAL_IDEMPOTENCY_SECRET", strings.Repeat("s", 31),
			[]string{"PAYPORTAL_IDEMPOTENCY_SECRET is 31 bytes", "at least 32 bytes"}},
		{"no payload keys", "PAYPORTAL_PAYLOAD_KEYS", "",
			[]string{"PAYPORTAL_PAYLOAD_KEYS is unset", "plain text", "PAYPORTAL_ENV=development"}},
		{"the development payload key", "PAYPORTAL_PAYLOAD_KEYS", productionKeys + "," + codec.DevelopmentKeyRingSpec(),
			[]string{"PAYPORTAL_PAYLOAD_KEYS holds the development key", "PAYPORTAL_ENV=development"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			productionReady(t)
			t.Setenv(tc.env, tc.value)
			err := load(t).CheckProduction()
			if err == nil {
				t.Fatalf("%s=%q: accepted in production", tc.env, tc.value)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			t.Setenv("PAYPORTAL_ENV", "development")
			if err := load(t).CheckProduction(); err != nil {
				t.Errorf("%s=%q in development: %v, want allowed", tc.env, tc.value, err)
			}
		})
	}
}

// TestDefaultsAreRefusedAllAtOnce: a production start with nothing set names every setting
// to change in one error, not one per attempt.
func TestDefaultsAreRefusedAllAtOnce(t *testing.T) {
	clearEnv(t)
	err := load(t).CheckProduction()
	for _, want := range []string{"PAYPORTAL_CARD_PROCESSOR", "PAYPORTAL_PAYPAL", "PAYPORTAL_IDEMPOTENCY_SECRET", "PAYPORTAL_PAYLOAD_KEYS"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("defaults in production: %v, want %s named", err, want)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	clearEnv(t)
	if c := load(t); c.TrustedProxies != nil {
		t.Errorf("default trusted proxies %v, want none", c.TrustedProxies)
	}
	t.Setenv("PAYPORTAL_TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.10 ,fd00::/8,, 172.16.5.4/12")
	want := []string{"10.0.0.0/8", "192.168.1.10/32", "fd00::/8", "172.16.0.0/12"}
	if got := load(t).TrustedProxies; !slices.Equal(got, want) {
		t.Errorf("trusted proxies %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.0/8;11.0.0.0/8", "*", "fe80::1%eth0"} {
		t.Setenv("PAYPORTAL_TRUSTED_PROXIES", bad)
		_, err := config.Load()
		if err == nil || !strings.Contains(err.Error(), "PAYPORTAL_TRUSTED_PROXIES") || !strings.Contains(err.Error(), "CIDR") {
			t.Errorf("PAYPORTAL_TRUSTED_PROXIES=%q: %v, want an error naming the setting", bad, err)
		}
	}
}

func TestReturnURLHosts(t *testing.T) {
	clearEnv(t)
	if c := load(t); c.ReturnURLHosts != nil {
		t.Errorf("default return_url hosts %v, want none", c.ReturnURLHosts)
	}
	t.Setenv("PAYPORTAL_RETURN_URL_HOSTS", "Shop.Example.com, *.pay.example ,127.0.0.1")
	want := []string{"shop.example.com", "*.pay.example", "127.0.0.1"}
	if got := load(t).ReturnURLHosts; !slices.Equal(got, want) {
		t.Errorf("return_url hosts %v, want %v", got, want)
	}
	for _, bad := range []string{"https://shop.example", "shop.example:443", "shop.*.example", "*", "shop.example/path", "-shop.example"} {
		t.Setenv("PAYPORTAL_RETURN_URL_HOSTS", bad)
		_, err := config.Load()
		if err == nil || !strings.Contains(err.Error(), "PAYPORTAL_RETURN_URL_HOSTS") {
			t.Errorf("PAYPORTAL_RETURN_URL_HOSTS=%q: %v, want an error naming the setting", bad, err)
		}
	}
}

// TestPayloadKeys: a malformed ring stops every start; an unset one is the development key in
// development and an error in production.
func TestPayloadKeys(t *testing.T) {
	clearEnv(t)
	for _, bad := range []string{"k1", "k1:short", "k1:" + base64.StdEncoding.EncodeToString(make([]byte, 16))} {
		t.Setenv("PAYPORTAL_PAYLOAD_KEYS", bad)
		if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "PAYPORTAL_PAYLOAD_KEYS") {
			t.Errorf("PAYPORTAL_PAYLOAD_KEYS=%q: %v, want an error naming the setting", bad, err)
		}
	}
	t.Setenv("PAYPORTAL_PAYLOAD_KEYS", productionKeys)
	ring, err := load(t).PayloadKeyRing()
	if err != nil || !slices.Equal(ring.IDs(), []string{"k2", "k1"}) {
		t.Errorf("ring %v, %v; want k2 (encrypting), k1", ring, err)
	}
	t.Setenv("PAYPORTAL_PAYLOAD_KEYS", "")
	if _, err := load(t).PayloadKeyRing(); err == nil {
		t.Error("production without keys has a key ring")
	}
	t.Setenv("PAYPORTAL_ENV", "development")
	ring, err = load(t).PayloadKeyRing()
	if err != nil || !ring.HoldsDevelopmentKey() {
		t.Errorf("development without keys: %v, %v; want the development key", ring, err)
	}
	// A Config built in a test, without Load, is the same.
	if ring, err := (config.Config{Env: config.EnvDevelopment}).PayloadKeyRing(); err != nil || !ring.HoldsDevelopmentKey() {
		t.Errorf("a literal development Config: %v, %v", ring, err)
	}
}

func TestOpsSettings(t *testing.T) {
	clearEnv(t)
	c := load(t)
	if c.OpsAddr != "127.0.0.1:9090" || c.OpsURL() != "http://127.0.0.1:9090" {
		t.Errorf("ops listener %q (%s), want 127.0.0.1:9090", c.OpsAddr, c.OpsURL())
	}
	if !slices.Equal(c.CodecCORSOrigins, []string{"http://127.0.0.1:8233", "http://localhost:8233"}) {
		t.Errorf("codec origins %v, want the dev UI's", c.CodecCORSOrigins)
	}
	if c.WorkerStopTimeout != 30*time.Second || c.CodecToken != "" {
		t.Errorf("stop timeout %s, token %q", c.WorkerStopTimeout, c.CodecToken)
	}
	for addr, want := range map[string]string{"0.0.0.0:9191": "http://127.0.0.1:9191", ":9191": "http://127.0.0.1:9191",
		"[::]:9191": "http://127.0.0.1:9191", "10.1.2.3:9191": "http://10.1.2.3:9191", "[::1]:9191": "http://[::1]:9191"} {
		t.Setenv("PAYPORTAL_OPS_ADDR", addr)
		if got := load(t).OpsURL(); got != want {
			t.Errorf("PAYPORTAL_OPS_ADDR=%s: OpsURL %s, want %s", addr, got, want)
		}
	}
	t.Setenv("PAYPORTAL_OPS_ADDR", "9090")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "PAYPORTAL_OPS_ADDR") {
		t.Errorf("PAYPORTAL_OPS_ADDR=9090: %v", err)
	}
	t.Setenv("PAYPORTAL_OPS_ADDR", "")

	t.Setenv("PAYPORTAL_TEMPORAL_UI_PORT", "18233")
	if got := load(t).CodecCORSOrigins; !slices.Equal(got, []string{"http://127.0.0.1:18233", "http://localhost:18233"}) {
		t.Errorf("codec origins follow the UI port: %v", got)
	}
	t.Setenv("PAYPORTAL_CODEC_CORS_ORIGINS", "https://temporal.example.com/, http://127.0.0.1:8233")
	if got := load(t).CodecCORSOrigins; !slices.Equal(got, []string{"https://temporal.example.com", "http://127.0.0.1:8233"}) {
		t.Errorf("codec origins %v", got)
	}
	for _, bad := range []string{"temporal.example.com", "https://temporal.example.com/ui", "*", "ftp://x.example"} {
		t.Setenv("PAYPORTAL_CODEC_CORS_ORIGINS", bad)
		if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "PAYPORTAL_CODEC_CORS_ORIGINS") {
			t.Errorf("PAYPORTAL_CODEC_CORS_ORIGINS=%q: %v", bad, err)
		}
	}
	t.Setenv("PAYPORTAL_CODEC_CORS_ORIGINS", "")
	t.Setenv("PAYPORTAL_WORKER_STOP_TIMEOUT", "2m")
	if got := load(t).WorkerStopTimeout; got != 2*time.Minute {
		t.Errorf("PAYPORTAL_WORKER_STOP_TIMEOUT=2m: %s", got)
	}
}

// TestTemporalConnection: the connection is read as the temporal CLI reads it: a profile of a
// TOML file, then TEMPORAL_* on top; the defaults are the local dev server's.
func TestTemporalConnection(t *testing.T) {
	clearEnv(t)
	c := load(t)
	if c.TemporalAddress != "127.0.0.1:7233" || c.TemporalNamespace != "default" || c.Temporal.TLS != nil || c.Temporal.APIKey != "" {
		t.Errorf("defaults: %s %s TLS %v key %q; want the plain local dev server", c.TemporalAddress, c.TemporalNamespace, c.Temporal.TLS, c.Temporal.APIKey)
	}

	file := filepath.Join(t.TempDir(), "temporal.toml")
	toml := `
[profile.cloud]
address = "payportal.a1b2c.tmprl.cloud:7233"
namespace = "payportal.a1b2c"
api_key = "from-the-file"

[profile.selfhosted]
address = "temporal.internal:7233"
namespace = "billing"
[profile.selfhosted.tls]
client_cert_path = "/etc/payportal/tls/client.pem"
client_key_path = "/etc/payportal/tls/client.key"
server_name = "temporal.internal"
`
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEMPORAL_CONFIG_FILE", file)
	t.Setenv("TEMPORAL_PROFILE", "cloud")
	c = load(t)
	if c.TemporalAddress != "payportal.a1b2c.tmprl.cloud:7233" || c.TemporalNamespace != "payportal.a1b2c" || c.Temporal.APIKey != "from-the-file" {
		t.Errorf("profile cloud: %s %s key %q", c.TemporalAddress, c.TemporalNamespace, c.Temporal.APIKey)
	}
	t.Setenv("TEMPORAL_API_KEY", "from-the-environment")
	t.Setenv("TEMPORAL_NAMESPACE", "other")
	if c = load(t); c.Temporal.APIKey != "from-the-environment" || c.TemporalNamespace != "other" {
		t.Errorf("TEMPORAL_* over the profile: key %q namespace %s", c.Temporal.APIKey, c.TemporalNamespace)
	}

	t.Setenv("TEMPORAL_API_KEY", "")
	t.Setenv("TEMPORAL_NAMESPACE", "")
	t.Setenv("TEMPORAL_PROFILE", "selfhosted")
	c = load(t)
	if c.TemporalNamespace != "billing" || c.Temporal.TLS == nil || c.Temporal.TLS.ClientCertPath != "/etc/payportal/tls/client.pem" || c.Temporal.TLS.ServerName != "temporal.internal" {
		t.Errorf("profile selfhosted: namespace %s TLS %+v", c.TemporalNamespace, c.Temporal.TLS)
	}

	t.Setenv("TEMPORAL_PROFILE", "nosuch")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("an unknown profile: %v; want an error naming it", err)
	}
}

func TestProductionRefusesAnAPIKeyInClear(t *testing.T) {
	productionReady(t)
	t.Setenv("TEMPORAL_API_KEY", "secret")
	t.Setenv("TEMPORAL_TLS", "false")
	err := load(t).CheckProduction()
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS=false") {
		t.Errorf("an API key without TLS: %v; want a refusal naming TEMPORAL_TLS", err)
	}
	t.Setenv("TEMPORAL_TLS", "true")
	if err := load(t).CheckProduction(); err != nil {
		t.Errorf("an API key over TLS: %v", err)
	}
}

// Raw card numbers: always in development, in production only with PAYPORTAL_ALLOW_RAW_CARDS.
func TestRawCardsAllowed(t *testing.T) {
	productionReady(t)
	if c := load(t); c.RawCardsAllowed() {
		t.Error("production takes raw cards by default; want tokens only")
	}
	t.Setenv("PAYPORTAL_ALLOW_RAW_CARDS", "true")
	if c := load(t); !c.RawCardsAllowed() {
		t.Error("PAYPORTAL_ALLOW_RAW_CARDS=true: raw cards still refused")
	}
	t.Setenv("PAYPORTAL_ALLOW_RAW_CARDS", "")
	t.Setenv("PAYPORTAL_ENV", "development")
	if c := load(t); !c.RawCardsAllowed() {
		t.Error("development refuses raw cards")
	}
	t.Setenv("PAYPORTAL_ALLOW_RAW_CARDS", "yes please")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "PAYPORTAL_ALLOW_RAW_CARDS") {
		t.Errorf("PAYPORTAL_ALLOW_RAW_CARDS=yes please: %v, want an error naming it", err)
	}
}

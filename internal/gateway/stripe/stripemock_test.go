package stripe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/testenv"
)

// findStripeMock looks for the stripe-mock tool (go install
// github.com/stripe/stripe-mock@v0.203.0) in STRIPE_MOCK_PATH, PATH, then $(go env GOPATH)/bin.
func findStripeMock() string {
	if p := os.Getenv("STRIPE_MOCK_PATH"); p != "" {
		return p
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "stripe-mock")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}

// startStripeMock runs stripe-mock on a free loopback port for the test's duration. Missing
// stripe-mock skips the test, except in CI where it fails.
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin := findStripeMock()
	if bin == "" {
		testenv.Unavailable(t, "stripe-mock not found: go install github.com/stripe/stripe-mock@v0.203.0 or set STRIPE_MOCK_PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var logs bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recorded is one request that went through to stripe-mock.
type recorded struct {
	method, path, idempotencyKey string
	form                         url.Values
}

// mockProxy sits in front of stripe-mock, records requests and fixes up statuses.
// stripe-mock validates every request against Stripe's OpenAPI spec but is stateless: it
// answers fixtures whose status is always requires_payment_method. The proxy rewrites the
// status to what Stripe answers for a good card, so the adapter's happy path runs end to end.
type mockProxy struct {
	mu       sync.Mutex
	requests []recorded
	// edit, when set, changes stripe-mock's JSON answer to a successful request, after the
	// status fix-up: how a test gives a fixture the metadata and status it needs.
	edit func(r *http.Request, body map[string]any)
	// refuse, when set and answering a non-zero status, answers the request with that
	// status and body instead of passing it to stripe-mock.
	refuse func(r *http.Request) (status int, body string)
}

func (m *mockProxy) start(t *testing.T, target string) string {
	u, _ := url.Parse(target)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		req := resp.Request
		want := ""
		switch {
		case req.Method == "POST" && req.URL.Path == "/v1/payment_intents":
			want = "requires_capture"
		case req.Method == "POST" && req.URL.Path == "/v1/setup_intents":
			want = "succeeded"
		case req.Method == "POST" && strings.HasSuffix(req.URL.Path, "/capture"):
			want = "succeeded"
		case req.Method == "POST" && strings.HasSuffix(req.URL.Path, "/cancel"):
			want = "canceled"
		}
		m.mu.Lock()
		edit := m.edit
		m.mu.Unlock()
		if (want == "" && edit == nil) || resp.StatusCode != http.StatusOK {
			return nil
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		resp.Body.Close()
		if want != "" {
			body["status"] = want
		}
		if edit != nil {
			edit(req, body)
		}
		out, _ := json.Marshal(body)
		resp.Body = io.NopCloser(bytes.NewReader(out))
		resp.ContentLength = int64(len(out))
		resp.Header.Set("Content-Length", fmt.Sprint(len(out)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		m.mu.Lock()
		m.requests = append(m.requests, recorded{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), form})
		refuse := m.refuse
		m.mu.Unlock()
		if refuse != nil {
			if status, answer := refuse(r); status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprint(w, answer)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (m *mockProxy) find(method, path string) (recorded, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.requests) - 1; i >= 0; i-- {
		if r := m.requests[i]; r.method == method && r.path == path {
			return r, true
		}
	}
	return recorded{}, false
}

func TestAgainstStripeMock(t *testing.T) {
	ctx := context.Background()
	proxy := &mockProxy{}
	p, err := New(Config{APIKey: "sk_test_123", BackendURL: proxy.start(t, startStripeMock(t))})
	if err != nil {
		t.Fatal(err)
	}

	card := gateway.Card{Number: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada Lovelace"}
	tc, err := p.Tokenize(ctx, card, billing.Address{Line1: "1 Rue de la Paix", City: "Paris", PostalCode: "75002", Country: "FR"})
	if err != nil {
		t.Fatalf("Tokenize: %v", err)
	}
	if !strings.HasPrefix(tc.Token, "pm_") || tc.Brand != "visa" || tc.Last4 != "4242" {
		t.Errorf("Tokenize = %+v", tc)
	}
	if r, _ := proxy.find("POST", "/v1/payment_methods"); r.form.Get("card[number]") != "4242424242424242" ||
		r.form.Get("type") != "card" || r.form.Get("billing_details[address][country]") != "FR" || r.form.Get("billing_details[name]") != "Ada Lovelace" {
		t.Errorf("payment method request = %v", r.form)
	}

	if err := p.Verify(ctx, tc.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if r, _ := proxy.find("POST", "/v1/setup_intents"); r.form.Get("confirm") != "true" || r.form.Get("usage") != "off_session" ||
		r.form.Get("payment_method") != tc.Token || r.idempotencyKey != "payportal-verify-setup-"+tc.Token {
		t.Errorf("setup intent request = %+v", r)
	}

	authID, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: billing.Money{Amount: 12345, Currency: "EUR"},
		IdempotencyKey: "pay_1/authorize", Description: "PayPortal payment pay_1"})
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	r, _ := proxy.find("POST", "/v1/payment_intents")
	if r.idempotencyKey != "pay_1/authorize" || r.form.Get("capture_method") != "manual" || r.form.Get("confirm") != "true" ||
		r.form.Get("amount") != "12345" || r.form.Get("currency") != "eur" || r.form.Get("payment_method") != tc.Token {
		t.Errorf("payment intent request = %+v", r)
	}
	// The metadata is what LookupCharge and CapturesSince find the intent by.
	if r.form.Get("metadata[payportal_key]") != "pay_1/authorize" || r.form.Get("metadata[payportal_payment_id]") != "pay_1" {
		t.Errorf("payment intent metadata = %v", r.form)
	}

	capID, err := p.Capture(ctx, authID, billing.Money{Amount: 12345, Currency: "EUR"}, "pay_1/capture")
	if err != nil || capID == "" {
		t.Fatalf("Capture = %q, %v", capID, err)
	}
	if r, _ := proxy.find("POST", "/v1/payment_intents/"+authID+"/capture"); r.idempotencyKey != "pay_1/capture" || r.form.Get("amount_to_capture") != "12345" {
		t.Errorf("capture request = %+v", r)
	}

	refundID, err := p.Refund(ctx, capID, billing.Money{Amount: 345, Currency: "EUR"}, "pay_1/refund")
	if err != nil || !strings.HasPrefix(refundID, "re_") {
		t.Fatalf("Refund = %q, %v", refundID, err)
	}
	if r, _ := proxy.find("POST", "/v1/refunds"); r.idempotencyKey != "pay_1/refund" || r.form.Get("payment_intent") != capID || r.form.Get("amount") != "345" {
		t.Errorf("refund request = %+v", r)
	}

	if err := p.Void(ctx, "pi_other", "pay_2/void"); err != nil {
		t.Fatalf("Void: %v", err)
	}
	if r, ok := proxy.find("POST", "/v1/payment_intents/pi_other/cancel"); !ok || r.idempotencyKey != "pay_2/void" {
		t.Errorf("cancel request = %+v", r)
	}
}

package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/webhook"
)

func TestProductionRefusesInsideAddresses(t *testing.T) {
	prod := Policy{}
	for _, raw := range []string{
		"http://example.com/hook",        // not https
		"https://10.1.2.3/hook",          // private
		"https://192.168.0.10/hook",      // private
		"https://172.16.5.5/hook",        // private
		"https://127.0.0.1:8443/hook",    // loopback
		"https://[::1]/hook",             // loopback
		"https://169.254.169.254/latest", // link-local: the metadata service
		"https://[fd00:ec2::254]/",       // AWS metadata over IPv6
		"https://100.100.100.200/",       // CGNAT: Alibaba's metadata
		"https://0.0.0.0/",               // unspecified
		"https://localhost/hook",         // loopback by name
		"https://user:pass@example.com/", // credentials
		"ftp://example.com/",             // not http
	} {
		if err := prod.CheckURL(raw); err == nil {
			t.Errorf("production accepted %s", raw)
		}
	}
	if err := prod.CheckURL("https://hooks.example.com/payportal"); err != nil {
		t.Errorf("production refused a public https URL: %v", err)
	}
	dev := Policy{AllowLoopback: true}
	if err := dev.CheckURL("http://127.0.0.1:9000/hook"); err != nil {
		t.Errorf("development refused loopback: %v", err)
	}
	if err := dev.CheckURL("http://169.254.169.254/"); err == nil {
		t.Error("development accepted the metadata address")
	}
	if !prod.allowed(netip.MustParseAddr("93.184.215.14")) {
		t.Error("a public address is refused")
	}
}

// The check runs on the address dialled, after resolution: a name that resolves to
// loopback gets no connection in production, though the name itself looks harmless.
func TestProductionDialsNoLoopbackAfterResolution(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)

	_, err := NewSender(Policy{}).client.Post(url, "application/json", strings.NewReader("{}"))
	if !errors.Is(err, ErrRefusedAddress) {
		t.Fatalf("production dial of %s: %v, want refused", url, err)
	}
	if hits != 0 {
		t.Fatalf("the receiver was reached %d times", hits)
	}
	got := NewSender(Policy{}).Post(context.Background(), srv.URL, "evt_1", "whsec_x", []byte("{}"), time.Now())
	if got.Err == nil || got.StatusCode != 0 || hits != 0 {
		t.Fatalf("production post to loopback: %+v, %d hits", got, hits)
	}
}

func TestPostSignsTheBody(t *testing.T) {
	var header, id string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header, id = r.Header.Get(webhook.SignatureHeader), r.Header.Get(webhook.EventIDHeader)
		body = make([]byte, r.ContentLength)
		_, _ = r.Body.Read(body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	got := NewSender(Policy{AllowLoopback: true}).Post(context.Background(), srv.URL, "evt_1", "whsec_x", []byte(`{"a":1}`), time.Now())
	if got.Err != nil || got.StatusCode != http.StatusNoContent {
		t.Fatalf("post: %+v", got)
	}
	if id != "evt_1" || webhook.Verify("whsec_x", header, body, time.Minute) != nil {
		t.Fatalf("event id %q, signature %q over %q does not verify", id, header, body)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/testenv"
)

type readyzBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Error  *struct{ Code string }
}

func getReadyz(t *testing.T, base string) (int, readyzBody) {
	t.Helper()
	resp, raw := testenv.Do(t, base, testenv.Request{Path: "/readyz"})
	var body readyzBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("/readyz answered %d %s: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, body
}

// TestOpsRoutesAreOnTheOpsListenerOnly: /metrics, /healthz, /readyz and the codec server are
// served by OpsHandler; the public router answers 404 for them, and the HTTP metrics of
// public requests show on the ops listener's /metrics.
func TestOpsRoutesAreOnTheOpsListenerOnly(t *testing.T) {
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, readNow); err != nil {
		t.Fatal(err)
	}
	codecCalled := false
	srv := &api.Server{
		Auth:     db,
		Billing:  &portal.Billing{DB: db, Clock: &billing.FixedClock{T: readNow}},
		Registry: prometheus.NewRegistry(),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Ready: []api.HealthCheck{
			{Name: "postgres", Check: db.Ping},
			{Name: "temporal", Optional: true, Check: func(context.Context) error { return nil }},
		},
		Codec: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			codecCalled = r.URL.Path == "/codec/decode"
			w.WriteHeader(http.StatusTeapot)
		}),
	}
	public := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(public.Close)
	ops := httptest.NewServer(srv.OpsHandler())
	t.Cleanup(ops.Close)

	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/codec/decode"} {
		resp, raw := testenv.Do(t, public.URL, testenv.Request{Path: path})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public GET %s: %d %s, want 404", path, resp.StatusCode, raw)
		}
	}
	resp, raw := testenv.Do(t, public.URL, testenv.Request{Path: "/v1/accounts/" + devdata.DemoAccountID + "/billing-summary", Key: devdata.DemoCustomerKey})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("billing summary: %d %s", resp.StatusCode, raw)
	}

	if resp, raw := testenv.Do(t, ops.URL, testenv.Request{Path: "/healthz"}); resp.StatusCode != http.StatusOK {
		t.Errorf("ops /healthz: %d %s", resp.StatusCode, raw)
	}
	status, body := getReadyz(t, ops.URL)
	if status != http.StatusOK || body.Status != "ready" || body.Checks["postgres"] != "ok" || body.Checks["temporal"] != "ok" {
		t.Errorf("ops /readyz: %d %+v", status, body)
	}
	resp, raw = testenv.Do(t, ops.URL, testenv.Request{Path: "/metrics"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `payportal_http_requests_total{method="GET",route="/v1/accounts/:account_id/billing-summary",status="200"} 1`) {
		t.Errorf("ops /metrics: %d, without the public request:\n%s", resp.StatusCode, raw)
	}
	resp, _ = testenv.Do(t, ops.URL, testenv.Request{Method: http.MethodPost, Path: "/codec/decode", Body: `{"payloads":[]}`})
	if resp.StatusCode != http.StatusTeapot || !codecCalled {
		t.Errorf("ops /codec/decode did not reach the codec server: %d", resp.StatusCode)
	}
	if resp, _ := testenv.Do(t, ops.URL, testenv.Request{Path: "/v1/accounts/" + devdata.DemoAccountID + "/billing-summary", Key: devdata.DemoCustomerKey}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the ops listener serves the API: %d", resp.StatusCode)
	}
}

// TestReadyzStaysReadyWithoutTemporal: Temporal (optional) down leaves the process ready and
// says so; Postgres (required) down makes it unready. A check that hangs (an unreachable
// Temporal) costs its own deadline, not the other checks'.
func TestReadyzStaysReadyWithoutTemporal(t *testing.T) {
	ok := func(context.Context) error { return nil }
	hang := func(ctx context.Context) error {
		<-ctx.Done()
		return errors.New("temporal health: " + ctx.Err().Error())
	}
	refused := func(context.Context) error { return errors.New("dial tcp 127.0.0.1:5432: connection refused") }
	serve := func(pg, temporal func(context.Context) error) string {
		srv := &api.Server{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: []api.HealthCheck{
			{Name: "postgres", Check: pg},
			{Name: "temporal", Optional: true, Check: temporal},
		}}
		ts := httptest.NewServer(srv.OpsHandler())
		t.Cleanup(ts.Close)
		return ts.URL
	}

	start := time.Now()
	status, body := getReadyz(t, serve(ok, hang))
	if status != http.StatusOK || body.Status != "ready" || body.Checks["postgres"] != "ok" ||
		!strings.HasPrefix(body.Checks["temporal"], "unavailable: temporal health: context deadline exceeded") {
		t.Errorf("Temporal down: %d %+v; want 200, ready, temporal unavailable", status, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("/readyz took %s with Temporal hanging", d)
	}

	status, body = getReadyz(t, serve(refused, ok))
	if status != http.StatusServiceUnavailable || body.Status != "unavailable" || body.Error == nil || body.Error.Code != billing.CodeUnavailable ||
		!strings.Contains(body.Checks["postgres"], "unavailable: dial tcp") || body.Checks["temporal"] != "ok" {
		t.Errorf("Postgres down: %d %+v; want 503 naming postgres", status, body)
	}
}

package loadgen_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/loadgen"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestLoadgenAgainstPayPortal runs the tool for two seconds (two rounds, interleaved with the
// ceilings) with two customers doing everything, against PayPortal in process (the real router over HTTP and the worker, on a
// fresh database and the test Temporal server), ceilings included. It asserts what the tool
// reports, never how fast: successes, no error, and books that agree.
func TestLoadgenAgainstPayPortal(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a whole system for several seconds")
	}
	db, dbURL := testenv.Database(t)
	tc := testenv.TemporalClient(t)
	taskQueue := "loadgen-test-" + strings.ReplaceAll(t.Name(), "/", "-")

	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cfg := config.Config{
		Env:                   config.EnvDevelopment,
		DatabaseURL:           dbURL,
		TemporalAddress:       testenv.TemporalAddress(t),
		TemporalNamespace:     "default",
		TaskQueue:             taskQueue,
		PublicURL:             srv.URL,
		CardValidationTimeout: time.Hour,
		PayPalApprovalTimeout: time.Hour,
		CardProcessor:         "sandbox",
		PayPalMode:            "sandbox",
		RateLimitPerSecond:    1e6,
		RateLimitBurst:        1_000_000,
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(cfg, quiet, db, tc)
	if err != nil {
		t.Fatalf("build app: %v", err)
	}
	handler = a.APIServer().Handler()
	w := worker.New(tc, a.WorkerConfig())
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)

	o := loadgen.Options{
		Base: srv.URL, Database: dbURL, Temporal: cfg.TemporalAddress, Namespace: "default",
		Customers: 2, Accounts: 2, Duration: 2 * time.Second, Rounds: 2, Warmup: 200 * time.Millisecond,
		Mix: []loadgen.Kind{loadgen.KindCard, loadgen.KindPayPal, loadgen.KindAddCard,
			loadgen.KindSummary, loadgen.KindInvoices, loadgen.KindPDF},
		Ceilings: true, CeilingActivities: loadgen.CardSagaActivities, CeilingLocal: true,
		Poll: 20 * time.Millisecond, Timeout: 30 * time.Second, Histories: 3, Invoices: 30,
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := loadgen.Run(ctx, cfg, o, quiet, &out)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	if res.Failed() {
		t.Errorf("the run failed (errors or books); see the report")
	}
	succeeded := 0
	for _, s := range res.Stats {
		succeeded += s.Count
		if s.ErrorCount() != 0 {
			t.Errorf("%s: %d errors: %v", s.Kind, s.ErrorCount(), s.ErrorDetail)
		}
	}
	if succeeded == 0 {
		t.Error("no operation succeeded in the measured window")
	}
	if len(res.Ceilings) != 3 {
		t.Fatalf("%d ceilings, want the two workflows and the bare page", len(res.Ceilings))
	}
	for _, c := range res.Ceilings {
		if c.Count == 0 || c.ErrorCount() != 0 {
			t.Errorf("ceiling %s: %d done, errors %v", c.Kind, c.Count, c.ErrorDetail)
		}
	}
	b := res.Books
	if !b.OK() || b.PaymentsSeen == 0 || b.SucceededSeen != b.LedgerEntries || b.InFlightInDB != 0 {
		t.Errorf("books: %+v", b)
	}
	if !strings.Contains(out.String(), "nothing lost, nothing doubled") {
		t.Error("the report does not say the books agree")
	}
	if len(res.Comparisons) == 0 || len(res.Histories) == 0 {
		t.Errorf("comparisons %d, history columns %d: want both", len(res.Comparisons), len(res.Histories))
	}
}

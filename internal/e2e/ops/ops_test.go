// Package ops_test runs the real `payportal api` binary for what only a process shows: its
// two listeners, /readyz with Temporal stopped, `payportal healthcheck`, and the drain of
// in-flight requests on SIGTERM.
package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestAPIDrainsInFlightRequestsOnSIGTERM: SIGTERM during a slow request (the first PDF of a
// 1000-item invoice, held at its database read by a lock the test releases) closes the
// listener to new connections, lets the request finish with its whole PDF, then exits 0.
func TestAPIDrainsInFlightRequestsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payportal binary")
	}
	db, dbURL := seededDatabase(t)
	inv := bigInvoice(t, db, 1000)
	api := startAPI(t, dbURL, testenv.TemporalAddress(t))
	ctx := context.Background()

	lock, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(ctx) }()
	if _, err := lock.Exec(ctx, `LOCK TABLE invoice_pdfs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   []byte
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, api.public+"/v1/accounts/"+devdata.DemoAccountID+"/invoices/"+inv.ID+"/pdf", nil)
		req.Header.Set("Authorization", "Bearer "+devdata.DemoCustomerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{resp.StatusCode, body, err}
	}()
	waitForLockWait(t, db, "invoice_pdfs", func() string {
		select {
		case a := <-answered:
			return fmt.Sprintf("the request ended first: %d %v %.200s\n%s", a.status, a.err, a.body, api.log())
		default:
			return ""
		}
	})

	if err := api.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	select {
	case err := <-api.exited:
		t.Fatalf("payportal api exited (%v) with a request in flight:\n%s", err, api.log())
	case a := <-answered:
		t.Fatalf("the in-flight request ended before its database read could go on: %d %v", a.status, a.err)
	default:
	}
	if _, err := http.Get(api.public + "/openapi.json"); err == nil {
		t.Error("the API still accepts new requests after SIGTERM")
	}

	if err := lock.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answered:
		if a.err != nil || a.status != http.StatusOK || !bytes.HasPrefix(a.body, []byte("%PDF")) || len(a.body) < 20_000 {
			t.Errorf("the in-flight PDF request: %d, %d bytes, %v; want 200 with the whole PDF", a.status, len(a.body), a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight request did not finish within 30 s")
	}
	select {
	case err := <-api.exited:
		if err != nil {
			t.Errorf("payportal api exited with %v after draining:\n%s", err, api.log())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("payportal api did not exit after draining")
	}
}

// TestReadyzWithTemporalStopped: with Temporal gone, /readyz on the ops listener stays 200 and
// names Temporal unavailable, reads still work, `payportal healthcheck` passes; the public
// listener has no ops routes. Nothing listening makes the health check fail.
func TestReadyzWithTemporalStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payportal binary and a Temporal dev server")
	}
	_, dbURL := seededDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := devserver.FindCLI(ctx, "")
	if err != nil {
		testenv.Unavailable(t, "temporal CLI: %v", err)
	}
	// A dev server of this test's own, to stop.
	temporal, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: cli, LogLevel: "error",
		Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		testenv.Unavailable(t, "temporal dev server: %v", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = temporal.Stop()
		}
	}()
	api := startAPI(t, dbURL, temporal.FrontendHostPort())

	status, body := readyz(t, api.ops)
	if status != http.StatusOK || body.Checks["temporal"] != "ok" || body.Checks["postgres"] != "ok" {
		t.Fatalf("/readyz with Temporal up: %d %+v", status, body)
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, raw := testenv.Do(t, api.public, testenv.Request{Path: path})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("public %s: %d %s, want 404", path, resp.StatusCode, raw)
		}
	}

	if err := temporal.Stop(); err != nil {
		t.Fatalf("stop temporal: %v", err)
	}
	stopped = true
	status, body = readyz(t, api.ops)
	if status != http.StatusOK || body.Status != "ready" || body.Checks["postgres"] != "ok" ||
		!strings.HasPrefix(body.Checks["temporal"], "unavailable: ") {
		t.Errorf("/readyz with Temporal stopped: %d %+v; want 200, ready, temporal unavailable", status, body)
	}
	t.Logf("/readyz with Temporal stopped: %+v", body)
	resp, raw := testenv.Do(t, api.public, testenv.Request{Path: "/v1/accounts/" + devdata.DemoAccountID + "/billing-summary", Key: devdata.DemoCustomerKey})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a read with Temporal stopped: %d %s", resp.StatusCode, raw)
	}
	resp, raw = testenv.Do(t, api.ops, testenv.Request{Path: "/metrics"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "payportal_http_requests_total") {
		t.Errorf("ops /metrics: %d, no HTTP metrics", resp.StatusCode)
	}
	if out, err := healthcheck(t, api.opsAddr); err != nil || !strings.Contains(out, `"temporal":"unavailable`) {
		t.Errorf("payportal healthcheck with Temporal stopped: %v\n%s", err, out)
	}

	if err := api.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-api.exited:
		if err != nil {
			t.Errorf("payportal api exited with %v:\n%s", err, api.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("payportal api did not stop")
	}
	if out, err := healthcheck(t, api.opsAddr); err == nil {
		t.Errorf("payportal healthcheck passed with nothing listening:\n%s", out)
	} else if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 {
		t.Errorf("payportal healthcheck with nothing listening: %v, want exit 1", err)
	}
}

// --- helpers ---------------------------------------------------------------------------------

func seededDatabase(t *testing.T) (*postgres.DB, string) {
	t.Helper()
	db, dbURL := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, time.Now().UTC()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return db, dbURL
}

// bigInvoice issues an open invoice of n items to the demo account.
func bigInvoice(t *testing.T, db *postgres.DB, n int) billing.Invoice {
	t.Helper()
	inv := billing.Invoice{AccountID: devdata.DemoAccountID, Type: billing.InvoiceOneTime, Status: billing.InvoiceOpen,
		Currency: "USD", CreatedAt: time.Now().UTC()}
	for i := range n {
		inv.Items = append(inv.Items, billing.InvoiceItem{Description: fmt.Sprintf("Object storage, bucket %d", i),
			Category: "storage", Quantity: 10, UnitAmount: 25, Amount: 250})
		inv.Subtotal += 250
	}
	inv.Total = inv.Subtotal
	inv, _, err := db.CreateInvoice(context.Background(), inv)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// waitForLockWait waits until a statement of the test database waits for a lock on table;
// ended says why the wait can stop early (the request is already answered).
func waitForLockWait(t *testing.T, db *postgres.DB, table string, ended func() string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		err := db.Pool.QueryRow(context.Background(), `SELECT count(*)::int FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%'||$1||'%'`, table).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if why := ended(); why != "" {
			t.Fatalf("no statement waited on %s: %s", table, why)
		}
		if time.Now().After(deadline) {
			var sessions []string
			rows, _ := db.Pool.Query(context.Background(), `SELECT coalesce(state,'')||' '||coalesce(wait_event_type,'')||' '||left(query, 80)
				FROM pg_stat_activity WHERE datname = current_database()`)
			for rows != nil && rows.Next() {
				var s string
				_ = rows.Scan(&s)
				sessions = append(sessions, s)
			}
			t.Fatalf("no statement waits on %s; sessions of the database:\n%s", table, strings.Join(sessions, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type apiProcess struct {
	cmd     *exec.Cmd
	exited  chan error
	public  string
	ops     string
	opsAddr string
	logPath string
}

func (a *apiProcess) log() string {
	raw, _ := os.ReadFile(a.logPath)
	return string(raw)
}

// startAPI runs `payportal api` on free ports and waits until its ops listener answers.
func startAPI(t *testing.T, dbURL, temporalAddr string) *apiProcess {
	t.Helper()
	bin := testenv.Payportal(t)
	publicAddr, opsAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	a := &apiProcess{exited: make(chan error, 1), public: "http://" + publicAddr, ops: "http://" + opsAddr, opsAddr: opsAddr,
		logPath: filepath.Join(t.TempDir(), "api.log")}
	logFile, err := os.Create(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, "api")
	a.cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE=default",
		"PAYPORTAL_HTTP_ADDR="+publicAddr,
		"PAYPORTAL_OPS_ADDR="+opsAddr,
		"PAYPORTAL_ENV=development",
		"PAYPORTAL_PAYLOAD_KEYS=",
		"PAYPORTAL_CARD_PROCESSOR=sandbox",
		"PAYPORTAL_PAYPAL=sandbox",
		"PAYPORTAL_SMTP_ADDR=",
	)
	a.cmd.Stdout, a.cmd.Stderr = logFile, logFile
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start payportal api: %v", err)
	}
	go func() { a.exited <- a.cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		if a.cmd.ProcessState == nil {
			_ = a.cmd.Process.Kill()
			<-a.exited //nolint:errcheck // killed on purpose: how it exited says nothing
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		// Both listeners: the ops one opens a moment before the public one.
		if resp, err := http.Get(a.ops + "/healthz"); err == nil {
			resp.Body.Close()
			if conn, err := net.Dial("tcp", publicAddr); resp.StatusCode == http.StatusOK && err == nil {
				conn.Close()
				return a
			}
		}
		select {
		case err := <-a.exited:
			t.Fatalf("payportal api exited at start (%v):\n%s", err, a.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("payportal api's listeners did not answer:\n%s", a.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type readyzBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyz(t *testing.T, base string) (int, readyzBody) {
	t.Helper()
	resp, raw := testenv.Do(t, base, testenv.Request{Path: "/readyz"})
	var b readyzBody
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("/readyz answered %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, b
}

// healthcheck runs `payportal healthcheck` against the ops listener at addr.
func healthcheck(t *testing.T, addr string) (string, error) {
	t.Helper()
	cmd := exec.Command(testenv.Payportal(t), "healthcheck")
	cmd.Env = append(os.Environ(), "PAYPORTAL_OPS_ADDR="+addr, "PAYPORTAL_PAYLOAD_KEYS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

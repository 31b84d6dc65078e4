// Package drill_test is the multi-replica drill: two `payportal api` and three `payportal
// worker` processes, reaching a Temporal dev server of their own through a TLS-terminating
// proxy that requires a client certificate, behind a round-robin load balancer; customers pay
// by card and PayPal and add cards while one worker and one API are killed and restarted.
// Afterwards nothing is lost or doubled, every payment is final, every account has its one
// billing schedule, and the start-up sync ran once.
package drill_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/loadgen"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestMultiReplicaDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five PayPortal processes, a Temporal dev server and a load")
	}
	bin := testenv.Payportal(t)
	db, dbURL := testenv.Database(t)
	temporalAddr := startTemporal(t)

	// The cluster's TLS: PayPortal presents a client certificate of the cluster's CA.
	ca := testenv.NewCA(t, "drill cluster CA")
	proxy := testenv.StartTLSProxy(t, ca, temporalAddr, testenv.TLSProxyOptions{ClientCAs: ca.Pool()})
	dir := t.TempDir()
	cert, key := ca.Issue(t, "payportal", false)
	for name, body := range map[string][]byte{"client.pem": cert, "client.key": key, "ca.pem": ca.PEM} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	lb := &balancer{}
	front := startBalancer(t, lb)
	env := []string{
		"PAYPORTAL_ENV=development", "DATABASE_URL=" + dbURL, "PAYPORTAL_TASK_QUEUE=drill",
		"TEMPORAL_ADDRESS=" + proxy, "TEMPORAL_NAMESPACE=default",
		"TEMPORAL_TLS_CLIENT_CERT_PATH=" + filepath.Join(dir, "client.pem"),
		"TEMPORAL_TLS_CLIENT_KEY_PATH=" + filepath.Join(dir, "client.key"),
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH=" + filepath.Join(dir, "ca.pem"),
		"TEMPORAL_TLS_SERVER_NAME=localhost",
		"PAYPORTAL_PUBLIC_URL=" + front, "PAYPORTAL_SMTP_ADDR=", "PAYPORTAL_CARD_PROCESSOR=sandbox", "PAYPORTAL_PAYPAL=sandbox",
		"PAYPORTAL_RATE_LIMIT_RPS=100000", "PAYPORTAL_RATE_LIMIT_BURST=100000", "PAYPORTAL_LOG_LEVEL=info",
	}
	var procs []*process
	for i := range 3 {
		procs = append(procs, start(t, bin, dir, fmt.Sprintf("worker-%d", i+1), "worker", env, ""))
	}
	var apis []*process
	for i := range 2 {
		addr := testenv.FreeAddr(t)
		p := start(t, bin, dir, fmt.Sprintf("api-%d", i+1), "api", env, addr)
		apis = append(apis, p)
		lb.add("http://" + addr)
	}
	procs = append(procs, apis...)
	for _, p := range procs {
		p.waitReady(t)
	}

	// The faults, while the customers work: a worker and an API die without warning, and come
	// back a few seconds later.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	faults := make(chan error, 1)
	go func() {
		time.Sleep(4 * time.Second)
		procs[0].kill(t)
		apis[0].kill(t)
		time.Sleep(3 * time.Second)
		procs[0].restart(t)
		apis[0].restart(t)
		procs[0].waitReady(t)
		apis[0].waitReady(t)
		faults <- nil
	}()

	o := loadgen.Options{
		Base: front, Database: dbURL, Temporal: temporalAddr, Namespace: "default",
		Customers: 4, Accounts: 4, Duration: 14 * time.Second, Rounds: 1, Warmup: 500 * time.Millisecond,
		Mix:  []loadgen.Kind{loadgen.KindCard, loadgen.KindPayPal, loadgen.KindAddCard},
		Poll: 50 * time.Millisecond, Timeout: time.Minute, Invoices: 3,
	}
	var out bytes.Buffer
	res, err := loadgen.Run(ctx, config.Config{Env: config.EnvDevelopment}, o, slog.New(slog.DiscardHandler), &out)
	t.Logf("load report:\n%s", out.String())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := <-faults; err != nil {
		t.Fatal(err)
	}

	done := 0
	for _, s := range res.Stats {
		done += s.Count
		// A request without an Idempotency-Key in flight in the API that died is lost to its
		// client (the balancer answers 502); nothing else may fail.
		for label, n := range s.Errors {
			if !strings.Contains(label, "502") {
				t.Errorf("%s: %d × %s: %s", s.Kind, n, label, s.ErrorDetail[label])
			}
		}
	}
	if done == 0 {
		t.Fatal("no operation succeeded")
	}
	b := res.Books
	if !b.OK() || b.PaymentsSeen == 0 || b.SucceededSeen != b.LedgerEntries {
		t.Errorf("books after the drill: %+v", b)
	}
	waitFor(t, "every payment final", func() bool {
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments
			WHERE status NOT IN ('succeeded', 'failed', 'canceled', 'expired')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})

	// The start-up sync ran once for three workers and a restart (all within a minute); the
	// run's accounts were created after it, so the next pass (every 10 minutes; triggered here
	// as ops would from the UI) gives each its one billing schedule.
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: temporalAddr, Namespace: "default", Codec: testenv.PayloadCodec()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	syncs := func() int {
		runs, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default",
			Query: "WorkflowType = '" + workflows.TypeSyncBillingSchedules + "'"})
		if err != nil {
			t.Fatal(err)
		}
		return len(runs.Executions)
	}
	if n := syncs(); n != 1 {
		t.Errorf("%d start-up syncs for three workers and a restart, want 1", n)
	}
	if err := c.ScheduleClient().GetHandle(ctx, workflows.SyncSchedulesScheduleID).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, acct := range res.Accounts {
		id := workflows.RecurringBillingScheduleID(acct)
		waitFor(t, "the billing schedule of "+acct, func() bool {
			_, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
			return err == nil
		})
	}
	schedules, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perAccount := map[string]int{}
	for schedules.HasNext() {
		entry, err := schedules.Next()
		if err != nil {
			t.Fatal(err)
		}
		for _, acct := range res.Accounts {
			if strings.Contains(entry.ID, acct) {
				perAccount[acct]++
			}
		}
	}
	for _, acct := range res.Accounts {
		if perAccount[acct] != 1 {
			t.Errorf("account %s has %d billing schedules, want 1", acct, perAccount[acct])
		}
	}
}

// startTemporal runs a dev server of the drill's own: the schedules it checks are per
// namespace, and other tests' workers would share the default one of a shared server.
func startTemporal(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli, err := devserver.FindCLI(ctx, "")
	if err != nil {
		testenv.Unavailable(t, "temporal CLI: %v", err)
	}
	addr := testenv.FreeAddr(t)
	_, uiPort, _ := net.SplitHostPort(testenv.FreeAddr(t))
	var port int
	_, _ = fmt.Sscan(uiPort, &port)
	srv, err := devserver.Start(ctx, devserver.Options{CLI: cli, Address: addr, UIPort: port, Namespace: "default",
		StateDir: t.TempDir(), SearchAttributes: workflows.SearchAttributeTypes})
	if err != nil {
		testenv.Unavailable(t, "temporal dev server: %v", err)
	}
	t.Cleanup(srv.Stop)
	return addr
}

// process is one PayPortal process the drill can kill and start again.
type process struct {
	name, role, opsAddr, httpAddr string
	bin, logDir                   string
	env                           []string
	cmd                           *exec.Cmd
	exited                        chan struct{} // closed when cmd has exited
}

func start(t *testing.T, bin, logDir, name, role string, env []string, httpAddr string) *process {
	t.Helper()
	p := &process{name: name, role: role, opsAddr: testenv.FreeAddr(t), httpAddr: httpAddr, bin: bin, logDir: logDir, env: env}
	p.restart(t)
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			_ = p.cmd.Process.Kill()
		}
	})
	return p
}

func (p *process) restart(t *testing.T) {
	log, err := os.OpenFile(filepath.Join(p.logDir, p.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Error(err)
		return
	}
	cmd := exec.Command(p.bin, p.role)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Env = append(cmd.Env, "PAYPORTAL_OPS_ADDR="+p.opsAddr)
	if p.httpAddr != "" {
		cmd.Env = append(cmd.Env, "PAYPORTAL_HTTP_ADDR="+p.httpAddr)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Errorf("start %s: %v", p.name, err)
		return
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	exited := p.exited
	go func() { _ = cmd.Wait(); _ = log.Close(); close(exited) }()
}

func (p *process) kill(t *testing.T) {
	if err := p.cmd.Process.Kill(); err != nil {
		t.Errorf("kill %s: %v", p.name, err)
	}
	<-p.exited
}

// waitReady waits for the process's /readyz.
func (p *process) waitReady(t *testing.T) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.opsAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	raw, _ := os.ReadFile(filepath.Join(p.logDir, p.name+".log"))
	t.Errorf("%s not ready within 60 s:\n%s", p.name, raw)
}

// balancer is the load balancer in front of the APIs: round robin, and a backend that refuses
// the connection is skipped for the next one, as a balancer's passive health check does. A
// request whose backend dies while it is in flight gets 502.
type balancer struct {
	backends []string
	next     atomic.Uint64
}

func (b *balancer) add(u string) { b.backends = append(b.backends, u) }

func startBalancer(t *testing.T, b *balancer) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		start := b.next.Add(1)
		var lastErr error
		for i := range len(b.backends) {
			backend := b.backends[(int(start)+i)%len(b.backends)]
			req, _ := http.NewRequestWithContext(r.Context(), r.Method, backend+r.URL.RequestURI(), bytes.NewReader(body)) //nolint:gosec // the test's balancer forwards to its own APIs only
			req.Header = r.Header.Clone()
			resp, err := transport.RoundTrip(req)
			if err != nil {
				lastErr = err
				if isRefused(err) {
					continue
				}
				break
			}
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			_ = resp.Body.Close()
			return
		}
		http.Error(w, fmt.Sprintf("bad gateway: %v", lastErr), http.StatusBadGateway)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func isRefused(err error) bool { return strings.Contains(err.Error(), "connection refused") }

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 90 s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

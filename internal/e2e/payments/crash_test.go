package payments_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/testenv"
)

// TestWorkerKilledMidPaymentCompletesOnce runs the worker as its own `payportal worker`
// process, kills it with SIGKILL while the sandbox's flaky card (4000000000000119: a
// processing error on the first two attempts) is between retries, and starts another one.
// The payment must finish with exactly one ledger entry, one authorization and one capture.
func TestWorkerKilledMidPaymentCompletesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payportal binary")
	}
	bin := testenv.Payportal(t)
	p := startPortal(t, portalOptions{noWorker: true})
	temporalAddr := testenv.TemporalAddress(t)
	before := p.balance()

	// A receiver for the payment's events, which the worker processes' dispatcher sends.
	hooks := newReceiver(t)
	we := p.registerEndpoint(hooks, "payment.succeeded", "payment.failed")

	logDir := t.TempDir()
	first := startWorkerProcess(t, bin, p, temporalAddr, filepath.Join(logDir, "worker-1.log"))
	// The POST waits up to 3 s for the saga's answer, longer than the worker lives here: it
	// runs beside the kill, and answers processing once its wait runs out.
	type answer struct {
		status int
		raw    []byte
	}
	posted := make(chan answer, 1)
	go func() {
		status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), cardPayment(1500, "4000000000000119", "937"))
		posted <- answer{status, raw}
	}()

	deadline := time.Now().Add(60 * time.Second)
	for p.count(`SELECT coalesce(max(attempts), 0) FROM sandbox_charge_attempts WHERE idempotency_key LIKE '%/authorize'`) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the worker never tried to authorize the payment")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL: no shutdown, no goodbye
		t.Fatal(err)
	}
	_ = first.Wait()
	a := <-posted
	if a.status != http.StatusAccepted {
		t.Fatalf("POST payment answered %d %s, want 202", a.status, a.raw)
	}
	pay := decode[payment](t, a.raw)
	authorizeKey := pay.ID + "/authorize"
	attemptsAtKill := p.count(`SELECT attempts FROM sandbox_charge_attempts WHERE idempotency_key = $1`, authorizeKey)
	t.Logf("worker killed after %d authorize attempt(s)", attemptsAtKill)
	if attemptsAtKill >= 3 {
		t.Fatalf("the worker was killed after %d attempts, too late to interrupt the retries", attemptsAtKill)
	}
	if got := p.payment(pay.ID); got.Status != "processing" {
		t.Fatalf("with the worker dead the payment is %s, want processing", got.Status)
	}

	startWorkerProcess(t, bin, p, temporalAddr, filepath.Join(logDir, "worker-2.log"))
	got := p.awaitFinal(pay.ID, 120*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("payment ended %+v, want succeeded", got)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-1500)
	}
	if n := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, pay.ID); n != 1 {
		t.Errorf("%d ledger entries for the payment, want 1", n)
	}
	if n := p.count(`SELECT count(*) FROM sandbox_authorizations`); n != 1 {
		t.Errorf("%d authorizations at the processor, want 1", n)
	}
	if n := p.count(`SELECT count(*) FROM sandbox_captures`); n != 1 {
		t.Errorf("%d captures at the processor, want 1", n)
	}
	if n := p.count(`SELECT attempts FROM sandbox_charge_attempts WHERE idempotency_key = $1`, authorizeKey); n < 3 {
		t.Errorf("%d authorize attempts, want at least 3 (two processing errors, then success)", n)
	}

	// The events tell what the books say, none missing: one payment.succeeded written with
	// the ledger entry, delivered with a valid signature despite the kill.
	if n := p.count(`SELECT count(*) FROM events WHERE object_id = $1`, pay.ID); n != 1 {
		t.Errorf("%d events of the payment, want 1", n)
	}
	var delivered []sentEvent
	p.eventually("the payment's event at the receiver", 60*time.Second, func() bool {
		delivered = eventsOf(hooks.accepted(t, we.Secret), "payment.succeeded", pay.ID)
		return len(delivered) > 0
	})
	if len(eventsOf(hooks.accepted(t, we.Secret), "payment.failed", pay.ID)) != 0 {
		t.Error("the receiver was told the payment failed")
	}
	for _, e := range delivered {
		if e.ID != delivered[0].ID || e.Data.Object.Status != "succeeded" {
			t.Errorf("delivered %+v, want %s succeeded every time", e, delivered[0].ID)
		}
	}

	scan := newSecretScan("4000000000000119", "937")
	all, texts := p.databaseText()
	scan.check(t, "the database", all)
	scan.check(t, "the database's text columns", texts)
	scan.check(t, "the API's logs", p.logs.String())
	for _, name := range []string{"worker-1.log", "worker-2.log"} {
		raw, err := os.ReadFile(filepath.Join(logDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), "worker polling") {
			t.Errorf("%s does not look like a worker's log:\n%s", name, raw)
		}
		scan.check(t, name, string(raw))
	}
	_, payloads := p.historyText(pay.WorkflowID)
	if !strings.Contains(payloads, pay.ID) {
		t.Fatal("the history's payloads were not decoded")
	}
	scan.check(t, "the Temporal history", payloads)
	p.checkBooksAgree() // the product's own invariants, as after every other fault
}

// startWorkerProcess runs `payportal worker` against the test's database and task queue,
// logging at debug level to logPath, which the test searches afterwards.
func startWorkerProcess(t *testing.T, bin string, p *portal, temporalAddr, logPath string) *exec.Cmd {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "worker")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+p.dbURL,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE=default",
		"PAYPORTAL_TASK_QUEUE="+p.taskQueue,
		"PAYPORTAL_PUBLIC_URL="+p.base,
		"PAYPORTAL_LOG_LEVEL=debug",
		"PAYPORTAL_SMTP_ADDR=",
		"PAYPORTAL_CARD_PROCESSOR=sandbox",
		"PAYPORTAL_PAYPAL=sandbox",
		"PAYPORTAL_ENV=development", // sandboxes, demo keys and the default secret: a worker refuses them otherwise
		// The ops listener on any free port: other tests and `make dev` may run beside it.
		"PAYPORTAL_OPS_ADDR=127.0.0.1:0",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start payportal worker: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		logFile.Close()
	})
	return cmd
}

package payments_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
)

// TestWorkerFinishesItsActivityOnSIGTERM: a `payportal worker` process told to stop (a
// deploy's SIGTERM) while it authorizes a card lets the authorization finish before it exits,
// instead of cancelling it half way; another worker then finishes the payment, which
// succeeds with one authorization, one capture and one ledger entry.
//
// The authorization is held mid-flight by a lock on the sandbox processor's attempts table,
// which its first statement writes: the activity is provably running when the signal
// arrives, and the test decides when it may go on.
func TestWorkerFinishesItsActivityOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the payportal binary")
	}
	bin := testenv.Payportal(t)
	p := startPortal(t, portalOptions{noWorker: true})
	before := p.balance()
	ctx := context.Background()

	lock, err := p.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(ctx) }()
	if _, err := lock.Exec(ctx, `LOCK TABLE sandbox_charge_attempts IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(t.TempDir(), "worker.log")
	first := startWorkerProcess(t, bin, p, testenv.TemporalAddress(t), logPath)
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	posted := make(chan payment, 1)
	go func() {
		status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), cardPayment(1500, "4242424242424242", "937"))
		if status != http.StatusAccepted {
			t.Errorf("POST payment answered %d %s", status, raw)
		}
		posted <- decode[payment](t, raw)
	}()

	p.eventually("the worker's authorization waits on the lock", 60*time.Second, func() bool {
		return p.count(`SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database()
			AND wait_event_type = 'Lock' AND query LIKE '%sandbox_charge_attempts%'`) > 0
	})
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		raw, _ := os.ReadFile(logPath)
		t.Fatalf("the worker exited (%v) with its authorization still running:\n%s", err, raw)
	case <-time.After(2 * time.Second):
	}
	if err := lock.Commit(ctx); err != nil { // the authorization goes on
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			raw, _ := os.ReadFile(logPath)
			t.Fatalf("the worker exited with %v after SIGTERM:\n%s", err, raw)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not exit within 30 s of its authorization finishing")
	}
	pay := <-posted
	authorizeKey := pay.ID + "/authorize"
	// The stopped worker finished the authorization: the processor holds it, tried once.
	if n := p.count(`SELECT count(*)::int FROM sandbox_authorizations WHERE idempotency_key = $1`, authorizeKey); n != 1 {
		t.Fatalf("after the worker stopped the processor holds %d authorizations of the payment, want 1: the activity was cut", n)
	}
	raw, _ := os.ReadFile(logPath)
	// The webhook dispatcher's stretch ends when the worker stops, and the SDK may still send
	// its last throttled heartbeat after that, on a context already canceled: nothing
	// was cut there. Any other canceled context is.
	var kept []string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, "RecordActivityHeartbeat with error") && strings.Contains(line, `"ActivityType":"DispatchEvents"`) {
			continue
		}
		kept = append(kept, line)
	}
	for _, bad := range []string{"graceful stop timed out", "context canceled"} {
		if strings.Contains(strings.ToLower(strings.Join(kept, "\n")), bad) {
			t.Errorf("the worker's log says %q:\n%s", bad, raw)
		}
	}

	w := worker.New(p.temporal, p.app.WorkerConfig())
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if got := p.awaitFinal(pay.ID, 60*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %+v, want succeeded", got)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-1500)
	}
	if n := p.count(`SELECT attempts FROM sandbox_charge_attempts WHERE idempotency_key = $1`, authorizeKey); n != 1 {
		t.Errorf("%d authorize attempts, want 1", n)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_captures`); n != 1 {
		t.Errorf("%d captures, want 1", n)
	}
	if n := p.ledgerEntries(pay.ID); n != 1 {
		t.Errorf("%d ledger entries, want 1", n)
	}
}

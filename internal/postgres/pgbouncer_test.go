package postgres_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// TestBehindPgBouncerInTransactionMode: with the README's setting
// (default_query_exec_mode=cache_describe), the store's writes and reads work through a real
// PgBouncer in transaction mode whose two server connections serve eight client connections
// at once, so consecutive transactions of one client land on different server sessions; the
// books balance afterwards.
func TestBehindPgBouncerInTransactionMode(t *testing.T) {
	direct, directURL := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := openBehindPgBouncer(ctx, t, directURL)

	if _, err := devdata.Seed(ctx, db, paymentsNow); err != nil {
		t.Fatalf("seed through pgbouncer: %v", err)
	}
	const workers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				inv := billing.Invoice{AccountID: devdata.DemoAccountID, Type: billing.InvoiceOneTime, Status: billing.InvoiceOpen,
					Currency: "USD", CreatedAt: paymentsNow.Add(time.Duration(w*rounds+r) * time.Second),
					Items:    []billing.InvoiceItem{{Description: fmt.Sprintf("Bounced %d-%d", w, r), Category: "compute", Quantity: 1, UnitAmount: 100, Amount: 100}},
					Subtotal: 100, Total: 100}
				if _, _, err := db.CreateInvoice(ctx, inv); err != nil {
					errs <- fmt.Errorf("create invoice %d-%d: %w", w, r, err)
					continue
				}
				if _, err := db.SummaryFacts(ctx, devdata.DemoAccountID); err != nil {
					errs <- fmt.Errorf("summary %d-%d: %w", w, r, err)
				}
				if _, _, err := db.Invoices(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 25}); err != nil {
					errs <- fmt.Errorf("list %d-%d: %w", w, r, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	var bounced, mismatched int
	if err := direct.Pool.QueryRow(ctx, `SELECT count(*) FROM invoice_items WHERE description LIKE 'Bounced %'`).Scan(&bounced); err != nil {
		t.Fatal(err)
	}
	if bounced != workers*rounds {
		t.Errorf("%d invoices written through pgbouncer, want %d", bounced, workers*rounds)
	}
	if err := direct.Pool.QueryRow(ctx, `SELECT count(*) FROM account_balances b
		WHERE balance <> (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.account_id = b.account_id)`).Scan(&mismatched); err != nil {
		t.Fatal(err)
	}
	if mismatched != 0 {
		t.Errorf("%d accounts' kept balance differs from their ledger", mismatched)
	}
}

// TestTwoTripTransactionsBehindPgBouncer: the transactions of two round trips (BEGIN with the
// first batch, COMMIT with the last) work through PgBouncer in transaction mode, two server
// connections for eight clients: payments are created and applied, and the ones that fail in
// their last trip (a key reused, a statement refused) give their server connection back
// rolled back, so no client waits behind one and nothing of them is committed.
func TestTwoTripTransactionsBehindPgBouncer(t *testing.T) {
	direct, directURL := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := openBehindPgBouncer(ctx, t, directURL)
	if _, err := devdata.Seed(ctx, direct, paymentsNow); err != nil {
		t.Fatal(err)
	}
	twoTripsTable(t, direct)
	before, err := direct.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*3)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				key := fmt.Sprintf("bounced-%d-%d", w, r)
				p, _, err := db.CreatePayment(ctx, newTestPayment(1), key, []byte("h"))
				if err != nil {
					errs <- fmt.Errorf("create %s: %w", key, err)
					continue
				}
				if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute)); err != nil {
					errs <- fmt.Errorf("apply %s: %w", key, err)
				}
				_, _, err = db.CreatePayment(ctx, newTestPayment(1), key, []byte("other"))
				if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeIdempotencyKeyReused {
					errs <- fmt.Errorf("reuse %s: %v, want idempotency_key_reused", key, err)
				}
				id := w*rounds + r
				first := &pgx.Batch{}
				first.Queue(`INSERT INTO two_trips (id) VALUES ($1)`, id)
				err = db.InTwoTrips(ctx, first, func() (*pgx.Batch, error) {
					b := &pgx.Batch{}
					b.Queue(`INSERT INTO two_trips (id) VALUES ($1)`, id) // refused: a duplicate
					return b, nil
				})
				if !isUniqueViolation(err) {
					errs <- fmt.Errorf("refused last trip %s: %v, want a unique violation", key, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countRows(t, direct); n != 0 {
		t.Errorf("%d rows of refused transactions committed", n)
	}
	var succeeded, entries int
	if err := direct.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'succeeded'),
		(SELECT count(*) FROM ledger_entries WHERE kind = 'payment') FROM payments`).Scan(&succeeded, &entries); err != nil {
		t.Fatal(err)
	}
	if succeeded != workers*rounds || entries != workers*rounds {
		t.Errorf("%d payments succeeded, %d booked; want %d", succeeded, entries, workers*rounds)
	}
	after, err := direct.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if after != before-workers*rounds {
		t.Errorf("balance %d, want %d", after, before-workers*rounds)
	}
	noSessionInATransaction(t, direct)
}

// openBehindPgBouncer opens the database of directURL through a PgBouncer in transaction mode,
// with the README's setting (default_query_exec_mode=cache_describe) and eight connections.
func openBehindPgBouncer(ctx context.Context, t *testing.T, directURL string) *postgres.DB {
	t.Helper()
	bouncer := startPgBouncer(t, directURL)
	u, err := url.Parse(directURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = bouncer
	q := u.Query()
	q.Set("default_query_exec_mode", "cache_describe")
	q.Set("pool_max_conns", "8")
	u.RawQuery = q.Encode()
	db, err := postgres.Open(ctx, u.String())
	if err != nil {
		t.Fatalf("open through pgbouncer: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// startPgBouncer runs PgBouncer in transaction mode, two server connections per database, in
// front of the server of databaseURL, and returns its host:port.
func startPgBouncer(t *testing.T, databaseURL string) string {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/pgbouncer"); err != nil {
			testenv.Unavailable(t, "pgbouncer is not installed (Debian: apt-get install pgbouncer)")
		}
	}
	server, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()

	// PgBouncer refuses to run as root: it then runs as postgres, which must read its files.
	dir, err := os.MkdirTemp("", "pgbouncer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { //nolint:gosec // a temporary directory PgBouncer, as postgres, writes its log into
		t.Fatal(err)
	}
	user := server.User.Username()
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
logfile = %s
`, server.Hostname(), server.Port(), addr.Port, filepath.Join(dir, "users.txt"), filepath.Join(dir, "pgbouncer.log"))
	for name, body := range map[string]string{"pgbouncer.ini": ini, "users.txt": fmt.Sprintf("%q \"\"\n", user)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres"}, args...)
	}
	cmd := exec.Command(bin, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr.String()); err == nil {
			_ = c.Close()
			return addr.String()
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer did not listen on %s:\n%s\n%s", addr, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

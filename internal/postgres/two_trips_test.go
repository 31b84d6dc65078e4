package postgres_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// oneConnDB opens a second DB on the test database whose pool holds one connection, so the
// tests can tell that a failed transaction gave that same connection back, outside any
// transaction, rather than one the pool had to replace. It answers the DB and the connection's
// backend pid. counter, when not nil, counts the round trips the DB's callers ask for.
func oneConnDB(t *testing.T, databaseURL string, counter *roundTrips) (*postgres.DB, uint32) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	if counter != nil {
		cfg.ConnConfig.Tracer = counter
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &postgres.DB{Pool: pool}, testenv.IdleConnPID(t, pool)
}

// roundTrips counts what a DB sends to Postgres: each batch and each query outside one is a
// round trip (a statement new to the connection costs one more, once, to be described).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// twoTripsTable makes a table for the helper's tests: id unique at once, code unique at
// COMMIT.
func twoTripsTable(t *testing.T, db *postgres.DB) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `CREATE TABLE two_trips (id int PRIMARY KEY,
		code int UNIQUE DEFERRABLE INITIALLY DEFERRED)`); err != nil {
		t.Fatal(err)
	}
}

func insertRows(b *pgx.Batch, ids ...int) *pgx.Batch {
	for _, id := range ids {
		b.Queue(`INSERT INTO two_trips (id, code) VALUES ($1, $1)`, id)
	}
	return b
}

func countRows(t *testing.T, db *postgres.DB) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM two_trips`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoTripsCommitsOrLeavesNothing: the first batch is sent with BEGIN, the last with COMMIT,
// in two round trips. A failure anywhere (a statement of either batch, the callback, COMMIT
// itself, a cancelled context) leaves nothing committed, and the pool lends the same
// connection again, outside any transaction.
func TestTwoTripsCommitsOrLeavesNothing(t *testing.T) {
	direct, url := testenv.Database(t)
	twoTripsTable(t, direct)
	counter := &roundTrips{}
	db, pid := oneConnDB(t, url, counter)
	errRefused := errors.New("refused")
	cases := []struct {
		name       string
		first      *pgx.Batch
		last       func(cancel context.CancelFunc) (*pgx.Batch, error)
		ctxTimeout time.Duration
		wantErr    func(error) bool
		sameConn   bool // a cancelled context may cost the connection: the pool then replaces it
	}{
		{name: "a statement of the first batch fails", first: insertRows(&pgx.Batch{}, 1, 1),
			last: func(context.CancelFunc) (*pgx.Batch, error) {
				t.Error("last called after the first batch failed")
				return nil, nil
			}, wantErr: isUniqueViolation, sameConn: true},
		{name: "a statement of the last batch fails", first: insertRows(&pgx.Batch{}, 1),
			last:    func(context.CancelFunc) (*pgx.Batch, error) { return insertRows(&pgx.Batch{}, 2, 1, 3), nil },
			wantErr: isUniqueViolation, sameConn: true},
		{name: "the callback refuses", first: insertRows(&pgx.Batch{}, 1),
			last:    func(context.CancelFunc) (*pgx.Batch, error) { return nil, errRefused },
			wantErr: func(err error) bool { return errors.Is(err, errRefused) }, sameConn: true},
		{name: "COMMIT fails", first: insertRows(&pgx.Batch{}, 1),
			last: func(context.CancelFunc) (*pgx.Batch, error) {
				b := &pgx.Batch{}
				b.Queue(`INSERT INTO two_trips (id, code) VALUES (2, 1)`) // code checked at COMMIT
				return b, nil
			}, wantErr: isUniqueViolation, sameConn: true},
		{name: "the context ends while the last batch runs", first: insertRows(&pgx.Batch{}, 1), ctxTimeout: 300 * time.Millisecond,
			last: func(context.CancelFunc) (*pgx.Batch, error) {
				b := insertRows(&pgx.Batch{}, 2)
				b.Queue(`SELECT pg_sleep(5)`)
				return b, nil
			}, wantErr: func(err error) bool { return err != nil }},
		{name: "the context is cancelled before the last batch", first: insertRows(&pgx.Batch{}, 1), ctxTimeout: time.Minute,
			last: func(cancel context.CancelFunc) (*pgx.Batch, error) {
				cancel()
				return insertRows(&pgx.Batch{}, 2), nil
			}, wantErr: func(err error) bool { return errors.Is(err, context.Canceled) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.ctxTimeout > 0 {
				ctx, cancel = context.WithTimeout(ctx, c.ctxTimeout)
				defer cancel()
			}
			err := db.InTwoTrips(ctx, c.first, func() (*pgx.Batch, error) { return c.last(cancel) })
			if !c.wantErr(err) {
				t.Errorf("error %v", err)
			}
			if n := countRows(t, direct); n != 0 {
				t.Errorf("%d rows committed, want none", n)
			}
			if got := testenv.IdleConnPID(t, db.Pool); c.sameConn && got != pid {
				t.Errorf("the pool lends connection %d, want %d back", got, pid)
			}
			noSessionInATransaction(t, direct)
		})
	}

	t.Run("commits in two round trips", func(t *testing.T) {
		ctx := context.Background()
		pid := testenv.IdleConnPID(t, db.Pool) // the cancelled contexts may have cost the first
		counter.n.Store(0)
		var read int
		first := &pgx.Batch{}
		first.Queue(`SELECT 41`).QueryRow(func(row pgx.Row) error { return row.Scan(&read) })
		err := db.InTwoTrips(ctx, first, func() (*pgx.Batch, error) { return insertRows(&pgx.Batch{}, read+1), nil })
		if err != nil {
			t.Fatal(err)
		}
		if n := counter.n.Load(); n != 2 {
			t.Errorf("%d round trips, want 2", n)
		}
		var id int
		if err := direct.Pool.QueryRow(ctx, `SELECT id FROM two_trips`).Scan(&id); err != nil || id != 42 {
			t.Errorf("committed row %d (err %v), want 42", id, err)
		}
		if got := testenv.IdleConnPID(t, db.Pool); got != pid {
			t.Errorf("the pool lends connection %d, want %d back", got, pid)
		}
	})
}

// TestOneTripCommitsOrLeavesNothing: the batch is sent between BEGIN and COMMIT in one round
// trip. A statement that fails leaves nothing committed, and the pool lends the same
// connection again, outside any transaction.
func TestOneTripCommitsOrLeavesNothing(t *testing.T) {
	ctx := context.Background()
	direct, url := testenv.Database(t)
	twoTripsTable(t, direct)
	counter := &roundTrips{}
	db, pid := oneConnDB(t, url, counter)
	for _, b := range []*pgx.Batch{insertRows(&pgx.Batch{}, 1, 2, 1, 3), insertRows(&pgx.Batch{}, 1, 2)} {
		b.Queue(`INSERT INTO two_trips (id, code) VALUES (4, 1)`) // code checked at COMMIT
		if err := db.InOneTrip(ctx, b); !isUniqueViolation(err) {
			t.Errorf("error %v, want a unique violation", err)
		}
		if n := countRows(t, direct); n != 0 {
			t.Errorf("%d rows committed, want none", n)
		}
		if got := testenv.IdleConnPID(t, db.Pool); got != pid {
			t.Errorf("the pool lends connection %d, want %d back", got, pid)
		}
	}
	noSessionInATransaction(t, direct)

	counter.n.Store(0)
	if err := db.InOneTrip(ctx, insertRows(&pgx.Batch{}, 1, 2)); err != nil {
		t.Fatal(err)
	}
	if n := counter.n.Load(); n != 1 {
		t.Errorf("%d round trips, want 1", n)
	}
	if n := countRows(t, direct); n != 2 {
		t.Errorf("%d rows committed, want 2", n)
	}
	if got := testenv.IdleConnPID(t, db.Pool); got != pid {
		t.Errorf("the pool lends connection %d, want %d back", got, pid)
	}
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// A COMMIT that answers ROLLBACK (the transaction had failed) is an error. Postgres skips the
// rest of a failed pipeline, so inTwoTrips cannot reach it; the check stands in case.
func TestCommitAnsweringRollbackIsAnError(t *testing.T) {
	if err := postgres.Committed(pgconn.NewCommandTag("ROLLBACK")); !errors.Is(err, pgx.ErrTxCommitRollback) {
		t.Errorf("ROLLBACK: %v, want ErrTxCommitRollback", err)
	}
	if err := postgres.Committed(pgconn.NewCommandTag("COMMIT")); err != nil {
		t.Errorf("COMMIT: %v", err)
	}
}

// TestPaymentHotPathRoundTrips: creating a payment takes one round trip and applying it two,
// the replays too.
func TestPaymentHotPathRoundTrips(t *testing.T) {
	ctx := context.Background()
	direct, url := testenv.Database(t)
	if _, err := devdata.Seed(ctx, direct, paymentsNow); err != nil {
		t.Fatal(err)
	}
	counter := &roundTrips{}
	db, _ := oneConnDB(t, url, counter)
	p := newTestPayment(500)
	for i := range 2 {
		counter.n.Store(0)
		if _, _, err := db.CreatePayment(ctx, p, "trips", []byte("h")); err != nil {
			t.Fatal(err)
		}
		if n := counter.n.Load(); n != 1 {
			t.Errorf("create #%d: %d round trips, want 1", i+1, n)
		}
	}
	for i := range 2 {
		counter.n.Store(0)
		if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if n := counter.n.Load(); n != 2 {
			t.Errorf("apply #%d: %d round trips, want 2", i+1, n)
		}
	}
}

// TestCreatePaymentWithAKeyTakenByAnotherRoute: a key another route's request holds (it does
// not take the account lock, so it may insert between CreatePayment's read of the key and its
// insert) is idempotency_key_reused, and no payment is left.
func TestCreatePaymentWithAKeyTakenByAnotherRoute(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	cancelled, _, err := db.CreatePayment(ctx, newTestPayment(100), "k-first", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	cancelKey := postgres.IdempotencyRecord{AccountID: devdata.DemoAccountID, Key: "k-taken",
		Route: postgres.RouteCancelPayment, RequestHash: []byte("h-cancel"), PaymentID: cancelled.ID}
	noPaymentLeft := func(t *testing.T, id string) {
		t.Helper()
		var n int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("payment %s was stored", id)
		}
	}

	t.Run("taken before", func(t *testing.T) {
		if _, _, err := db.RecordIdempotencyKey(ctx, cancelKey); err != nil {
			t.Fatal(err)
		}
		p := newTestPayment(100)
		_, _, err := db.CreatePayment(ctx, p, "k-taken", []byte("h"))
		if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeIdempotencyKeyReused {
			t.Errorf("%v, want idempotency_key_reused", err)
		}
		noPaymentLeft(t, p.ID)
	})

	t.Run("taken while the payment is written", func(t *testing.T) {
		// The cancel's transaction inserts the key and waits; CreatePayment reads no key, and
		// its insert waits on the cancel's, which then commits.
		key := cancelKey
		key.Key = "k-raced"
		tx, err := db.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx) //nolint:errcheck // committed below
		if _, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (account_id, key, route, request_hash, payment_id, status_code, created_at)
			VALUES ($1, $2, $3, $4, $5, 200, now())`, key.AccountID, key.Key, key.Route, key.RequestHash, key.PaymentID); err != nil {
			t.Fatal(err)
		}
		p := newTestPayment(100)
		done := make(chan error, 1)
		go func() {
			_, _, err := db.CreatePayment(ctx, p, key.Key, []byte("h"))
			done <- err
		}()
		waitForLockWait(t, db)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		err = <-done
		if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeIdempotencyKeyReused {
			t.Errorf("%v, want idempotency_key_reused", err)
		}
		noPaymentLeft(t, p.ID)
		if got, found, err := db.FindIdempotencyKey(ctx, key); err != nil || !found || got.Route != postgres.RouteCancelPayment {
			t.Errorf("the key's record: %+v found=%v err=%v, want the cancel's", got, found, err)
		}
	})
}

// noSessionInATransaction fails the test unless, within a few seconds (a connection the pool
// closed takes a moment to end its session), no session of the test database is idle inside a
// transaction.
func noSessionInATransaction(t *testing.T, db *postgres.DB) {
	t.Helper()
	var stuck int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND state LIKE 'idle in transaction%'`).Scan(&stuck); err != nil {
			t.Fatal(err)
		}
		if stuck == 0 {
			return
		}
	}
	t.Errorf("%d sessions idle in a transaction", stuck)
}

// waitForLockWait waits until a session of the test database waits on a lock.
func waitForLockWait(t *testing.T, db *postgres.DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var n int
		if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
	}
	t.Fatal("no session waits on a lock")
}

// TestApplyPaymentRefusedAtItsLastTripLeavesNothing: when Postgres refuses a statement of
// ApplyPayment's second trip (here an event, by a trigger), the ledger entry, the payment's
// status and the invoices of the first trip are rolled back with it, and the connection goes
// back to the pool clean. Applied again once Postgres accepts, it books once.
func TestApplyPaymentRefusedAtItsLastTripLeavesNothing(t *testing.T) {
	ctx := context.Background()
	direct, url := testenv.Database(t)
	if _, err := devdata.Seed(ctx, direct, paymentsNow); err != nil {
		t.Fatal(err)
	}
	db, pid := oneConnDB(t, url, nil)
	before, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	invoicesBefore := openInvoices(t, direct)
	p, _, err := db.CreatePayment(ctx, newTestPayment(700), "refused", []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN RAISE EXCEPTION 'refused'; END$$;
		CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute)); err == nil {
		t.Fatal("applied with every event refused")
	}
	if got := testenv.IdleConnPID(t, db.Pool); got != pid {
		t.Errorf("the pool lends connection %d, want %d back", got, pid)
	}
	stored, err := db.PaymentByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	var entries int
	if err := direct.Pool.QueryRow(ctx, `SELECT count(*) FROM ledger_entries WHERE reference = $1`, p.ID).Scan(&entries); err != nil {
		t.Fatal(err)
	}
	balance, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != billing.PaymentProcessing || entries != 0 || balance != before {
		t.Errorf("after the refusal: payment %s, %d ledger entries, balance %d; want processing, none, %d",
			stored.Status, entries, balance, before)
	}
	if got := openInvoices(t, direct); !sameInvoices(got, invoicesBefore) {
		t.Errorf("open invoices changed: %+v, want %+v", got, invoicesBefore)
	}

	if _, err := direct.Pool.Exec(ctx, `DROP TRIGGER refuse ON events`); err != nil {
		t.Fatal(err)
	}
	after, err := db.ApplyPayment(ctx, p.ID, paymentsNow.Add(time.Minute))
	if err != nil || after != before-700 {
		t.Errorf("applied again: balance %d err %v, want %d", after, err, before-700)
	}
}

func sameInvoices(a, b []billing.Invoice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].AmountPaid != b[i].AmountPaid || a[i].Status != b[i].Status {
			return false
		}
	}
	return true
}

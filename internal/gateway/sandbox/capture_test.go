package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/testenv"
)

// roundTrips counts a pool's round trips: each time the client writes after it has read (or
// for the first time), it is waiting for another answer.
type roundTrips struct {
	mu   sync.Mutex
	n    int
	read bool
}

func (rt *roundTrips) wrote() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.read || rt.n == 0 {
		rt.n++
	}
	rt.read = false
}

func (rt *roundTrips) gotAnswer() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.read = true
}

// count is the number of round trips so far.
func (rt *roundTrips) count() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.n
}

type countingConn struct {
	net.Conn
	rt *roundTrips
}

func (c countingConn) Write(b []byte) (int, error) {
	if len(b) > 0 {
		c.rt.wrote()
	}
	return c.Conn.Write(b)
}

func (c countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.rt.gotAnswer()
	}
	return n, err
}

// oneConnPool opens a second pool on pool's database with a single connection, never pinged,
// whose round trips are counted.
func oneConnPool(t *testing.T, pool *pgxpool.Pool) (*pgxpool.Pool, *roundTrips) {
	t.Helper()
	rt := &roundTrips{}
	cfg := pool.Config()
	cfg.MaxConns = 1
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	dial := cfg.ConnConfig.DialFunc
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, rt: rt}, nil
	}
	counted, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(counted.Close)
	return counted, rt
}

func authorize(t *testing.T, p *CardProcessor, token string, amount billing.Money, key string) string {
	t.Helper()
	id, err := p.Authorize(context.Background(), gateway.ChargeRequest{Token: token, Amount: amount, IdempotencyKey: key})
	if err != nil {
		t.Fatalf("Authorize %s: %v", key, err)
	}
	return id
}

// A capture whose every condition holds is one round trip, once the connection has prepared
// its statement; the authorization is then captured by it.
func TestSandboxCaptureOneRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	p := NewCardProcessor(pool, &billing.FixedClock{T: now})
	counted, rt := oneConnPool(t, pool)
	q := NewCardProcessor(counted, &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")

	warm := authorize(t, p, tc.Token, usd(100), "warm/authorize")
	for range 2 { // the capture, then a repeat
		if _, err := q.Capture(ctx, warm, usd(100), "warm/capture"); err != nil {
			t.Fatal(err)
		}
	}

	authID := authorize(t, p, tc.Token, usd(1000), "pay_1/authorize")
	before := rt.count()
	capID, err := q.Capture(ctx, authID, usd(800), "pay_1/capture")
	if err != nil {
		t.Fatal(err)
	}
	if n := rt.count() - before; n != 1 {
		t.Errorf("the capture took %d round trips, want 1", n)
	}
	a, err := p.Authorization(ctx, authID)
	if err != nil || a.Status != "captured" || a.CaptureID != capID {
		t.Fatalf("Authorization = %+v, %v; want captured by %s", a, err, capID)
	}

	before = rt.count()
	again, err := q.Capture(ctx, authID, usd(800), "pay_1/capture")
	if err != nil || again != capID {
		t.Fatalf("the same key answered %q, %v; want %s", again, err, capID)
	}
	// The single statement captures nothing, then the two round trips find the capture.
	if n := rt.count() - before; n != 3 {
		t.Errorf("the repeat took %d round trips, want 3", n)
	}
	s, err := p.Stats(ctx)
	if err != nil || s.Captures != 2 || s.CapturedAmount != 900 {
		t.Fatalf("Stats = %+v, %v; want 2 captures of 900 in all", s, err)
	}
	testenv.IdleConnPID(t, counted)
}

// checkedCapture is the capture of before the single statement: the two round trips alone.
func checkedCapture(ctx context.Context, pool *pgxpool.Pool, authorizationID string, amount billing.Money, key string) (string, error) {
	return onConn(ctx, pool, func(conn *pgxpool.Conn) (string, error) {
		return captureChecked(ctx, conn, authorizationID, amount, key)
	})
}

// Every capture that does not capture answers what the two round trips alone answered, and
// writes nothing.
func TestSandboxCaptureRefusalsAnswerAsBefore(t *testing.T) {
	ctx := context.Background()
	counted, _ := oneConnPool(t, newTestPool(t))
	p := NewCardProcessor(counted, &billing.FixedClock{T: now}).WithPublicURL("http://portal.test")
	tc := tokenize(t, p, "4242424242424242")
	tc3ds := tokenize(t, p, "4000002500003155")

	captured := authorize(t, p, tc.Token, usd(1000), "a1/authorize")
	capID, err := p.Capture(ctx, captured, usd(1000), "a1/capture")
	if err != nil {
		t.Fatal(err)
	}
	authorized := authorize(t, p, tc.Token, usd(1000), "a2/authorize")
	voided := authorize(t, p, tc.Token, usd(1000), "a3/authorize")
	if err := p.Void(ctx, voided, "a3/void"); err != nil {
		t.Fatal(err)
	}
	onSession := func(key string) string {
		a, err := p.AuthorizeOnSession(ctx, gateway.ChargeRequest{Token: tc3ds.Token, Amount: usd(1000), IdempotencyKey: key}, "http://portal.test/back")
		if err != nil {
			t.Fatal(err)
		}
		return a.ID
	}
	waiting := onSession("a4/authorize")
	failed := onSession("a5/authorize")
	if _, err := p.Authenticate(ctx, failed, false); err != nil {
		t.Fatal(err)
	}
	statsBefore, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name            string
		authorizationID string
		amount          billing.Money
		key             string
		wantID          string
		wantErr         error
	}{
		{"unknown authorization", "auth_missing", usd(1), "k/missing", "", gateway.ErrNotFound},
		{"repeat", captured, usd(1000), "a1/capture", capID, nil},
		{"key reused for another amount", captured, usd(999), "a1/capture", "", gateway.ErrInvalidState},
		{"key of another authorization", authorized, usd(1000), "a1/capture", "", gateway.ErrInvalidState},
		{"key of another authorization, amount over", authorized, usd(1001), "a1/capture", "", gateway.ErrInvalidState},
		{"already captured", captured, usd(1000), "a1/capture-again", "", gateway.ErrInvalidState},
		{"voided", voided, usd(1000), "a3/capture", "", gateway.ErrInvalidState},
		{"requires action", waiting, usd(1000), "a4/capture", "", gateway.ErrInvalidState},
		{"authentication failed", failed, usd(1000), "a5/capture", "", gateway.ErrInvalidState},
		{"other currency", authorized, billing.Money{Amount: 1000, Currency: "EUR"}, "a2/capture", "", gateway.ErrInvalidRequest},
		{"over the amount", authorized, usd(1001), "a2/capture", "", gateway.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := p.capture(ctx, tt.authorizationID, tt.amount, tt.key)
			if id != tt.wantID || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("capture = %q, %v; want %q, %v", id, err, tt.wantID, tt.wantErr)
			}
			testenv.IdleConnPID(t, counted)
			oldID, oldErr := checkedCapture(ctx, counted, tt.authorizationID, tt.amount, tt.key)
			if id != oldID || fmt.Sprint(err) != fmt.Sprint(oldErr) {
				t.Fatalf("capture = %q, %v; the two round trips alone answer %q, %v", id, err, oldID, oldErr)
			}
		})
	}

	if s, err := p.Stats(ctx); err != nil || s != statsBefore {
		t.Fatalf("Stats = %+v, %v; want %+v as before", s, err, statsBefore)
	}
	for id, status := range map[string]string{captured: "captured", authorized: "authorized", voided: "voided",
		waiting: "requires_action", failed: "authentication_failed"} {
		if a, err := p.Authorization(ctx, id); err != nil || a.Status != status {
			t.Fatalf("Authorization(%s) = %+v, %v; want %s", id, a, err, status)
		}
	}
	// Less than authorized is captured, once.
	partial, err := p.Capture(ctx, authorized, usd(600), "a2/capture")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := p.Authorization(ctx, authorized); a.CaptureID != partial {
		t.Fatalf("Authorization = %+v, want captured by %s", a, partial)
	}
}

// Postgres refusing the capture leaves the authorization as it was and the connection clean;
// the same key then captures.
func TestSandboxCaptureRefusedByPostgres(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	counted, _ := oneConnPool(t, pool)
	p := NewCardProcessor(counted, &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")
	authID := authorize(t, p, tc.Token, usd(500), "pay_r/authorize")

	if _, err := pool.Exec(ctx, `
		CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON sandbox_captures FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Capture(ctx, authID, usd(500), "pay_r/capture"); err == nil ||
		errors.Is(err, gateway.ErrInvalidState) || errors.Is(err, gateway.ErrInvalidRequest) {
		t.Fatalf("Capture refused by Postgres: %v, want its error", err)
	}
	testenv.IdleConnPID(t, counted)
	if a, err := p.Authorization(ctx, authID); err != nil || a.Status != "authorized" || a.CaptureID != "" {
		t.Fatalf("Authorization = %+v, %v; want authorized as before", a, err)
	}

	if _, err := pool.Exec(ctx, `DROP TRIGGER refuse ON sandbox_captures`); err != nil {
		t.Fatal(err)
	}
	capID, err := p.Capture(ctx, authID, usd(500), "pay_r/capture")
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := p.Authorization(ctx, authID); a.CaptureID != capID || a.Status != "captured" {
		t.Fatalf("Authorization = %+v, want captured by %s", a, capID)
	}
}

// Concurrent captures of one authorization under different keys: one captures, the others
// are told it was captured already.
func TestSandboxCaptureConcurrentKeys(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")
	authID := authorize(t, p, tc.Token, usd(500), "pay_c/authorize")

	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = p.Capture(ctx, authID, usd(500), fmt.Sprintf("pay_c/capture-%d", i)) })
	}
	wg.Wait()
	var won string
	for i := range n {
		switch {
		case errs[i] == nil && won == "":
			won = ids[i]
		case !errors.Is(errs[i], gateway.ErrInvalidState):
			t.Fatalf("call %d: %q, %v; want one capture and ErrInvalidState for the others", i, ids[i], errs[i])
		}
	}
	if a, _ := p.Authorization(ctx, authID); won == "" || a.CaptureID != won {
		t.Fatalf("Authorization = %+v, want captured by %q", a, won)
	}
}

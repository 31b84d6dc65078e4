package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// written counts the demo account's payments and idempotency keys.
func written(t *testing.T, db *postgres.DB) (payments, keys int) {
	t.Helper()
	if err := db.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM payments WHERE account_id = $1), (SELECT count(*) FROM idempotency_keys WHERE account_id = $1)`,
		devdata.DemoAccountID).Scan(&payments, &keys); err != nil {
		t.Fatal(err)
	}
	return payments, keys
}

// TestCreatePaymentRefusedOrReplayedWritesNothing: CreatePayment sends its inserts with the
// reads, in one round trip, and they write only when the checks pass. A request over the
// balance, a replay (with a new payment id or the same one) and a key reused with another
// request each write nothing, answer as before, and give the connection back clean.
func TestCreatePaymentRefusedOrReplayedWritesNothing(t *testing.T) {
	ctx := context.Background()
	direct, url := testenv.Database(t)
	if _, err := devdata.Seed(ctx, direct, paymentsNow); err != nil {
		t.Fatal(err)
	}
	db, pid := oneConnDB(t, url, nil)
	first, created, err := db.CreatePayment(ctx, newTestPayment(100), "k", []byte("h"))
	if err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	available, err := db.AvailableToPay(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	payments, keys := written(t, direct)

	cases := []struct {
		name      string
		p         billing.Payment
		key, hash string
		wantCode  string // "": the first payment answered again
	}{
		{name: "over the balance", p: newTestPayment(available + 1), key: "k-over", hash: "h",
			wantCode: billing.CodeAmountExceedsBalance},
		{name: "a replay", p: newTestPayment(100), key: "k", hash: "h"},
		{name: "a replay with the first payment's id", p: first, key: "k", hash: "h"},
		{name: "a replay over the balance", p: newTestPayment(available + 1), key: "k", hash: "h"},
		{name: "a key reused", p: newTestPayment(100), key: "k", hash: "other",
			wantCode: billing.CodeIdempotencyKeyReused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, created, err := db.CreatePayment(ctx, c.p, c.key, []byte(c.hash))
			if c.wantCode == "" {
				if err != nil || created || got.ID != first.ID || got.Amount != first.Amount {
					t.Errorf("%s created=%v err=%v; want the first payment %s back", got.ID, created, err, first.ID)
				}
			} else if e := billing.ErrorOf(err); e == nil || e.Code != c.wantCode {
				t.Errorf("%v, want %s", err, c.wantCode)
			}
			if p, k := written(t, direct); p != payments || k != keys {
				t.Errorf("%d payments, %d keys; want %d, %d: nothing written", p, k, payments, keys)
			}
			if got := testenv.IdleConnPID(t, db.Pool); got != pid {
				t.Errorf("the pool lends connection %d, want %d back", got, pid)
			}
		})
	}
	if over := billing.ErrorOf(func() error {
		_, _, err := db.CreatePayment(ctx, newTestPayment(available+1), "k-over", []byte("h"))
		return err
	}()); over == nil || over.Message != billing.ErrorOf(postgres.AmountExceedsBalance(available, "USD")).Message {
		t.Errorf("over the balance: %v, want the amount still available (%d) named", over, available)
	}
}

// TestConcurrentCreatesWithOneKeyMakeOnePayment: 20 concurrent requests with one key, sent in
// one round trip each, make one payment and one key; every other one answers that payment.
func TestConcurrentCreatesWithOneKeyMakeOnePayment(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	payments, keys := written(t, db)
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ids     = map[string]int{}
		created int
	)
	for range n {
		wg.Go(func() {
			p, ok, err := db.CreatePayment(ctx, newTestPayment(100), "one-key", []byte("h"))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			ids[p.ID]++
			if ok {
				created++
			}
		})
	}
	wg.Wait()
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d created, %d payment ids answered; want 1 and 1", created, len(ids))
	}
	if p, k := written(t, db); p != payments+1 || k != keys+1 {
		t.Errorf("%d payments, %d keys written; want 1 and 1", p-payments, k-keys)
	}
}

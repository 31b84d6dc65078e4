package postgres_test

import (
	"context"
	"testing"

	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
)

// The balance kept per account follows every ledger entry, whichever code path books it, and
// the reconciler's check notices a kept balance that drifted from the ledger.
func TestKeptBalanceFollowsTheLedger(t *testing.T) {
	db := seededPaymentsDB(t)
	ctx := context.Background()
	sum := func() int64 {
		var s int64
		if err := db.Pool.QueryRow(ctx, `SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account_id = $1`,
			devdata.DemoAccountID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	p := newTestPayment(1500)
	if _, _, err := db.CreatePayment(ctx, p, "k-"+p.ID, []byte("h")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplyPayment(ctx, p.ID, paymentsNow); err != nil {
		t.Fatal(err)
	}
	got, err := db.Balance(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	if want := sum(); got != want || want == 0 {
		t.Fatalf("kept balance %d, ledger sum %d", got, want)
	}
	if f, err := db.CheckBooks(ctx); err != nil || len(f) != 0 {
		t.Fatalf("books %+v (err %v), want in agreement", f, err)
	}

	if _, err := db.Pool.Exec(ctx, `UPDATE account_balances SET balance = balance + 1 WHERE account_id = $1`, devdata.DemoAccountID); err != nil {
		t.Fatal(err)
	}
	f, err := db.CheckBooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 1 || f[0].Kind != postgres.FindingBalanceMismatch || f[0].AccountID != devdata.DemoAccountID {
		t.Errorf("after the kept balance drifted, findings %+v, want one balance_mismatch for the demo account", f)
	}
}

// One statement writing many ledger entries updates each account's kept balance once, by
// their sum: a row trigger would leave a version of the balance row per entry, which every
// read of the balance then walks until a vacuum.
func TestKeptBalanceOneUpdatePerStatement(t *testing.T) {
	db := seededPaymentsDB(t)
	ctx := context.Background()
	var before int64
	if err := db.Pool.QueryRow(ctx, `SELECT pg_relation_size('account_balances')`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		SELECT $1, 'payment', 'pay_bulk_'||g, -1, 'USD', now() FROM generate_series(1, 5000) g`, devdata.DemoAccountID); err != nil {
		t.Fatal(err)
	}
	var sum, kept, after int64
	if err := db.Pool.QueryRow(ctx, `SELECT (SELECT sum(amount) FROM ledger_entries WHERE account_id = $1),
		(SELECT balance FROM account_balances WHERE account_id = $1), pg_relation_size('account_balances')`,
		devdata.DemoAccountID).Scan(&sum, &kept, &after); err != nil {
		t.Fatal(err)
	}
	if kept != sum {
		t.Errorf("kept balance %d, ledger sum %d", kept, sum)
	}
	if after > before+8192 {
		t.Errorf("account_balances grew from %d to %d bytes for one statement: a version per entry", before, after)
	}
}

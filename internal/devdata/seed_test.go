package devdata_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// rowCounts is how many rows each seeded table holds.
func rowCounts(t *testing.T, db *postgres.DB) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, table := range []string{"accounts", "api_keys", "recurring_charges", "invoices", "invoice_items",
		"invoice_item_details", "ledger_entries"} {
		var n int
		if err := db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		counts[table] = n
	}
	return counts
}

func TestSeedingTwiceSeedsNothingTwice(t *testing.T) {
	db, _ := testenv.Database(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

	created, err := devdata.Seed(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []string{devdata.DemoAccountID, devdata.OtherAccountID}) {
		t.Fatalf("first seed created %v", created)
	}
	first := rowCounts(t, db)
	if first["accounts"] != 2 || first["api_keys"] != 3 || first["invoices"] < 2*10 {
		t.Fatalf("first seed wrote %v", first)
	}
	var balance int64
	if err := db.Pool.QueryRow(ctx, `SELECT sum(amount) FROM ledger_entries WHERE account_id = 'acct_demo'`).Scan(&balance); err != nil {
		t.Fatal(err)
	}

	// A restart of `payportal dev` the next day seeds again, with a later clock.
	for _, at := range []time.Time{now, now.Add(36 * time.Hour)} {
		again, err := devdata.Seed(ctx, db, at)
		if err != nil {
			t.Fatalf("seed again at %s: %v", at, err)
		}
		if len(again) != 0 {
			t.Errorf("seed again at %s created %v", at, again)
		}
		if got := rowCounts(t, db); !maps.Equal(got, first) {
			t.Errorf("after seeding again at %s: %v, want %v", at, got, first)
		}
	}
	var after int64
	if err := db.Pool.QueryRow(ctx, `SELECT sum(amount) FROM ledger_entries WHERE account_id = 'acct_demo'`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != balance || balance <= 0 {
		t.Errorf("acct_demo balance %d after re-seeding, %d before; want the same positive balance", after, balance)
	}
	for _, key := range []string{devdata.DemoCustomerKey, devdata.OtherCustomerKey, devdata.DemoRepKey} {
		if _, err := db.CallerByAPIKey(ctx, key); err != nil {
			t.Errorf("key %s: %v", key, err)
		}
	}
}

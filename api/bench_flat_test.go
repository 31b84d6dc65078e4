package api_test

// Benchmarks for the read paths' flatness: the billing summary for accounts whose ledgers hold
// 10 to 100,000 entries, and the invoice list for accounts holding a thousand to a million
// invoices. The rows are written in bulk by SQL (the ledger's trigger keeps the balance as the
// product does), so seeding a million invoices takes about a minute. BENCHMARKS.md reads the
// figures as ratios of the largest account to the smallest.

import (
	"context"
	"fmt"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

func BenchmarkSummaryByLedgerSize(b *testing.B) {
	h, db := benchAPI(b)
	sizes := []int{10, 1_000, 100_000}
	for _, entries := range sizes {
		seedBulkAccount(b, db, fmt.Sprintf("acct_ledger_%d", entries), entries/2, true)
	}
	analyze(b, db)
	for _, entries := range sizes {
		id := fmt.Sprintf("acct_ledger_%d", entries)
		b.Run(fmt.Sprintf("entries=%d", entries), func(b *testing.B) {
			benchGet(b, h, "/v1/accounts/"+id+"/billing-summary", id+"_key", `"current_balance"`)
		})
	}
}

func BenchmarkInvoiceListByAccountSize(b *testing.B) {
	h, db := benchAPI(b)
	sizes := []int{1_000, 1_000_000}
	for _, n := range sizes {
		seedBulkAccount(b, db, fmt.Sprintf("acct_list_%d", n), n, false)
	}
	analyze(b, db)
	for _, n := range sizes {
		id := fmt.Sprintf("acct_list_%d", n)
		path := "/v1/accounts/" + id + "/invoices"
		b.Run(fmt.Sprintf("invoices=%d/first_page", n), func(b *testing.B) {
			benchGet(b, h, path, id+"_key", `"has_more":true`)
		})
		// A page from the middle of the account's history.
		cursor := fmt.Sprintf("inv_%s_%d", id[5:], n/2)
		b.Run(fmt.Sprintf("invoices=%d/middle_page", n), func(b *testing.B) {
			benchGet(b, h, path+"?starting_after="+cursor, id+"_key", `"has_more":true`)
		})
	}
}

// seedBulkAccount writes an account, its key "<id>_key" and invoices one-time invoices an hour
// apart, the newest five open and the rest paid, and with ledger one ledger entry per invoice
// and one per payment: 2×invoices−5 entries. (The list does not read the ledger, and a million
// entries through the balance trigger take many minutes.)
func seedBulkAccount(b *testing.B, db *postgres.DB, id string, invoices int, ledger bool) {
	b.Helper()
	ctx := context.Background()
	acct := billing.Account{ID: id, CompanyName: "Bulk " + id, Currency: "USD", BillingDay: 1, Language: "en",
		Address:      billing.Address{Line1: "1 Load Street", City: "Springfield", PostalCode: "12345", Country: "US"},
		ContactEmail: "billing@bulk.example", TaxRateBps: 800, Status: billing.AccountActive, CreatedAt: benchNow.AddDate(-200, 0, 0)}
	if _, err := db.CreateAccount(ctx, acct); err != nil {
		b.Fatalf("create %s: %v", id, err)
	}
	if err := db.CreateAPIKey(ctx, id+"_key", "bulk customer", id); err != nil {
		b.Fatalf("create key of %s: %v", id, err)
	}
	tag := id[5:] // invoice ids and numbers: inv_<tag>_<n>, BULK-<tag>-<n>
	stmts := []string{
		`INSERT INTO invoices (id, account_id, number, type, status, currency, subtotal, tax, total, amount_paid, created_at)
		 SELECT 'inv_'||$2||'_'||g, $1, 'BULK-'||$2||'-'||g, 'one_time', CASE WHEN g <= 5 THEN 'open' ELSE 'paid' END, 'USD',
		        1000, 80, 1080, CASE WHEN g <= 5 THEN 0 ELSE 1080 END, $3::timestamptz - g * interval '1 hour'
		 FROM generate_series(1, $4::int) g`,
	}
	if ledger {
		stmts = append(stmts, `INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		 SELECT $1, 'invoice', 'inv_'||$2||'_'||g, 1080, 'USD', $3::timestamptz - g * interval '1 hour'
		 FROM generate_series(1, $4::int) g`,
			`INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		 SELECT $1, 'payment', 'pay_'||$2||'_'||g, -1080, 'USD', $3::timestamptz - g * interval '1 hour' + interval '1 minute'
		 FROM generate_series(6, $4::int) g`)
	}
	for _, stmt := range stmts {
		if _, err := db.Pool.Exec(ctx, stmt, id, tag, benchNow, invoices); err != nil {
			b.Fatalf("seed %s: %v", id, err)
		}
	}
}

func analyze(b *testing.B, db *postgres.DB) {
	b.Helper()
	if _, err := db.Pool.Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
}

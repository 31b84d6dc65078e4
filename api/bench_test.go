package api_test

// Benchmarks of the API's hot read paths: the real Gin router over the real Postgres (a fresh,
// migrated database per benchmark, seeded with the dev data plus acct_bench holding
// benchInvoices invoices), driven in-process with httptest.NewRecorder, so a figure is the
// handler's cost (router, middleware, queries, JSON) without a network hop. Without Postgres
// they skip, and fail under CI=true, through testenv. Figures and commands: BENCHMARKS.md.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

const (
	benchInvoices  = 1000
	benchAccountID = "acct_bench"
	benchKey       = "bench_customer_key"
	benchAccount   = "/v1/accounts/" + benchAccountID
	benchDemo      = "/v1/accounts/" + devdata.DemoAccountID
)

// benchNow is the seed's and the billing clock's "now".
var benchNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func BenchmarkListInvoices(b *testing.B) {
	h, db := benchAPI(b)
	// The 950th newest invoice: its page is the 951st to 975th, deep in the account's history.
	var cursor string
	if err := db.Pool.QueryRow(context.Background(), `SELECT id FROM invoices WHERE account_id = $1
		ORDER BY created_at DESC, id DESC OFFSET 949 LIMIT 1`, benchAccountID).Scan(&cursor); err != nil {
		b.Fatalf("find the deep cursor: %v", err)
	}
	explainKeysetPage(b, db, cursor)
	b.Run("first_page", func(b *testing.B) {
		benchGet(b, h, benchAccount+"/invoices", benchKey, `"has_more":true`)
	})
	b.Run("deep_page", func(b *testing.B) {
		benchGet(b, h, benchAccount+"/invoices?starting_after="+cursor, benchKey, `"has_more":true`)
	})
}

func BenchmarkBillingSummary(b *testing.B) {
	h, _ := benchAPI(b)
	b.Run("demo", func(b *testing.B) {
		benchGet(b, h, benchDemo+"/billing-summary", devdata.DemoCustomerKey, `"current_balance"`)
	})
	// Two ledger entries per invoice: the balance sums 2,000 rows.
	b.Run("1000_invoices", func(b *testing.B) {
		benchGet(b, h, benchAccount+"/billing-summary", benchKey, `"current_balance"`)
	})
}

func BenchmarkGetInvoice(b *testing.B) {
	h, db := benchAPI(b)
	// The demo account's latest recurring invoice: three items, as most invoices have.
	var id string
	if err := db.Pool.QueryRow(context.Background(), `SELECT id FROM invoices WHERE account_id = $1 AND type = 'recurring'
		ORDER BY created_at DESC LIMIT 1`, devdata.DemoAccountID).Scan(&id); err != nil {
		b.Fatalf("find an invoice: %v", err)
	}
	benchGet(b, h, benchDemo+"/invoices/"+id, devdata.DemoCustomerKey, `"items":[{`)
}

// BenchmarkAuthenticate isolates the auth middleware: each request stops right after it.
func BenchmarkAuthenticate(b *testing.B) {
	h, _ := benchAPI(b)
	// A valid key asking for another account: authenticated (one key lookup), then 404.
	b.Run("valid_key", func(b *testing.B) {
		benchGetStatus(b, h, "/v1/accounts/"+devdata.OtherAccountID+"/billing-summary", devdata.DemoCustomerKey, http.StatusNotFound, `"not_found"`)
	})
	b.Run("unknown_key", func(b *testing.B) {
		benchGetStatus(b, h, benchDemo+"/billing-summary", "no_such_key", http.StatusUnauthorized, `"authentication"`)
	})
	// No header: no query at all, the floor of router, middleware and error JSON.
	b.Run("no_key", func(b *testing.B) {
		benchGetStatus(b, h, benchDemo+"/billing-summary", "", http.StatusUnauthorized, `"authentication"`)
	})
}

// benchAPI is the real router over a fresh database holding the dev data and acct_bench with
// benchInvoices invoices, its statistics up to date. Logs are formatted as in production (JSON,
// info) and thrown away; the rate limit is lifted.
func benchAPI(b *testing.B) (http.Handler, *postgres.DB) {
	b.Helper()
	db, _ := testenv.Database(b)
	ctx := context.Background()
	if _, err := devdata.Seed(ctx, db, benchNow); err != nil {
		b.Fatalf("seed: %v", err)
	}
	seedBenchAccount(b, db)
	if _, err := db.Pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatalf("analyze: %v", err)
	}
	srv := &api.Server{
		Auth:    db,
		Billing: &portal.Billing{DB: db, Clock: &billing.FixedClock{T: benchNow}},
		Limits:  api.RateLimits{PerSecond: 1e9, Burst: 1_000_000_000},
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	return srv.Handler(), db
}

// seedBenchAccount writes acct_bench, its key and benchInvoices two-item invoices, one every
// eight hours back from benchNow (the latest five still open), through the same store code
// that issues invoices.
func seedBenchAccount(b *testing.B, db *postgres.DB) {
	b.Helper()
	ctx := context.Background()
	acct := billing.Account{ID: benchAccountID, CompanyName: "Bench Corp",
		Address:  billing.Address{Line1: "1 Load Street", City: "Springfield", PostalCode: "12345", Country: "US"},
		Currency: "USD", BillingDay: 1, Language: "en", ContactEmail: "billing@bench.example",
		TaxRateBps: 800, Status: billing.AccountActive, CreatedAt: benchNow.AddDate(-1, 0, 0)}
	if _, err := db.CreateAccount(ctx, acct); err != nil {
		b.Fatalf("create %s: %v", acct.ID, err)
	}
	if err := db.CreateAPIKey(ctx, benchKey, "bench customer", acct.ID); err != nil {
		b.Fatalf("create bench key: %v", err)
	}
	for i := range benchInvoices {
		inv := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceOneTime, Status: billing.InvoicePaid,
			Currency: acct.Currency, CreatedAt: benchNow.Add(-time.Duration(i) * 8 * time.Hour)}
		inv.Items = []billing.InvoiceItem{
			{Description: "Virtual server c2.medium", Category: "compute", Quantity: 2, UnitAmount: 4320, Amount: 8640},
			{Description: fmt.Sprintf("Block storage, order %d", i), Category: "storage", Quantity: 100, UnitAmount: 10, Amount: 1000},
		}
		inv.Subtotal = 9640
		inv.Tax = billing.TaxOn(inv.Subtotal, acct.TaxRateBps)
		inv.Total = inv.Subtotal + inv.Tax
		if i >= 5 {
			inv.AmountPaid = inv.Total
		} else {
			inv.Status = billing.InvoiceOpen
		}
		if _, _, err := db.CreateInvoice(ctx, inv); err != nil {
			b.Fatalf("create bench invoice %d: %v", i, err)
		}
	}
}

// explainKeysetPage logs the plan of the statement postgres.DB.Invoices runs for a page after
// cursor, and fails unless it walks the invoices_account_created index.
func explainKeysetPage(b *testing.B, db *postgres.DB, cursor string) {
	b.Helper()
	ctx := context.Background()
	var cursorAt time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT created_at FROM invoices WHERE id = $1`, cursor).Scan(&cursorAt); err != nil {
		b.Fatalf("load cursor: %v", err)
	}
	rows, err := db.Pool.Query(ctx, `EXPLAIN SELECT id, account_id, number, type, status, currency, period_start, period_end,
		subtotal, tax, total, amount_paid, created_at FROM invoices WHERE account_id = $1 AND (created_at, id) < ($2, $3)
		ORDER BY created_at DESC, id DESC LIMIT $4`, benchAccountID, cursorAt, cursor, billing.DefaultPageLimit+1)
	if err != nil {
		b.Fatalf("explain: %v", err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			b.Fatalf("explain: %v", err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		b.Fatalf("explain: %v", err)
	}
	b.Logf("keyset page plan:\n%s", strings.Join(plan, "\n"))
	if !strings.Contains(strings.Join(plan, "\n"), "invoices_account_created") {
		b.Fatalf("the keyset page does not use invoices_account_created")
	}
}

// benchGet measures GET path with key, which must answer 200 with a body containing want.
func benchGet(b *testing.B, h http.Handler, path, key, want string) {
	b.Helper()
	benchGetStatus(b, h, path, key, http.StatusOK, want)
}

// benchGetStatus checks one answer (status and a fragment of the body), then measures the
// request; later answers are checked for their status only.
func benchGetStatus(b *testing.B, h http.Handler, path, key string, status int, want string) {
	b.Helper()
	if rec := serveGet(h, path, key); rec.Code != status || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("GET %s: status %d, want %d with %s; body %s", path, rec.Code, status, want, rec.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		if rec := serveGet(h, path, key); rec.Code != status {
			b.Fatalf("GET %s: status %d, want %d; body %s", path, rec.Code, status, rec.Body)
		}
	}
}

// serveGet is one request through the router, as the HTTP server would hand it over.
func serveGet(h http.Handler, path, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

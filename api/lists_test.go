package api_test

// Lists in both directions and within a time range: ending_before mirrors starting_after,
// created[gte]/created[lt] bound the rows, on the invoice and payment lists. Real Postgres,
// the real router over HTTP.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/testenv"
)

// startListServer seeds a fresh database and serves the read side with payments and cards.
func startListServer(t *testing.T) *readServer {
	t.Helper()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, readNow); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv := &api.Server{
		Auth:     db,
		Billing:  &portal.Billing{DB: db, Clock: &billing.FixedClock{T: readNow}},
		Payments: &portal.Payments{DB: db},
		Cards:    &portal.Cards{DB: db},
		Limits:   api.RateLimits{PerSecond: 1e6, Burst: 1_000_000},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &readServer{db: db, base: ts.URL}
}

// idPage is one page of any list, by ids.
type idPage struct {
	Data []struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	} `json:"data"`
	HasMore bool `json:"has_more"`
}

func (pg idPage) ids() []string {
	out := make([]string, len(pg.Data))
	for i, d := range pg.Data {
		out[i] = d.ID
	}
	return out
}

// pages walks list (a path with its query, without a cursor) forward with starting_after and
// answers every page.
func (p *readServer) pages(t *testing.T, key, list string) [][]string {
	t.Helper()
	var out [][]string
	cursor := ""
	for len(out) < 1000 {
		path := list
		if cursor != "" {
			path += "&starting_after=" + cursor
		}
		var page idPage
		p.get(t, key, path, &page)
		out = append(out, page.ids())
		if !page.HasMore {
			return out
		}
		cursor = page.Data[len(page.Data)-1].ID
	}
	t.Fatalf("%s never ends", list)
	return nil
}

// checkBackwards pages back from the last of forward with ending_before and wants the same
// pages in reverse, has_more true until the first, and nothing before the first.
func (p *readServer) checkBackwards(t *testing.T, key, list string, forward [][]string) {
	t.Helper()
	if len(forward) < 3 {
		t.Fatalf("%s: %d pages; the test needs at least 3", list, len(forward))
	}
	cursor := forward[len(forward)-1][0]
	for i := len(forward) - 2; i >= 0; i-- {
		var page idPage
		p.get(t, key, list+"&ending_before="+cursor, &page)
		if !slices.Equal(page.ids(), forward[i]) {
			t.Fatalf("%s: the page before %s is %v, want page %d going forward: %v", list, cursor, page.ids(), i, forward[i])
		}
		if page.HasMore != (i > 0) {
			t.Fatalf("%s: page %d going back has has_more %v, want %v", list, i, page.HasMore, i > 0)
		}
		cursor = page.Data[0].ID
	}
	var before idPage
	p.get(t, key, list+"&ending_before="+cursor, &before)
	if len(before.Data) != 0 || before.HasMore {
		t.Fatalf("%s: before the newest item: %v has_more %v, want nothing", list, before.ids(), before.HasMore)
	}
}

func TestInvoicesPageBackwardsOverTheSamePages(t *testing.T) {
	p := startListServer(t)
	key, ids := addBulkAccount(t, p.db, 130) // runs of five share a created_at: pages split ties
	bulk := "/v1/accounts/acct_bulk"
	for _, tc := range []struct {
		typ   billing.InvoiceType
		limit int
	}{{"", 7}, {"", 25}, {billing.InvoiceRecurring, 4}, {billing.InvoiceCredit, 1}} {
		list := fmt.Sprintf("%s/invoices?limit=%d", bulk, tc.limit)
		if tc.typ != "" {
			list += "&type=" + string(tc.typ)
		}
		t.Run(list, func(t *testing.T) {
			forward := p.pages(t, key, list)
			if got := slices.Concat(forward...); len(got) != len(ids[tc.typ]) {
				t.Fatalf("forward: %d invoices, want %d", len(got), len(ids[tc.typ]))
			}
			p.checkBackwards(t, key, list, forward)
		})
	}
}

func TestInvoicesWithinCreatedRange(t *testing.T) {
	p := startListServer(t)
	key, ids := addBulkAccount(t, p.db, 130)
	bulk := "/v1/accounts/acct_bulk"
	base := readNow.AddDate(-1, 0, 0) // addBulkAccount: invoice i was created at base + i/5 hours
	at := func(h int) string {
		return url.QueryEscape(base.Add(time.Duration(h) * time.Hour).Format(time.RFC3339))
	}
	// The expected answer is the unfiltered list (newest first, ties by id) keeping only ids.
	all := slices.Concat(p.pages(t, key, bulk+"/invoices?limit=100")...)
	newestFirst := func(ids []string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(id string) bool { return !slices.Contains(ids, id) })
	}

	// [3 h, 10 h): invoices 15 to 49, the bounds' own ties included at gte and left out at lt.
	list := bulk + "/invoices?limit=6&created[gte]=" + at(3) + "&created[lt]=" + at(10)
	forward := p.pages(t, key, list)
	if got, want := slices.Concat(forward...), newestFirst(ids[""][15:50]); !slices.Equal(got, want) {
		t.Fatalf("created in [3 h, 10 h): %v, want %v", got, want)
	}
	p.checkBackwards(t, key, list, forward)

	// One bound alone, in another offset: the same instant.
	paris := base.Add(20 * time.Hour).In(time.FixedZone("CET", 3600)).Format(time.RFC3339)
	if got, want := slices.Concat(p.pages(t, key, bulk+"/invoices?limit=100&created[gte]="+url.QueryEscape(paris))...), newestFirst(ids[""][100:]); !slices.Equal(got, want) {
		t.Errorf("created from 20 h (written +01:00): %d invoices, want the last 30", len(got))
	}
	if got := slices.Concat(p.pages(t, key, bulk+"/invoices?limit=100&created[lt]="+at(1))...); !slices.Equal(got, newestFirst(ids[""][:5])) {
		t.Errorf("created before 1 h: %v, want the first five", got)
	}
	// With a type: recurring invoices are 10 to 19, 60 to 69, 110 to 119.
	var recurring idPage
	p.get(t, key, bulk+"/invoices?type=recurring&created[gte]="+at(12)+"&created[lt]="+at(14), &recurring)
	if want := newestFirst(ids[""][60:70]); !slices.Equal(recurring.ids(), want) {
		t.Errorf("recurring in [12 h, 14 h): %v, want %v", recurring.ids(), want)
	}
}

func TestPaymentsPageBackwardsAndWithinCreatedRange(t *testing.T) {
	p := startListServer(t)
	ctx := context.Background()
	key, _ := addBulkAccount(t, p.db, 20) // open invoices: a balance to pay
	base := readNow.Add(-48 * time.Hour)
	var ids []string
	for i := range 40 {
		pay := billing.Payment{ID: fmt.Sprintf("pay_list%03d", i), AccountID: "acct_bulk", Status: billing.PaymentProcessing,
			Method: billing.MethodPayPal, Amount: billing.Money{Amount: 1, Currency: "GBP"},
			CreatedAt: base.Add(time.Duration(i/4) * time.Hour), WorkflowID: fmt.Sprintf("payment/pay_list%03d", i)}
		if _, created, err := p.db.CreatePayment(ctx, pay, fmt.Sprintf("k%d", i), []byte("h")); err != nil || !created {
			t.Fatalf("payment %d: created=%v err=%v", i, created, err)
		}
		ids = append(ids, pay.ID)
	}
	payments := "/v1/accounts/acct_bulk/payments?limit=3"
	forward := p.pages(t, key, payments)
	if got := slices.Concat(forward...); len(got) != 40 {
		t.Fatalf("forward: %d payments, want 40", len(got))
	}
	p.checkBackwards(t, key, payments, forward)

	at := func(h int) string {
		return url.QueryEscape(base.Add(time.Duration(h) * time.Hour).Format(time.RFC3339))
	}
	within := payments + "&created[gte]=" + at(2) + "&created[lt]=" + at(7) // payments 8 to 27
	forward = p.pages(t, key, within)
	want := slices.Clone(ids[8:28])
	slices.Reverse(want)
	if got := slices.Concat(forward...); !slices.Equal(got, want) {
		t.Fatalf("payments created in [2 h, 7 h): %v, want %v", got, want)
	}
	p.checkBackwards(t, key, within, forward)
}

func TestListParametersAreChecked(t *testing.T) {
	p := startListServer(t)
	inv := p.allInvoices(t, readDemoKey, readDemo)
	otherInv := p.allInvoices(t, readOtherKey, readOther)
	for _, tc := range []struct {
		name, path, code, param string
	}{
		{"both cursors", "/invoices?starting_after=" + inv[1].ID + "&ending_before=" + inv[0].ID, billing.CodeCursorConflict, "ending_before"},
		{"both cursors on payments", "/payments?starting_after=pay_a&ending_before=pay_b", billing.CodeCursorConflict, "ending_before"},
		{"empty ending_before", "/invoices?ending_before=", billing.CodeInvalidEndingBefore, "ending_before"},
		{"unknown ending_before", "/invoices?ending_before=inv_doesnotexist", billing.CodeInvalidEndingBefore, "ending_before"},
		{"another account's invoice as ending_before", "/invoices?ending_before=" + otherInv[0].ID, billing.CodeInvalidEndingBefore, "ending_before"},
		{"unknown payment as ending_before", "/payments?ending_before=pay_doesnotexist", billing.CodeInvalidEndingBefore, "ending_before"},
		{"a date is no time", "/invoices?created[gte]=2026-03-01", billing.CodeInvalidCreated, "created[gte]"},
		{"no zone", "/payments?created[lt]=2026-03-01T00:00:00", billing.CodeInvalidCreated, "created[lt]"},
		{"garbage", "/invoices?created[lt]=yesterday", billing.CodeInvalidCreated, "created[lt]"},
		{"empty range", "/invoices?created[gte]=2026-03-01T00:00:00Z&created[lt]=2026-03-01T00:00:00Z", billing.CodeInvalidCreated, "created[lt]"},
		{"an operator we do not take", "/invoices?created[gt]=2026-03-01T00:00:00Z", billing.CodeInvalidCreated, "created[gt]"},
		{"created alone", "/payments?created=2026-03-01T00:00:00Z", billing.CodeInvalidCreated, "created"},
		{"an odd operator is not repeated", "/invoices?created[4242424242424242]=x", billing.CodeInvalidCreated, "created"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readRequest{path: readDemo + tc.path, auth: readDemoKey}
			resp, raw := p.send(t, r)
			wantContractError(t, r, resp, raw, http.StatusUnprocessableEntity, "invalid_request", tc.code, tc.param)
		})
	}
}

// TestListsStayIndexed: with 20,000 invoices and payments on one account, a page with a cursor
// and a created range in either direction is read from the account's (created_at, id) index,
// never by sorting the account's rows.
func TestListsStayIndexed(t *testing.T) {
	db, _ := testenv.Database(t)
	ctx := context.Background()
	if _, err := devdata.Seed(ctx, db, readNow); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`INSERT INTO invoices (id, account_id, number, type, status, currency, subtotal, tax, total, amount_paid, created_at)
		SELECT 'inv_ix' || g, $1, 'INV-IX-' || g, (ARRAY['new','one_time','credit'])[1 + g % 3], 'paid', 'USD',
			-(g % 3 / 2), 0, -(g % 3 / 2), 0, $2::timestamptz - g * interval '1 minute'
		FROM generate_series(1, 20000) g`,
		`INSERT INTO payments (id, account_id, status, method, amount, currency, created_at, completed_at, workflow_id)
		SELECT 'pay_ix' || g, $1, 'failed', 'paypal', 1, 'USD', $2::timestamptz - g * interval '1 minute',
			$2::timestamptz - g * interval '1 minute', 'payment/pay_ix' || g
		FROM generate_series(1, 20000) g`,
	} {
		if _, err := db.Pool.Exec(ctx, sql, devdata.DemoAccountID, readNow); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE invoices; ANALYZE payments`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ index, query string }{
		{"invoices_account_created", `SELECT id FROM invoices WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
			AND (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT 26`},
		{"invoices_account_created", `SELECT id FROM invoices WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
			AND (created_at, id) > ($4, $5) ORDER BY created_at ASC, id ASC LIMIT 26`},
		{"payments_account_created", `SELECT id FROM payments WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
			AND (created_at, id) < ($4, $5) ORDER BY created_at DESC, id DESC LIMIT 26`},
		{"payments_account_created", `SELECT id FROM payments WHERE account_id = $1 AND created_at >= $2 AND created_at < $3
			AND (created_at, id) > ($4, $5) ORDER BY created_at ASC, id ASC LIMIT 26`},
	} {
		rows, err := db.Pool.Query(ctx, `EXPLAIN `+tc.query, devdata.DemoAccountID, readNow.Add(-300*time.Hour),
			readNow.Add(-10*time.Hour), readNow.Add(-100*time.Hour), "x")
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		if !strings.Contains(plan, "using "+tc.index) || strings.Contains(plan, "Sort") || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s\nis not read in order from %s:\n%s", tc.query, tc.index, plan)
		}
		t.Log(plan)
	}
}

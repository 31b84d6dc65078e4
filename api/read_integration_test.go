package api_test

// Integration tests of the read side of the contract: real Postgres (a fresh, migrated database
// per test, seeded with the dev data at a fixed time), the real router served over HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// readNow is "now" for the seed and the billing clock: 10 March 2026, so acct_demo (billed on
// the 1st) last billed on 1 March and acct_other (billed on the 15th) on 15 February.
var readNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

const (
	readDemoKey  = devdata.DemoCustomerKey
	readOtherKey = devdata.OtherCustomerKey
	readRepKey   = devdata.DemoRepKey
	readDemo     = "/v1/accounts/" + devdata.DemoAccountID
	readOther    = "/v1/accounts/" + devdata.OtherAccountID
)

// readServer is the seeded database behind the real router, over HTTP.
type readServer struct {
	db   *postgres.DB
	base string
}

// startReadServer seeds a fresh database and serves it. Rate limits are lifted unless limits says
// otherwise, so walking hundreds of pages measures pagination, not the limiter.
func startReadServer(t *testing.T, limits ...api.RateLimits) *readServer {
	t.Helper()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, readNow); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv := &api.Server{
		Auth:    db,
		Billing: &portal.Billing{DB: db, Clock: &billing.FixedClock{T: readNow}},
		Limits:  api.RateLimits{PerSecond: 1e6, Burst: 1_000_000},
		Ready:   []api.HealthCheck{{Name: "postgres", Check: db.Ping}},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if len(limits) > 0 {
		srv.Limits = limits[0]
	}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return &readServer{db: db, base: ts.URL}
}

// readRequest is one call; auth is the raw Authorization header, or a bare key to send as Bearer.
type readRequest struct {
	method string
	path   string
	auth   string
	body   []byte
	header map[string]string
}

func (p *readServer) send(t *testing.T, r readRequest) (*http.Response, []byte) {
	t.Helper()
	req := testenv.Request{Method: r.method, Path: r.path, Key: r.auth, Header: r.header}
	if r.body != nil {
		req.Body = r.body
	}
	if strings.Contains(r.auth, " ") { // a whole Authorization header, sent as it is
		req.Key = ""
		req.Header = map[string]string{"Authorization": r.auth}
		maps.Copy(req.Header, r.header)
	}
	return testenv.Do(t, p.base, req)
}

// get fetches path with key and decodes a 200 answer into v.
func (p *readServer) get(t *testing.T, key, path string, v any) {
	t.Helper()
	resp, raw := p.send(t, readRequest{path: path, auth: key})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %s", path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q, want application/json", path, ct)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, raw, err)
	}
}

// contractError is the contract's error body, decoded strictly: no other field may appear.
type contractError struct {
	Error struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Param   string `json:"param"`
	} `json:"error"`
}

// wantContractError checks the status and that the body is exactly the contract's error shape.
func wantContractError(t *testing.T, r readRequest, resp *http.Response, raw []byte, status int, typ, code, param string) {
	t.Helper()
	where := r.method + " " + r.path
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d; body %s", where, resp.StatusCode, status, raw)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", where, ct)
	}
	var e contractError
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s: body is not the contract's error shape: %v; body %s", where, err, raw)
	}
	got := e.Error
	if got.Type != typ || got.Code != code || got.Param != param {
		t.Errorf("%s: error {type %q, code %q, param %q}, want {%q, %q, %q}; message %q",
			where, got.Type, got.Code, got.Param, typ, code, param, got.Message)
	}
	if got.Message == "" {
		t.Errorf("%s: error without a message", where)
	}
}

type readInvoice struct {
	ID          string     `json:"id"`
	Number      string     `json:"number"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	Currency    string     `json:"currency"`
	PeriodStart *string    `json:"period_start"`
	PeriodEnd   *string    `json:"period_end"`
	Subtotal    int64      `json:"subtotal"`
	Tax         int64      `json:"tax"`
	Total       int64      `json:"total"`
	AmountPaid  int64      `json:"amount_paid"`
	AmountDue   int64      `json:"amount_due"`
	Items       []readItem `json:"items"`
}

type readItem struct {
	ID          string       `json:"id"`
	Description string       `json:"description"`
	Category    string       `json:"category"`
	Quantity    int64        `json:"quantity"`
	UnitAmount  int64        `json:"unit_amount"`
	Amount      int64        `json:"amount"`
	PeriodStart *string      `json:"period_start"`
	PeriodEnd   *string      `json:"period_end"`
	Details     []readDetail `json:"details"`
}

type readDetail struct {
	ID           string `json:"id"`
	Description  string `json:"description"`
	ResourceName string `json:"resource_name"`
	Quantity     int64  `json:"quantity"`
	Unit         string `json:"unit"`
	UnitAmount   int64  `json:"unit_amount"`
	Amount       int64  `json:"amount"`
}

type readInvoicePage struct {
	Data    []readInvoice `json:"data"`
	HasMore bool          `json:"has_more"`
}

type readSummary struct {
	AccountID            string `json:"account_id"`
	Currency             string `json:"currency"`
	CurrentBalance       int64  `json:"current_balance"`
	EstimatedNextBalance int64  `json:"estimated_next_balance"`
	PaymentMethod        *struct {
		ID       string `json:"id"`
		Brand    string `json:"brand"`
		Last4    string `json:"last4"`
		ExpMonth int    `json:"exp_month"`
		ExpYear  int    `json:"exp_year"`
	} `json:"payment_method"`
	PreviousRecurringInvoiceDate *string `json:"previous_recurring_invoice_date"`
	NextRecurringInvoiceDate     string  `json:"next_recurring_invoice_date"`
}

// allInvoices walks every page of an account's invoices.
func (p *readServer) allInvoices(t *testing.T, key, account string) []readInvoice {
	t.Helper()
	return p.walk(t, key, account, "", 100)
}

// walk follows starting_after from the first page to the last, checking every page's size.
func (p *readServer) walk(t *testing.T, key, account, typ string, limit int) []readInvoice {
	t.Helper()
	var all []readInvoice
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatalf("pagination never ends: %d pages of %d", pages, limit)
		}
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if typ != "" {
			q.Set("type", typ)
		}
		if cursor != "" {
			q.Set("starting_after", cursor)
		}
		var page readInvoicePage
		p.get(t, key, account+"/invoices?"+q.Encode(), &page)
		if len(page.Data) > limit {
			t.Fatalf("page %d has %d invoices, limit %d", pages, len(page.Data), limit)
		}
		if page.HasMore && len(page.Data) != limit {
			t.Fatalf("page %d has %d invoices and has_more, want a full page of %d", pages, len(page.Data), limit)
		}
		all = append(all, page.Data...)
		if !page.HasMore {
			return all
		}
		cursor = page.Data[len(page.Data)-1].ID
	}
}

// addBulkAccount adds acct_bulk with n invoices through the store. Invoices come in runs of five
// sharing one created_at (and one type), so page boundaries fall inside ties of the
// (created_at, id) keyset, with and without a type filter.
func addBulkAccount(t *testing.T, db *postgres.DB, n int) (key string, ids map[billing.InvoiceType][]string) {
	t.Helper()
	ctx := context.Background()
	acct := billing.Account{ID: "acct_bulk", CompanyName: "Bulk Buyer Ltd",
		Address:  billing.Address{Line1: "1 High Street", City: "London", PostalCode: "EC1A 1BB", Country: "GB"},
		Currency: "GBP", BillingDay: 5, Language: "en", ContactEmail: "ap@bulk.example",
		Status: billing.AccountActive, CreatedAt: readNow.AddDate(-2, 0, 0)}
	if _, err := db.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	key = "bulk_customer_key"
	if err := db.CreateAPIKey(ctx, key, "bulk customer (test)", acct.ID); err != nil {
		t.Fatal(err)
	}
	ids = map[billing.InvoiceType][]string{}
	base := readNow.AddDate(-1, 0, 0)
	for i := range n {
		typ := billing.InvoiceTypes[(i/10)%len(billing.InvoiceTypes)]
		unit := int64(1000 + i)
		if typ.Negative() {
			unit = -unit
		}
		inv := billing.Invoice{AccountID: acct.ID, Type: typ, Status: billing.InvoiceOpen, Currency: acct.Currency,
			CreatedAt: base.Add(time.Duration(i/5) * time.Hour), Subtotal: unit, Total: unit}
		if typ.Negative() {
			inv.Status = billing.InvoicePaid
		}
		if typ == billing.InvoiceRecurring {
			start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, i, 0)
			end := start.AddDate(0, 1, -1)
			inv.PeriodStart, inv.PeriodEnd = &start, &end
		}
		inv.Items = []billing.InvoiceItem{{Description: fmt.Sprintf("Bulk line %d", i), Category: "compute",
			Quantity: 1, UnitAmount: unit, Amount: unit}}
		created, ok, err := db.CreateInvoice(ctx, inv)
		if err != nil || !ok {
			t.Fatalf("create bulk invoice %d: created=%v err=%v", i, ok, err)
		}
		ids[typ] = append(ids[typ], created.ID)
		ids[""] = append(ids[""], created.ID)
	}
	return key, ids
}

func TestInvoicePaginationNeverSkipsOrRepeats(t *testing.T) {
	p := startReadServer(t)
	const n = 130
	key, ids := addBulkAccount(t, p.db, n)
	bulk := "/v1/accounts/acct_bulk"

	for _, typ := range []billing.InvoiceType{"", billing.InvoiceNew, billing.InvoiceRecurring,
		billing.InvoiceOneTime, billing.InvoiceCredit, billing.InvoiceRefund} {
		want := ids[typ]
		var reference []string // the order at limit 100; smaller pages must agree with it
		for _, limit := range []int{100, 7, 1} {
			name := fmt.Sprintf("type=%s/limit=%d", orAny(string(typ), "any"), limit)
			t.Run(name, func(t *testing.T) {
				got := p.walk(t, key, bulk, string(typ), limit)
				seen := map[string]int{}
				var order []string
				for i, inv := range got {
					if prev, dup := seen[inv.ID]; dup {
						t.Errorf("%s appears at positions %d and %d", inv.ID, prev, i)
					}
					seen[inv.ID] = i
					order = append(order, inv.ID)
					if typ != "" && inv.Type != string(typ) {
						t.Errorf("filter type=%s answered %s of type %s", typ, inv.ID, inv.Type)
					}
					if i > 0 && inv.CreatedAt.After(got[i-1].CreatedAt) {
						t.Errorf("not newest first: %s (%s) after %s (%s)", inv.ID, inv.CreatedAt, got[i-1].ID, got[i-1].CreatedAt)
					}
				}
				for _, id := range want {
					if _, ok := seen[id]; !ok {
						t.Errorf("invoice %s never listed", id)
					}
				}
				if len(got) != len(want) {
					t.Errorf("listed %d invoices, the account has %d", len(got), len(want))
				}
				if reference == nil {
					reference = order
				} else if !slices.Equal(order, reference) {
					t.Errorf("limit %d lists invoices in another order than limit 100", limit)
				}
			})
		}
	}

	t.Run("default page is 25, the last page has has_more false", func(t *testing.T) {
		var page readInvoicePage
		p.get(t, key, bulk+"/invoices", &page)
		if len(page.Data) != billing.DefaultPageLimit || !page.HasMore {
			t.Fatalf("first page: %d invoices, has_more %v; want 25 and true", len(page.Data), page.HasMore)
		}
		all := p.walk(t, key, bulk, "", 100)
		var last readInvoicePage
		p.get(t, key, bulk+"/invoices?starting_after="+all[len(all)-1].ID, &last)
		if len(last.Data) != 0 || last.HasMore {
			t.Fatalf("after the oldest invoice: %d invoices, has_more %v; want none", len(last.Data), last.HasMore)
		}
	})
}

func orAny(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestReadRoutesAnswerEveryErrorInTheContractShape(t *testing.T) {
	p := startReadServer(t)
	demoInvoices := p.allInvoices(t, readDemoKey, readDemo)
	otherInvoices := p.allInvoices(t, readOtherKey, readOther)
	var withItems, another readInvoice
	p.get(t, readDemoKey, readDemo+"/invoices/"+demoInvoices[0].ID, &withItems)
	p.get(t, readDemoKey, readDemo+"/invoices/"+demoInvoices[1].ID, &another)
	if len(withItems.Items) == 0 || len(another.Items) == 0 {
		t.Fatal("seeded invoices have no items")
	}
	inv := readDemo + "/invoices/" + withItems.ID
	card := []byte(`{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"Ada"},` +
		`"use_company_info":true,"contact_email":"ada@demo.example"}`)

	cases := []struct {
		name             string
		req              readRequest
		status           int
		typ, code, param string
	}{
		{name: "no key", req: readRequest{path: readDemo + "/invoices"},
			status: 401, typ: "authentication", code: billing.CodeMissingKey},
		{name: "unknown key", req: readRequest{path: readDemo + "/invoices", auth: "not_a_key"},
			status: 401, typ: "authentication", code: billing.CodeInvalidKey},
		{name: "not a bearer key", req: readRequest{path: readDemo + "/billing-summary", auth: "Basic " + readDemoKey},
			status: 401, typ: "authentication", code: billing.CodeInvalidKey},
		{name: "customer on the rep list", req: readRequest{path: "/v1/rep/payment-methods?status=pending_validation", auth: readDemoKey},
			status: 403, typ: "authorization", code: billing.CodeRepOnly},
		{name: "customer deciding as a rep", req: readRequest{method: "POST", path: "/v1/rep/payment-methods/pm_x/decision", auth: readDemoKey,
			body: []byte(`{"decision":"approve"}`)},
			status: 403, typ: "authorization", code: billing.CodeRepOnly},
		{name: "rep acting for a customer", req: readRequest{method: "POST", path: readDemo + "/payment-methods", auth: readRepKey, body: card},
			status: 403, typ: "authorization", code: billing.CodeCustomerOnly},
		{name: "another account", req: readRequest{path: readOther + "/invoices", auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "unknown account", req: readRequest{path: "/v1/accounts/acct_nope/billing-summary", auth: readRepKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "unknown invoice", req: readRequest{path: readDemo + "/invoices/inv_doesnotexist", auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "another account's invoice under my account", req: readRequest{path: readDemo + "/invoices/" + otherInvoices[0].ID, auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "unknown item", req: readRequest{path: inv + "/items/ii_doesnotexist", auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "item of another invoice", req: readRequest{path: inv + "/items/" + another.Items[0].ID, auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "unknown route", req: readRequest{path: "/v1/nothing-here", auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "unknown route under an account", req: readRequest{path: readDemo + "/invoices/" + withItems.ID + "/nothing", auth: readDemoKey},
			status: 404, typ: "not_found", code: billing.CodeNotFound},
		{name: "limit 0", req: readRequest{path: readDemo + "/invoices?limit=0", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidLimit, param: "limit"},
		{name: "limit 101", req: readRequest{path: readDemo + "/invoices?limit=101", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidLimit, param: "limit"},
		{name: "limit -1", req: readRequest{path: readDemo + "/invoices?limit=-1", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidLimit, param: "limit"},
		{name: "limit not a number", req: readRequest{path: readDemo + "/invoices?limit=ten", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidLimit, param: "limit"},
		{name: "limit empty", req: readRequest{path: readDemo + "/invoices?limit=", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidLimit, param: "limit"},
		{name: "unknown type", req: readRequest{path: readDemo + "/invoices?type=subscription", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidValue, param: "type"},
		{name: "empty starting_after", req: readRequest{path: readDemo + "/invoices?starting_after=", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidCursor, param: "starting_after"},
		{name: "unknown starting_after", req: readRequest{path: readDemo + "/invoices?starting_after=inv_doesnotexist", auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidCursor, param: "starting_after"},
		{name: "another account's invoice as starting_after", req: readRequest{path: readDemo + "/invoices?starting_after=" + otherInvoices[0].ID, auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidCursor, param: "starting_after"},
		{name: "overlong starting_after", req: readRequest{path: readDemo + "/invoices?starting_after=inv_" + strings.Repeat("a", 100), auth: readDemoKey},
			status: 422, typ: "invalid_request", code: billing.CodeInvalidCursor, param: "starting_after"},
		{name: "body over 64 KiB", req: readRequest{method: "POST", path: readDemo + "/payment-methods", auth: readDemoKey,
			body: append(append([]byte(`{"contact_email":"`), bytes.Repeat([]byte("a"), 64<<10)...), `"}`...)},
			status: 413, typ: "invalid_request", code: billing.CodeBodyTooLarge},
		{name: "method not allowed", req: readRequest{method: "DELETE", path: readDemo + "/invoices", auth: readDemoKey},
			status: 405, typ: "invalid_request", code: "method_not_allowed"},
		{name: "malformed JSON", req: readRequest{method: "POST", path: readDemo + "/payment-methods", auth: readDemoKey, body: []byte(`{"card": {"number": "4242`)},
			status: 400, typ: "invalid_request", code: billing.CodeMalformedJSON},
		{name: "unknown field", req: readRequest{method: "POST", path: readDemo + "/payment-methods", auth: readDemoKey, body: []byte(`{"cardd": {}}`)},
			status: 400, typ: "invalid_request", code: billing.CodeUnknownField, param: "cardd"},
		{name: "wrong type", req: readRequest{method: "POST", path: readDemo + "/payment-methods", auth: readDemoKey, body: []byte(`{"eu_supported": "yes"}`)},
			status: 400, typ: "invalid_request", code: billing.CodeWrongType, param: "eu_supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.method == "" {
				tc.req.method = http.MethodGet
			}
			resp, raw := p.send(t, tc.req)
			wantContractError(t, tc.req, resp, raw, tc.status, tc.typ, tc.code, tc.param)
		})
	}
}

func TestRateLimitAnswers429PerKey(t *testing.T) {
	p := startReadServer(t, api.RateLimits{PerSecond: 0.001, Burst: 2})
	r := readRequest{path: readDemo + "/billing-summary", auth: readDemoKey}
	for i := range 2 {
		if resp, raw := p.send(t, r); resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d within the burst: status %d; body %s", i+1, resp.StatusCode, raw)
		}
	}
	resp, raw := p.send(t, r)
	wantContractError(t, r, resp, raw, 429, "rate_limited", billing.CodeRateLimited, "")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another key has its own bucket: one noisy customer does not lock out the others.
	if resp, raw := p.send(t, readRequest{path: readOther + "/billing-summary", auth: readOtherKey}); resp.StatusCode != http.StatusOK {
		t.Fatalf("another key after the first was limited: status %d; body %s", resp.StatusCode, raw)
	}
}

func TestCustomersSeeOnlyTheirOwnAccount(t *testing.T) {
	p := startReadServer(t)
	demoInvoices := p.allInvoices(t, readDemoKey, readDemo)
	var inv readInvoice
	p.get(t, readDemoKey, readDemo+"/invoices/"+demoInvoices[0].ID, &inv)
	itemPath := readDemo + "/invoices/" + inv.ID + "/items/" + inv.Items[0].ID
	card := []byte(`{"card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"Eve"},` +
		`"use_company_info":true,"contact_email":"eve@other.example"}`)
	payment := []byte(`{"amount":100,"currency":"USD","method":"paypal"}`)

	// Every customer route of acct_demo, asked with acct_other's key.
	routes := []readRequest{
		{path: readDemo + "/billing-summary"},
		{path: readDemo + "/invoices"},
		{path: readDemo + "/invoices?type=recurring&limit=1"},
		{path: readDemo + "/invoices/" + inv.ID},
		{path: itemPath},
		{path: readDemo + "/invoices/" + inv.ID + "/pdf"},
		{method: "POST", path: readDemo + "/payment-methods", body: card},
		{path: readDemo + "/payment-methods"},
		{path: readDemo + "/payment-methods/pm_doesnotexist"},
		{method: "POST", path: readDemo + "/payments", body: payment, header: map[string]string{"Idempotency-Key": "isolation-1"}},
		{path: readDemo + "/payments"},
		{path: readDemo + "/payments/pay_doesnotexist"},
		{method: "POST", path: readDemo + "/payments/pay_doesnotexist/cancel"},
	}
	// The answer for an account that does not exist at all: acct_demo's must be the same.
	_, nobody := p.send(t, readRequest{path: "/v1/accounts/acct_doesnotexist/billing-summary", auth: readOtherKey})
	for _, r := range routes {
		r.auth = readOtherKey
		if r.method == "" {
			r.method = http.MethodGet
		}
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			resp, raw := p.send(t, r)
			wantContractError(t, r, resp, raw, 404, "not_found", billing.CodeNotFound, "")
			if !bytes.Equal(raw, nobody) {
				t.Errorf("answer differs from a missing account's, so it reveals acct_demo exists:\n got %s\nwant %s", raw, nobody)
			}
		})
	}

	t.Run("a demo invoice asked through acct_other", func(t *testing.T) {
		r := readRequest{path: readOther + "/invoices/" + inv.ID, auth: readOtherKey, method: "GET"}
		resp, raw := p.send(t, r)
		wantContractError(t, r, resp, raw, 404, "not_found", billing.CodeNotFound, "")
	})
	t.Run("lists hold only the account's own invoices", func(t *testing.T) {
		mine := map[string]bool{}
		for _, inv := range demoInvoices {
			mine[inv.ID] = true
			if inv.Currency != "USD" {
				t.Errorf("acct_demo lists %s in %s", inv.ID, inv.Currency)
			}
		}
		for _, inv := range p.allInvoices(t, readOtherKey, readOther) {
			if mine[inv.ID] {
				t.Errorf("%s is listed for both accounts", inv.ID)
			}
		}
	})
	t.Run("reps read any account", func(t *testing.T) {
		var page readInvoicePage
		p.get(t, readRepKey, readDemo+"/invoices", &page)
		if len(page.Data) == 0 {
			t.Fatal("rep sees no invoices of acct_demo")
		}
	})
}

func TestBillingSummaryAddsUpTheLedgerAndTheNextInvoice(t *testing.T) {
	p := startReadServer(t)
	ctx := context.Background()

	// What the seeded charges bill each month: acct_demo 2 × 43.20 + 500 × 0.10 + 99.00 = 235.40
	// plus 8 % tax (18.83); acct_other 21.60 + 15.00 = 36.60 plus 20 % (7.32).
	cases := []struct {
		key, path, account, currency string
		nextInvoice                  int64
		previous, next               string
	}{
		{readDemoKey, readDemo, devdata.DemoAccountID, "USD", 25423, "2026-03-01", "2026-04-01"},
		{readOtherKey, readOther, devdata.OtherAccountID, "EUR", 4392, "2026-02-15", "2026-03-15"},
	}
	for _, tc := range cases {
		t.Run(tc.account, func(t *testing.T) {
			var s readSummary
			p.get(t, tc.key, tc.path+"/billing-summary", &s)

			var ledger int64
			if err := p.db.Pool.QueryRow(ctx, `SELECT sum(amount) FROM ledger_entries WHERE account_id = $1`, tc.account).Scan(&ledger); err != nil {
				t.Fatal(err)
			}
			// The balance the customer can check against their invoices: what was billed less
			// what was paid.
			var owed int64
			for _, inv := range p.allInvoices(t, tc.key, tc.path) {
				if inv.Status != "void" {
					owed += inv.Total - inv.AmountPaid
				}
			}
			if s.AccountID != tc.account || s.Currency != tc.currency {
				t.Errorf("summary of %s in %s, want %s in %s", s.AccountID, s.Currency, tc.account, tc.currency)
			}
			if s.CurrentBalance <= 0 || s.CurrentBalance != ledger || s.CurrentBalance != owed {
				t.Errorf("current_balance %d; ledger sum %d; invoices billed less paid %d (want all equal and positive)",
					s.CurrentBalance, ledger, owed)
			}
			if s.EstimatedNextBalance != s.CurrentBalance+tc.nextInvoice {
				t.Errorf("estimated_next_balance %d, want balance %d + next recurring invoice %d",
					s.EstimatedNextBalance, s.CurrentBalance, tc.nextInvoice)
			}
			if s.PreviousRecurringInvoiceDate == nil || *s.PreviousRecurringInvoiceDate != tc.previous {
				t.Errorf("previous_recurring_invoice_date %v, want %s", dateOf(s.PreviousRecurringInvoiceDate), tc.previous)
			}
			if s.NextRecurringInvoiceDate != tc.next {
				t.Errorf("next_recurring_invoice_date %s, want %s", s.NextRecurringInvoiceDate, tc.next)
			}
			if s.PaymentMethod != nil {
				t.Errorf("payment_method %+v, want null before any card is validated", *s.PaymentMethod)
			}

			// The estimate is the invoice the next run will issue: the latest recurring one was
			// built from the same charges, so it has the same total.
			var latest readInvoicePage
			p.get(t, tc.key, tc.path+"/invoices?type=recurring&limit=1", &latest)
			if len(latest.Data) != 1 || latest.Data[0].Total != tc.nextInvoice {
				t.Errorf("latest recurring invoice %+v, want total %d", latest.Data, tc.nextInvoice)
			}
		})
	}

	t.Run("the validated monthly card is shown, without its token", func(t *testing.T) {
		_, err := p.db.Pool.Exec(ctx, `INSERT INTO payment_methods (id, account_id, status, processor_token, brand, last4,
			exp_month, exp_year, holder_name, contact_email, address_line1, city, postal_code, country, created_at,
			validation_deadline, decided_at, workflow_id)
			VALUES ('pm_summary', 'acct_demo', 'validated', 'tok_secret_summary', 'visa', '4242', 12, 2030, 'Ada',
			'ada@demo.example', '100 Market Street', 'San Francisco', '94105', 'US', $1, $2, $1, 'card-validation/pm_summary')`,
			readNow, readNow.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.db.Pool.Exec(ctx, `INSERT INTO monthly_payment_methods (account_id, payment_method_id, since)
			VALUES ('acct_demo', 'pm_summary', $1)`, readNow); err != nil {
			t.Fatal(err)
		}
		resp, raw := p.send(t, readRequest{path: readDemo + "/billing-summary", auth: readDemoKey})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d; body %s", resp.StatusCode, raw)
		}
		var s readSummary
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		pm := s.PaymentMethod
		if pm == nil || pm.ID != "pm_summary" || pm.Brand != "visa" || pm.Last4 != "4242" || pm.ExpMonth != 12 || pm.ExpYear != 2030 {
			t.Errorf("payment_method %+v, want pm_summary visa 4242 12/2030", pm)
		}
		if bytes.Contains(raw, []byte("tok_secret_summary")) {
			t.Errorf("the summary reveals the processor token: %s", raw)
		}
	})
}

func dateOf(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}

func TestInvoicesAndItemsShowWhatWasBilled(t *testing.T) {
	p := startReadServer(t)
	invoices := p.allInvoices(t, readDemoKey, readDemo)

	t.Run("acct_demo has invoices of all five types, with the contract's fields", func(t *testing.T) {
		types := map[string]int{}
		for _, inv := range invoices {
			types[inv.Type]++
			if inv.Total != inv.Subtotal+inv.Tax {
				t.Errorf("%s: total %d != subtotal %d + tax %d", inv.Number, inv.Total, inv.Subtotal, inv.Tax)
			}
			negative := inv.Type == "credit" || inv.Type == "refund"
			if negative != (inv.Total < 0) {
				t.Errorf("%s (%s) has total %d", inv.Number, inv.Type, inv.Total)
			}
			if inv.AmountDue < 0 || inv.AmountDue > max(inv.Total-inv.AmountPaid, 0) {
				t.Errorf("%s: amount_due %d with total %d and amount_paid %d", inv.Number, inv.AmountDue, inv.Total, inv.AmountPaid)
			}
			if !strings.HasPrefix(inv.ID, "inv_") || inv.Number == "" || inv.CreatedAt.Location() != time.UTC {
				t.Errorf("invoice %+v: want an inv_ id, a number and a UTC created_at", inv)
			}
		}
		for _, typ := range billing.InvoiceTypes {
			if types[string(typ)] == 0 {
				t.Errorf("no %s invoice; listed %v", typ, types)
			}
		}
		if types["recurring"] != 6 {
			t.Errorf("%d recurring invoices, want one a month for 6 months", types["recurring"])
		}
		var raw struct {
			Data []map[string]any `json:"data"`
		}
		p.get(t, readDemoKey, readDemo+"/invoices?limit=1", &raw)
		for _, field := range []string{"id", "number", "type", "status", "created_at", "currency", "subtotal", "tax",
			"total", "amount_paid", "amount_due"} {
			if _, ok := raw.Data[0][field]; !ok {
				t.Errorf("listed invoice lacks %q: %v", field, raw.Data[0])
			}
		}
	})

	t.Run("the latest recurring invoice itemizes February", func(t *testing.T) {
		var page readInvoicePage
		p.get(t, readDemoKey, readDemo+"/invoices?type=recurring&limit=1", &page)
		var inv readInvoice
		p.get(t, readDemoKey, readDemo+"/invoices/"+page.Data[0].ID, &inv)
		if inv.Status != "open" || inv.AmountDue != inv.Total || inv.AmountPaid != 0 {
			t.Errorf("latest recurring invoice is %s with %d due of %d; want open and fully due", inv.Status, inv.AmountDue, inv.Total)
		}
		if dateOf(inv.PeriodStart) != "2026-02-01" || dateOf(inv.PeriodEnd) != "2026-02-28" {
			t.Errorf("period %s..%s, want 2026-02-01..2026-02-28", dateOf(inv.PeriodStart), dateOf(inv.PeriodEnd))
		}
		if !inv.CreatedAt.Equal(time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)) {
			t.Errorf("issued at %s, want 2026-03-01T06:00:00Z", inv.CreatedAt)
		}
		var sum int64
		categories := map[string]readItem{}
		for _, it := range inv.Items {
			sum += it.Amount
			categories[it.Category] = it
			if it.Amount != it.Quantity*it.UnitAmount {
				t.Errorf("item %s: %d × %d != %d", it.Description, it.Quantity, it.UnitAmount, it.Amount)
			}
			if dateOf(it.PeriodStart) != "2026-02-01" || dateOf(it.PeriodEnd) != "2026-02-28" {
				t.Errorf("item %s period %s..%s", it.Description, dateOf(it.PeriodStart), dateOf(it.PeriodEnd))
			}
			if len(it.Details) != 0 {
				t.Errorf("item %s carries details in the invoice; they belong to the item route", it.ID)
			}
		}
		if len(inv.Items) != 3 || sum != inv.Subtotal || inv.Subtotal != 23540 || inv.Tax != 1883 {
			t.Errorf("%d items summing to %d; subtotal %d, tax %d; want 3 items, 23540 and 1883", len(inv.Items), sum, inv.Subtotal, inv.Tax)
		}

		compute, ok := categories["compute"]
		if !ok {
			t.Fatalf("no compute item in %+v", inv.Items)
		}
		var item readItem
		p.get(t, readDemoKey, readDemo+"/invoices/"+inv.ID+"/items/"+compute.ID, &item)
		if item.ID != compute.ID || item.Description != "Virtual server c2.medium" || item.Quantity != 2 || item.UnitAmount != 4320 {
			t.Errorf("item %+v, want 2 × Virtual server c2.medium at 4320", item)
		}
		var detailSum int64
		var resources []string
		for _, d := range item.Details {
			detailSum += d.Amount
			resources = append(resources, d.ResourceName)
			if d.Unit != "hours" || d.Quantity != 720 || d.UnitAmount != 6 || d.Amount != 4320 || !strings.HasPrefix(d.ID, "iid_") {
				t.Errorf("detail %+v, want 720 hours at 6 = 4320", d)
			}
		}
		if !slices.Equal(resources, []string{"web-01", "web-02"}) || detailSum != item.Amount {
			t.Errorf("details on %v sum to %d; want web-01 and web-02 summing to the item's %d", resources, detailSum, item.Amount)
		}
	})

	t.Run("credits and refunds carry negative totals", func(t *testing.T) {
		for _, typ := range []string{"credit", "refund"} {
			var page readInvoicePage
			p.get(t, readDemoKey, readDemo+"/invoices?type="+typ, &page)
			if len(page.Data) == 0 {
				t.Fatalf("no %s invoice", typ)
			}
			var inv readInvoice
			p.get(t, readDemoKey, readDemo+"/invoices/"+page.Data[0].ID, &inv)
			if inv.Total >= 0 || inv.AmountDue != 0 || len(inv.Items) == 0 || inv.Items[0].Amount >= 0 {
				t.Errorf("%s invoice %+v: want a negative total and item, nothing due", typ, inv)
			}
		}
	})
}

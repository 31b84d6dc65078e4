package api_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/testenv"
)

var invoiceCSVHeader = []string{"id", "number", "type", "status", "issue_date", "period_start", "period_end",
	"currency", "subtotal", "tax", "total", "amount_paid", "amount_due"}

// csvExport downloads path and answers the response and the parsed records.
func (p *readServer) csvExport(t *testing.T, key, path string, header map[string]string) (*http.Response, []byte, [][]string) {
	t.Helper()
	resp, raw := testenv.Do(t, p.base, testenv.Request{Path: path, Key: key, Header: header})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, raw)
	}
	records, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatalf("GET %s: not CSV: %v", path, err)
	}
	return resp, raw, records
}

// cents writes minor units of a two-decimal currency as the export should.
func cents(a int64) string {
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	return fmt.Sprintf("%s%d.%02d", sign, a/100, a%100)
}

// TestInvoicesCSVStreamsEveryInvoice: 1,000 invoices come out as one streamed CSV (chunked,
// no Content-Length), header row first, every invoice once in the JSON list's order, each
// row saying what the JSON says; Accept: text/csv on the list gives the same file; filters
// apply; the pagination parameters and someone else's account are refused.
func TestInvoicesCSVStreamsEveryInvoice(t *testing.T) {
	p := startListServer(t)
	key, ids := addBulkAccount(t, p.db, 1000)
	bulk := "/v1/accounts/acct_bulk"

	var list []readInvoice // the JSON list, newest first
	for cursor := ""; ; {
		var page readInvoicePage
		path := bulk + "/invoices?limit=100"
		if cursor != "" {
			path += "&starting_after=" + cursor
		}
		p.get(t, key, path, &page)
		list = append(list, page.Data...)
		if !page.HasMore {
			break
		}
		cursor = page.Data[len(page.Data)-1].ID
	}

	resp, raw, records := p.csvExport(t, key, bulk+"/invoices.csv", nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename=invoices-acct_bulk.csv` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if resp.ContentLength != -1 || !slices.Equal(resp.TransferEncoding, []string{"chunked"}) {
		t.Errorf("Content-Length %d, Transfer-Encoding %v: want a chunked stream of unknown length", resp.ContentLength, resp.TransferEncoding)
	}
	if !slices.Equal(records[0], invoiceCSVHeader) {
		t.Fatalf("header row %v, want %v", records[0], invoiceCSVHeader)
	}
	rows := records[1:]
	if len(rows) != 1000 || len(list) != 1000 {
		t.Fatalf("%d rows and %d invoices in the JSON list, want 1000 each", len(rows), len(list))
	}
	for i, row := range rows {
		inv := list[i]
		want := []string{inv.ID, inv.Number, inv.Type, inv.Status, inv.CreatedAt.UTC().Format(time.DateOnly),
			deref(inv.PeriodStart), deref(inv.PeriodEnd), inv.Currency, cents(inv.Subtotal), cents(inv.Tax), cents(inv.Total),
			cents(inv.AmountPaid), cents(inv.AmountDue)}
		if !slices.Equal(row, want) {
			t.Fatalf("row %d is %v, want %v (the JSON list's invoice %d)", i+1, row, want, i)
		}
	}
	if last := rows[999]; !slices.Contains(ids[""][:5], last[0]) || last[10] != cents(1000+int64(slices.Index(ids[""], last[0]))) {
		t.Errorf("the last row is %v, want one of the five oldest invoices, with its total", last)
	}

	t.Run("Accept: text/csv on the list is the same file", func(t *testing.T) {
		for _, accept := range []string{"text/csv", "application/json;q=0.5, text/csv", "text/csv;q=0.9, */*;q=0.1"} {
			_, again, _ := p.csvExport(t, key, bulk+"/invoices", map[string]string{"Accept": accept})
			if !bytes.Equal(again, raw) {
				t.Errorf("Accept %q: another file than invoices.csv", accept)
			}
		}
		for _, accept := range []string{"application/json", "*/*", "application/json, text/csv;q=0.5", "text/csv;q=0"} {
			resp, _ := testenv.Do(t, p.base, testenv.Request{Path: bulk + "/invoices", Key: key, Header: map[string]string{"Accept": accept}})
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("Accept %q: %d %s, want the JSON list", accept, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("filters", func(t *testing.T) {
		base := readNow.AddDate(-1, 0, 0) // addBulkAccount: invoice i at base + i/5 hours
		q := url.Values{"type": {"credit"}, "created[gte]": {base.Add(20 * time.Hour).Format(time.RFC3339)},
			"created[lt]": {base.Add(40 * time.Hour).Format(time.RFC3339)}}
		_, _, records := p.csvExport(t, key, bulk+"/invoices.csv?"+q.Encode(), nil)
		var want []string // credits are invoices 30-39, 80-89, ...; created in [20 h, 40 h): 100-199
		for _, inv := range list {
			if inv.Type == "credit" && slices.Contains(ids[""][100:200], inv.ID) {
				want = append(want, inv.ID)
			}
		}
		var got []string
		for _, r := range records[1:] {
			got = append(got, r[0])
			if r[2] != "credit" || r[10][0] != '-' {
				t.Errorf("row %v: want a credit with a negative total", r)
			}
		}
		if len(want) != 20 || !slices.Equal(got, want) {
			t.Errorf("credits created in [20 h, 40 h): %v, want %v", got, want)
		}
		_, _, none := p.csvExport(t, key, bulk+"/invoices.csv?created[lt]="+url.QueryEscape(base.Format(time.RFC3339)), nil)
		if len(none) != 1 || !slices.Equal(none[0], invoiceCSVHeader) {
			t.Errorf("no invoice matches: %v, want the header row alone", none)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			r                readRequest
			status           int
			typ, code, param string
		}{
			{readRequest{path: bulk + "/invoices.csv?limit=5", auth: key}, 422, "invalid_request", billing.CodeInvalidValue, "limit"},
			{readRequest{path: bulk + "/invoices?starting_after=" + list[0].ID, auth: key, header: map[string]string{"Accept": "text/csv"}},
				422, "invalid_request", billing.CodeInvalidValue, "starting_after"},
			{readRequest{path: bulk + "/invoices.csv?type=bill", auth: key}, 422, "invalid_request", billing.CodeInvalidValue, "type"},
			{readRequest{path: bulk + "/invoices.csv?created[gte]=soon", auth: key}, 422, "invalid_request", billing.CodeInvalidCreated, "created[gte]"},
			{readRequest{path: bulk + "/invoices.csv"}, 401, "authentication", billing.CodeMissingKey, ""},
			{readRequest{path: bulk + "/invoices.csv", auth: readDemoKey}, 404, "not_found", billing.CodeNotFound, ""},
		} {
			resp, raw := p.send(t, tc.r)
			wantContractError(t, tc.r, resp, raw, tc.status, tc.typ, tc.code, tc.param)
		}
		// The invoice route beside it still answers one invoice.
		var one readInvoice
		p.get(t, key, bulk+"/invoices/"+list[0].ID, &one)
		if one.ID != list[0].ID {
			t.Errorf("GET /invoices/%s answered %s", list[0].ID, one.ID)
		}
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// brokenExport hands over one batch, then fails as a database gone mid-export would.
type brokenExport struct{ strictBilling }

func (brokenExport) EachInvoiceBatch(_ context.Context, accountID string, _ billing.InvoiceType, _ billing.CreatedRange,
	fn func([]billing.Invoice) error) error {
	batch := make([]billing.Invoice, 500)
	for i := range batch {
		batch[i] = billing.Invoice{ID: fmt.Sprintf("inv_%04d", i), AccountID: accountID, Number: "INV-1", Type: billing.InvoiceNew,
			Status: billing.InvoiceOpen, Currency: "USD", Total: 100, Subtotal: 100, CreatedAt: readNow}
	}
	if err := fn(batch); err != nil {
		return err
	}
	return errors.New("conn closed")
}

// TestInvoicesCSVBrokenOffIsNoCompleteFile: when the database fails after rows went out, the
// client gets a broken transfer, not a 200 whose short file reads as complete.
func TestInvoicesCSVBrokenOffIsNoCompleteFile(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1_000_000}, func(srv *api.Server) { srv.Billing = brokenExport{} })
	req, err := http.NewRequest(http.MethodGet, s.base+"/v1/accounts/acct_demo/invoices.csv", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer cust")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("inv_0000")) {
		t.Fatalf("%d with %d bytes, want 200 and the first batch", resp.StatusCode, len(body))
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("reading the export ended with %v, want io.ErrUnexpectedEOF (the connection cut)", err)
	}
}

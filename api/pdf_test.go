package api_test

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/pdfstore"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// pdfAPI serves the read routes and the PDF route over a fresh, seeded database.
func pdfAPI(t *testing.T) (*httptest.Server, *postgres.DB) {
	t.Helper()
	db, _ := testenv.Database(t)
	clock := &billing.FixedClock{T: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	if _, err := devdata.Seed(context.Background(), db, clock.Now()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	srv := &api.Server{
		Auth:    db,
		Billing: &portal.Billing{DB: db, Clock: clock},
		PDFs:    &portal.InvoicePDFs{Store: &pdfstore.Store{DB: db, Clock: clock}},
		Logger:  testenv.Logger(io.Discard),
	}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	return ts, db
}

func pdfGet(t *testing.T, url, key string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	return testenv.Do(t, url, testenv.Request{Key: key, Header: header})
}

type pdfInvoiceRef struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Type   string `json:"type"`
}

// pdfFirstInvoice finds one of the account's invoices of typ through the API, as a portal would.
func pdfFirstInvoice(t *testing.T, base, accountID, key, typ string) pdfInvoiceRef {
	t.Helper()
	resp, body := pdfGet(t, base+"/v1/accounts/"+accountID+"/invoices?type="+typ, key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list invoices: %d %s", resp.StatusCode, body)
	}
	var list struct{ Data []pdfInvoiceRef }
	if err := json.Unmarshal(body, &list); err != nil || len(list.Data) == 0 {
		t.Fatalf("no %s invoice in %s (%v)", typ, body, err)
	}
	return list.Data[0]
}

func pdfToText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		testenv.Unavailable(t, "pdftotext not found (apt-get install poppler-utils)")
	}
	file := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", file, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

func pdfMustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q:\n%s", w, text)
		}
	}
}

func TestInvoicePDFDownload(t *testing.T) {
	ts, _ := pdfAPI(t)
	inv := pdfFirstInvoice(t, ts.URL, devdata.DemoAccountID, devdata.DemoCustomerKey, "recurring")
	url := ts.URL + "/v1/accounts/" + devdata.DemoAccountID + "/invoices/" + inv.ID + "/pdf"

	resp, body := pdfGet(t, url, devdata.DemoCustomerKey, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" {
		t.Errorf("Content-Type = %q, want application/pdf", ct)
	}
	disposition, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if err != nil || disposition != "attachment" || params["filename"] != inv.Number+".pdf" {
		t.Errorf("Content-Disposition = %q, want attachment; filename=%q", resp.Header.Get("Content-Disposition"), inv.Number+".pdf")
	}
	if !strings.HasPrefix(string(body), "%PDF-") {
		t.Fatalf("body is not a PDF: %.20q", body)
	}
	text := pdfToText(t, body)
	pdfMustContain(t, text, inv.Number, "Invoice", "Recurring", "Demo Corp", "Virtual server c2.medium", "Amount due")

	// The second download is the stored file, byte for byte, and a client holding it can
	// revalidate without downloading it again.
	resp2, body2 := pdfGet(t, url, devdata.DemoCustomerKey, nil)
	if resp2.StatusCode != http.StatusOK || string(body2) != string(body) {
		t.Errorf("second download differs (status %d)", resp2.StatusCode)
	}
	resp3, _ := pdfGet(t, url, devdata.DemoCustomerKey, map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	if resp3.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match with the current ETag: status %d, want 304", resp3.StatusCode)
	}
}

func TestInvoicePDFInFrench(t *testing.T) {
	ts, _ := pdfAPI(t)
	for _, c := range []struct{ typ, label string }{
		{"recurring", "Récurrent"},
		{"one_time", "Frais ponctuels"},
		{"credit", "Crédit"},
		{"refund", "Remboursement"},
	} {
		inv := pdfFirstInvoice(t, ts.URL, devdata.DemoAccountID, devdata.DemoCustomerKey, c.typ)
		resp, body := pdfGet(t, ts.URL+"/v1/accounts/"+devdata.DemoAccountID+"/invoices/"+inv.ID+"/pdf",
			devdata.DemoCustomerKey, map[string]string{"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.8"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", c.typ, resp.StatusCode, body)
		}
		if cl := resp.Header.Get("Content-Language"); cl != "fr" {
			t.Errorf("%s: Content-Language = %q, want fr", c.typ, cl)
		}
		text := pdfToText(t, body)
		pdfMustContain(t, text, inv.Number, "Facture", "Numéro de facture", "Montant dû", c.label)
		if strings.Contains(text, "Amount due") {
			t.Errorf("%s: French PDF still shows English labels", c.typ)
		}
	}

	// English wins when the reader prefers it, and unsupported languages fall back to it.
	inv := pdfFirstInvoice(t, ts.URL, devdata.DemoAccountID, devdata.DemoCustomerKey, "new")
	for _, header := range []string{"en-GB, fr;q=0.5", "de-DE, es;q=0.9"} {
		_, body := pdfGet(t, ts.URL+"/v1/accounts/"+devdata.DemoAccountID+"/invoices/"+inv.ID+"/pdf",
			devdata.DemoCustomerKey, map[string]string{"Accept-Language": header})
		pdfMustContain(t, pdfToText(t, body), "Invoice number", "New")
	}
}

func TestInvoicePDFOfAnotherAccountIsNotFound(t *testing.T) {
	ts, _ := pdfAPI(t)
	other := pdfFirstInvoice(t, ts.URL, devdata.OtherAccountID, devdata.OtherCustomerKey, "recurring")

	for _, url := range []string{
		// another account's invoice under the caller's own account
		ts.URL + "/v1/accounts/" + devdata.DemoAccountID + "/invoices/" + other.ID + "/pdf",
		// the other account itself
		ts.URL + "/v1/accounts/" + devdata.OtherAccountID + "/invoices/" + other.ID + "/pdf",
		// no such invoice
		ts.URL + "/v1/accounts/" + devdata.DemoAccountID + "/invoices/inv_missing/pdf",
	} {
		resp, body := pdfGet(t, url, devdata.DemoCustomerKey, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", url, resp.StatusCode)
		}
		var e struct{ Error struct{ Type string } }
		if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != "not_found" {
			t.Errorf("GET %s: body %s, want a not_found error", url, body)
		}
	}
	resp, _ := pdfGet(t, ts.URL+"/v1/accounts/"+devdata.DemoAccountID+"/invoices/"+other.ID+"/pdf", "no_such_key", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown key: status %d, want 401", resp.StatusCode)
	}
}

func TestInvoicePDFFollowsInvoiceContent(t *testing.T) {
	ts, db := pdfAPI(t)
	ctx := context.Background()
	inv := pdfFirstInvoice(t, ts.URL, devdata.DemoAccountID, devdata.DemoCustomerKey, "one_time")
	url := ts.URL + "/v1/accounts/" + devdata.DemoAccountID + "/invoices/" + inv.ID + "/pdf"

	before, body := pdfGet(t, url, devdata.DemoCustomerKey, nil)
	pdfMustContain(t, pdfToText(t, body), "Open", "Data migration service")

	// The invoice gets paid and its item renamed: the next download shows it, under a new
	// content hash, and the file that matched the old content is kept, not served.
	if _, err := db.Pool.Exec(ctx, `UPDATE invoices SET status = 'paid', amount_paid = total WHERE id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE invoice_items SET description = 'Database migration service' WHERE invoice_id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	after, body := pdfGet(t, url, devdata.DemoCustomerKey, nil)
	if after.StatusCode != http.StatusOK {
		t.Fatalf("status %d", after.StatusCode)
	}
	if before.Header.Get("ETag") == after.Header.Get("ETag") {
		t.Errorf("ETag unchanged (%s) after the invoice changed", after.Header.Get("ETag"))
	}
	text := pdfToText(t, body)
	pdfMustContain(t, text, "Paid", "Database migration service")
	if strings.Contains(text, "Data migration service") {
		t.Errorf("the PDF still shows the old item description")
	}
	n, err := db.InvoicePDFCount(ctx, inv.ID, "en")
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("stored PDFs for the invoice: %d, want 2 (one per content)", n)
	}
}

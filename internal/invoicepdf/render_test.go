package invoicepdf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

var created = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

func date(y int, m time.Month, d int) *time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return &t
}

// descriptions per invoice type; short enough to stay on one line of the table so the
// extracted text holds each one whole.
var descriptions = map[billing.InvoiceType][]string{
	billing.InvoiceNew:       {"Account setup", "Dedicated server deposit", "Hébergement géré"},
	billing.InvoiceRecurring: {"Virtual server 4 vCPU", "Block storage", "Support premium"},
	billing.InvoiceOneTime:   {"Data migration", "Extra IP addresses"},
	billing.InvoiceCredit:    {"Service credit for outage", "Goodwill credit"},
	billing.InvoiceRefund:    {"Refund of overpayment"},
}

// testDoc builds an invoice of type typ with n items (n = 0: the type's sample items),
// two details each, amounts negative for credits and refunds.
func testDoc(typ billing.InvoiceType, n int) Document {
	sign := int64(1)
	if typ.Negative() {
		sign = -1
	}
	names := descriptions[typ]
	if n == 0 {
		n = len(names)
	}
	inv := billing.Invoice{
		ID:        "inv_test",
		AccountID: "acct_demo",
		Number:    "PP-2026-000" + strconv.Itoa(len(typ)),
		Type:      typ,
		Status:    billing.InvoiceOpen,
		Currency:  "USD",
		CreatedAt: created,
	}
	if typ == billing.InvoiceRecurring {
		inv.PeriodStart, inv.PeriodEnd = date(2025, 12, 1), date(2025, 12, 31)
	}
	for i := range n {
		desc := fmt.Sprintf("Line item %04d", i+1)
		if n <= len(names) {
			desc = names[i]
		}
		unit := sign * int64(123456+i)
		it := billing.InvoiceItem{
			ID:          fmt.Sprintf("ii_%d", i),
			Description: desc,
			Category:    "compute",
			Quantity:    int64(1 + i%3),
			UnitAmount:  unit,
		}
		it.Amount = it.Quantity * unit
		if typ == billing.InvoiceRecurring {
			it.PeriodStart, it.PeriodEnd = inv.PeriodStart, inv.PeriodEnd
		}
		half := it.Amount / 2
		it.Details = []billing.ItemDetail{
			{ID: "iid_a", Description: "Compute hours", ResourceName: fmt.Sprintf("web-%02d", i%100), Quantity: 720, Unit: "hours", UnitAmount: half / 720, Amount: half},
			{ID: "iid_b", Description: "Outbound transfer", ResourceName: "lb-01", Quantity: 1500, Unit: "GB", UnitAmount: (it.Amount - half) / 1500, Amount: it.Amount - half},
		}
		inv.Items = append(inv.Items, it)
		inv.Subtotal += it.Amount
	}
	inv.Tax = billing.TaxOn(inv.Subtotal, 825)
	inv.Total = inv.Subtotal + inv.Tax
	if typ == billing.InvoiceOneTime {
		inv.Status, inv.AmountPaid = billing.InvoicePaid, inv.Total
	}
	return Document{
		Account: billing.Account{
			ID:          "acct_demo",
			CompanyName: "Démo Société Générale Ltée",
			Address: billing.Address{Line1: "1250 boulevard René-Lévesque Ouest", Line2: "Bureau 2200",
				City: "Montréal", State: "QC", PostalCode: "H3B 4W8", Country: "CA"},
			Currency:     "USD",
			ContactEmail: "billing@example.com",
		},
		Invoice: inv,
	}
}

func render(t testing.TB, doc Document, lang string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, doc, lang); err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("output does not start with %%PDF-")
	}
	return buf.Bytes()
}

// tool finds a poppler binary; CI must have it, a laptop may skip.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (apt-get install poppler-utils): %v", name, err)
		}
		t.Skipf("%s not found (apt-get install poppler-utils)", name)
	}
	return path
}

// pdfText runs pdftotext -layout; pages are separated by form feeds.
func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	bin := tool(t, "pdftotext")
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

func pdfPages(t *testing.T, pdf []byte) int {
	t.Helper()
	bin := tool(t, "pdfinfo")
	file := filepath.Join(t.TempDir(), "invoice.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("pdfinfo gave no page count:\n%s", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

func mustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
}

func TestRenderEveryTypeInBothLanguages(t *testing.T) {
	typeWords := map[string]map[billing.InvoiceType]string{
		"en": {billing.InvoiceNew: "New", billing.InvoiceRecurring: "Recurring",
			billing.InvoiceOneTime: "One-time charges", billing.InvoiceCredit: "Credit", billing.InvoiceRefund: "Refund"},
		"fr": {billing.InvoiceNew: "Nouvelle", billing.InvoiceRecurring: "Récurrent",
			billing.InvoiceOneTime: "Frais ponctuels", billing.InvoiceCredit: "Crédit", billing.InvoiceRefund: "Remboursement"},
	}
	totalsWords := map[string][]string{
		"en": {"Invoice", "Bill to", "Subtotal", "Tax", "Total", "Amount paid", "Amount due", "Page 1 / 1"},
		"fr": {"Facture", "Facturé à", "Sous-total", "Taxe", "Total", "Montant payé", "Montant dû", "Page 1 sur 1"},
	}
	for _, lang := range []string{"en", "fr"} {
		for _, typ := range billing.InvoiceTypes {
			t.Run(lang+"/"+string(typ), func(t *testing.T) {
				t.Parallel()
				doc := testDoc(typ, 0)
				inv := doc.Invoice
				text := pdfText(t, render(t, doc, lang))

				mustContain(t, text, inv.Number, typeWords[lang][typ], "Démo Société Générale Ltée", "Montréal")
				mustContain(t, text, totalsWords[lang]...)
				for _, it := range inv.Items {
					mustContain(t, text, it.Description)
					for _, d := range it.Details {
						mustContain(t, text, d.ResourceName)
					}
				}
				total := i18n.FormatMoney(lang, billing.Money{Amount: inv.Total, Currency: inv.Currency})
				mustContain(t, text, total, i18n.FormatDate(lang, inv.CreatedAt))
				if typ.Negative() != strings.HasPrefix(total, "-") {
					t.Errorf("total %q: want a minus sign exactly for credits and refunds", total)
				}
				if typ == billing.InvoiceRecurring {
					// The item's period column breaks after the dash; the header has room for one line.
					mustContain(t, text, i18n.FormatDate(lang, *inv.PeriodStart)+" –", i18n.FormatDate(lang, *inv.PeriodEnd))
				}
				if lang == "fr" {
					mustContain(t, text, "heures", "Période", "Quantité", "Prix unitaire", "Statut")
				}
			})
		}
	}
}

func TestRenderStatusLabels(t *testing.T) {
	want := map[string]map[billing.InvoiceStatus]string{
		"en": {billing.InvoiceOpen: "Open", billing.InvoicePaid: "Paid", billing.InvoiceVoid: "Void"},
		"fr": {billing.InvoiceOpen: "Ouverte", billing.InvoicePaid: "Payée", billing.InvoiceVoid: "Annulée"},
	}
	for lang, byStatus := range want {
		for status, word := range byStatus {
			doc := testDoc(billing.InvoiceNew, 0)
			doc.Invoice.Status = status
			text := pdfText(t, render(t, doc, lang))
			if !regexp.MustCompile(`(Status|Statut)\s+` + regexp.QuoteMeta(word)).MatchString(text) {
				t.Errorf("%s %s: status %q not printed", lang, status, word)
			}
		}
	}
}

func TestRenderLongTableFlowsAcrossPages(t *testing.T) {
	for lang, pageWord := range map[string]string{"en": "/", "fr": "sur"} {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			doc := testDoc(billing.InvoiceRecurring, 500)
			pdf := render(t, doc, lang)
			n := pdfPages(t, pdf)
			if n < 2 {
				t.Fatalf("500 items on %d page(s)", n)
			}
			pages := strings.Split(strings.TrimRight(pdfText(t, pdf), "\f"), "\f")
			if len(pages) != n {
				t.Fatalf("pdftotext gave %d pages, pdfinfo %d", len(pages), n)
			}
			header := labelsFor(i18n.Lang(lang)).columns
			for i, page := range pages {
				mustContain(t, page, fmt.Sprintf("Page %d %s %d", i+1, pageWord, n))
				// The table header is repeated on every page the table reaches; the last
				// page may hold only the totals.
				if strings.Contains(page, "Line item") {
					mustContain(t, page, header[:]...)
				}
			}
			// Every row made it through the page breaks, in order.
			text := strings.Join(pages, "\n")
			last := -1
			for _, it := range doc.Invoice.Items {
				at := strings.Index(text, it.Description)
				if at < 0 {
					t.Fatalf("%q missing", it.Description)
				}
				if at < last {
					t.Fatalf("%q out of order", it.Description)
				}
				last = at
			}
			mustContain(t, pages[n-1], i18n.FormatMoney(lang, billing.Money{Amount: doc.Invoice.Total, Currency: "USD"}))
		})
	}
}

func TestRenderWrapsLongDescriptions(t *testing.T) {
	doc := testDoc(billing.InvoiceOneTime, 0)
	long := "Emergency weekend migration of the primary database cluster to the new region, " +
		"including replication setup, cut-over rehearsal and a full rollback plan signed off by the customer"
	doc.Invoice.Items[0].Description = long
	text := pdfText(t, render(t, doc, "en"))
	for _, word := range strings.Fields(long) {
		mustContain(t, text, word)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	doc := testDoc(billing.InvoiceRecurring, 40)
	a := render(t, doc, "fr")
	b := render(t, doc, "fr")
	if !bytes.Equal(a, b) {
		t.Fatal("same invoice rendered to different bytes")
	}
	// The metadata dates come from the invoice, not the clock.
	for _, key := range []string{"/CreationDate (D:20260102150405)", "/ModDate (D:20260102150405)"} {
		if !bytes.Contains(a, []byte(key)) {
			t.Errorf("PDF lacks %s", key)
		}
	}
	// Unknown languages are English.
	if !bytes.Equal(render(t, doc, "de"), render(t, doc, "en")) {
		t.Error(`Render(lang "de") differs from "en"`)
	}
}

func TestContentHash(t *testing.T) {
	base := testDoc(billing.InvoiceRecurring, 3)
	h := ContentHash(base, "en")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("ContentHash = %q, want 64 hex digits", h)
	}
	if ContentHash(testDoc(billing.InvoiceRecurring, 3), "en") != h {
		t.Fatal("ContentHash differs for equal documents")
	}

	changed := map[string]func(d *Document){
		"item amount":        func(d *Document) { d.Invoice.Items[1].Amount++ },
		"item unit amount":   func(d *Document) { d.Invoice.Items[1].UnitAmount++ },
		"item description":   func(d *Document) { d.Invoice.Items[0].Description += "." },
		"detail amount":      func(d *Document) { d.Invoice.Items[2].Details[1].Amount-- },
		"detail description": func(d *Document) { d.Invoice.Items[2].Details[0].Description = "GPU hours" },
		"detail resource":    func(d *Document) { d.Invoice.Items[2].Details[0].ResourceName = "db-01" },
		"total":              func(d *Document) { d.Invoice.Total++ },
		"amount paid":        func(d *Document) { d.Invoice.AmountPaid = 100 },
		"status":             func(d *Document) { d.Invoice.Status = billing.InvoicePaid },
		"number":             func(d *Document) { d.Invoice.Number = "PP-X" },
		"company":            func(d *Document) { d.Account.CompanyName = "Other Corp" },
		"address":            func(d *Document) { d.Account.Address.PostalCode = "H2X 1Y4" },
		"created at":         func(d *Document) { d.Invoice.CreatedAt = d.Invoice.CreatedAt.Add(time.Second) },
		"item dropped":       func(d *Document) { d.Invoice.Items = d.Invoice.Items[:2] },
	}
	for name, change := range changed {
		doc := testDoc(billing.InvoiceRecurring, 3)
		change(&doc)
		if ContentHash(doc, "en") == h {
			t.Errorf("%s changed, hash did not", name)
		}
	}

	unchanged := map[string]func(d *Document){
		"invoice ID":     func(d *Document) { d.Invoice.ID = "inv_other" },
		"item ID":        func(d *Document) { d.Invoice.Items[0].ID = "ii_other" },
		"detail ID":      func(d *Document) { d.Invoice.Items[0].Details[0].ID = "iid_other" },
		"category":       func(d *Document) { d.Invoice.Items[0].Category = "storage" },
		"contact e-mail": func(d *Document) { d.Account.ContactEmail = "ap@example.com" },
		"sub-second":     func(d *Document) { d.Invoice.CreatedAt = d.Invoice.CreatedAt.Add(time.Millisecond) },
		"time zone":      func(d *Document) { d.Invoice.CreatedAt = d.Invoice.CreatedAt.In(time.FixedZone("X", 3600)) },
	}
	for name, change := range unchanged {
		doc := testDoc(billing.InvoiceRecurring, 3)
		change(&doc)
		if ContentHash(doc, "en") != h {
			t.Errorf("%s changed (not printed), hash changed too", name)
		}
	}

	if ContentHash(base, "fr") == h {
		t.Error("French and English share a hash")
	}
	if ContentHash(base, "de") != h {
		t.Error(`lang "de" should hash like "en", as it renders like it`)
	}
}

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		n      int64
		en, fr string
	}{{0, "0", "0"}, {999, "999", "999"}, {1000, "1,000", "1 000"}, {-1234567, "-1,234,567", "-1 234 567"}} {
		if got := count("en", tt.n); got != tt.en {
			t.Errorf("count(en, %d) = %q", tt.n, got)
		}
		if got := count("fr", tt.n); got != tt.fr {
			t.Errorf("count(fr, %d) = %q", tt.n, got)
		}
	}
}

// Rows taller than a page, items with more details than a page holds and invoices with no
// items must all render, without losing a line.
func TestRenderExtremeShapes(t *testing.T) {
	huge := testDoc(billing.InvoiceOneTime, 0)
	huge.Invoice.Items[0].Description = strings.Repeat("Very long description word ", 900) + "THE-END"
	many := testDoc(billing.InvoiceRecurring, 0)
	for i := range 150 {
		many.Invoice.Items[1].Details = append(many.Invoice.Items[1].Details, billing.ItemDetail{
			Description: fmt.Sprintf("Snapshot %03d", i), ResourceName: "vol-01", Quantity: 1, Unit: "GB", UnitAmount: 1, Amount: 1})
	}
	empty := testDoc(billing.InvoiceNew, 0)
	empty.Invoice.Items = nil

	for name, tc := range map[string]struct {
		doc   Document
		pages int
		wants []string
	}{
		"row taller than a page":  {huge, 2, []string{"THE-END", "Extra IP addresses"}},
		"details over many pages": {many, 2, []string{"Snapshot 000", "Snapshot 149", "Support premium"}},
		"no items":                {empty, 1, []string{"Amount due"}},
	} {
		t.Run(name, func(t *testing.T) {
			pdf := render(t, tc.doc, "en")
			if n := pdfPages(t, pdf); n < tc.pages {
				t.Errorf("%d pages, want at least %d", n, tc.pages)
			}
			text := pdfText(t, pdf)
			mustContain(t, text, tc.wants...)
			if got := strings.Count(text, "Very long"); name == "row taller than a page" && got != 900 {
				t.Errorf("%d of 900 wrapped fragments printed", got)
			}
		})
	}
}

func TestToCP1252(t *testing.T) {
	for in, want := range map[string]string{
		"Invoice 42":       "Invoice 42",
		"Récurrent":        "R\xe9current",
		"Montant dû – 5 €": "Montant d\xfb \x96 5 \x80",
		"Œuvre ™":          "\x8cuvre \x99",
		"東京 − 5":           "?? ? 5",
		"Ça\u00a0coûte":    "\xc7a\xa0co\xfbte",
	} {
		if got := toCP1252(in); got != want {
			t.Errorf("toCP1252(%q) = %q, want %q", in, got, want)
		}
	}
}

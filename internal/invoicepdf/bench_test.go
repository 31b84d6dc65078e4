package invoicepdf

import (
	"fmt"
	"io"
	"testing"

	"github.com/jung-kurt/gofpdf"
	"github.com/payportal/payportal/internal/billing"
)

func BenchmarkRender20Items(b *testing.B)   { benchmarkRender(b, 20) }
func BenchmarkRender1000Items(b *testing.B) { benchmarkRender(b, 1000) }

func BenchmarkPlainGofpdf20Items(b *testing.B)   { benchmarkPlain(b, 20) }
func BenchmarkPlainGofpdf1000Items(b *testing.B) { benchmarkPlain(b, 1000) }

// benchmarkRender renders a French recurring invoice (periods, two details per item,
// accents) to io.Discard.
func benchmarkRender(b *testing.B, items int) {
	doc := testDoc(billing.InvoiceRecurring, items)
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, doc, "fr"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkPlain is the baseline: the same item table drawn with bare gofpdf calls, one
// Cell per column, no details, no translation, no wrapping and gofpdf's own page breaks.
func benchmarkPlain(b *testing.B, items int) {
	inv := testDoc(billing.InvoiceRecurring, items).Invoice
	cents := func(a int64) string { return fmt.Sprintf("%d.%02d", a/100, a%100) }
	b.ReportAllocs()
	for b.Loop() {
		pdf := gofpdf.New("P", "mm", "A4", "")
		pdf.SetAutoPageBreak(true, 20)
		pdf.AddPage()
		pdf.SetFont("Helvetica", "B", 16)
		pdf.Cell(0, 10, "Invoice "+inv.Number)
		pdf.Ln(14)
		pdf.SetFont("Helvetica", "", 8.5)
		for _, it := range inv.Items {
			pdf.CellFormat(66, 5, it.Description, "", 0, "L", false, 0, "")
			pdf.CellFormat(38, 5, it.PeriodStart.Format("2006-01-02"), "", 0, "L", false, 0, "")
			pdf.CellFormat(20, 5, fmt.Sprint(it.Quantity), "", 0, "R", false, 0, "")
			pdf.CellFormat(28, 5, cents(it.UnitAmount), "", 0, "R", false, 0, "")
			pdf.CellFormat(28, 5, cents(it.Amount), "", 1, "R", false, 0, "")
		}
		pdf.CellFormat(0, 6, "Total "+cents(inv.Total), "", 1, "R", false, 0, "")
		if err := pdf.Output(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// Package invoicepdf renders an invoice to PDF, in English or French, with gofpdf's core
// Helvetica so no font files ship with the binary. ContentHash keys stored PDFs by what
// they show, so a stored file is never stale.
package invoicepdf

import (
	"fmt"
	"io"

	"github.com/jung-kurt/gofpdf"
)

// Page geometry, in millimetres (A4 portrait).
const (
	margin      = 15.0
	pageWidth   = 210.0
	pageHeight  = 297.0
	contentW    = pageWidth - 2*margin
	footerY     = -12.0                   // from the bottom edge
	bodyBottom  = pageHeight - margin - 5 // rows stop here, clear of the footer
	detailShift = 4.0                     // how far details sit right of their item
)

// columnWidths add up to contentW. Amount columns are wide enough for
// "-1 234 567,89 $US" at the table's font size: amounts never wrap.
var columnWidths = [numColumns]float64{66, 38, 20, 28, 28}

// columnAlign: text left, numbers right so digits line up.
var columnAlign = [numColumns]string{"L", "L", "R", "R", "R"}

// textStyle is a font size, weight and grey level (0 black, 255 white).
type textStyle struct {
	size float64
	bold bool
	grey int
}

var (
	styleTitle   = textStyle{size: 20, bold: true}
	styleCompany = textStyle{size: 11, bold: true}
	styleBody    = textStyle{size: 9}
	styleLabel   = textStyle{size: 8, grey: 110}
	styleHead    = textStyle{size: 8.5, bold: true}
	styleItem    = textStyle{size: 8.5}
	styleDetail  = textStyle{size: 7.5, grey: 90}
	styleStrong  = textStyle{size: 9.5, bold: true}
	styleFooter  = textStyle{size: 8, grey: 110}
)

// Line heights, roughly 1.4 × the font size.
const (
	lineBody   = 4.5
	lineItem   = 4.2
	lineDetail = 3.6
	lineHead   = 7.0
	lineTotal  = 5.5
)

// Render writes doc as a PDF invoice in lang: "fr" (or "fr-CA", ...) for French, anything
// else for English. The same doc and lang always give the same bytes.
func Render(w io.Writer, doc Document, lang string) error {
	s := buildSheet(doc, lang)
	pdf := gofpdf.New("P", "mm", "A4", "")
	r := &renderer{pdf: pdf, s: &s}
	r.setup()
	r.pdf.AddPage()
	r.header()
	r.addressBlock()
	r.itemsTable()
	r.totals()
	return pdf.Output(w)
}

// renderer draws one sheet onto one gofpdf document. The core fonts are cp1252, so every
// string goes through toCP1252 on its way to gofpdf.
type renderer struct {
	pdf     *gofpdf.Fpdf
	s       *sheet
	inTable bool // a page break inside the items table repeats the column headers

	// cur is the text style last set, valid while styled; rows set their style on every
	// line, and skipping the repeats saves gofpdf's font lookups and colour formatting.
	cur    textStyle
	styled bool

	factsBottom float64 // where the header's facts block ends on page 1
	tableTop    float64 // where rows start under the column headers on this page
}

func (r *renderer) setup() {
	p := r.pdf
	p.SetMargins(margin, margin, margin)
	// Breaks are ours (see ensureSpace): gofpdf's automatic break would split a row across
	// pages and could not repeat the table header.
	p.SetAutoPageBreak(false, 0)
	// Fixed dates and sorted resource catalogs make the output a function of the input,
	// so identical invoices give identical files.
	p.SetCreationDate(r.s.Created)
	p.SetModificationDate(r.s.Created)
	p.SetCatalogSort(true)
	p.SetTitle(r.s.Title+" "+r.s.Number, true)
	p.SetCreator("PayPortal", false)
	p.AliasNbPages("")
	p.SetDrawColor(200, 200, 200)
	p.SetLineWidth(0.2)
	p.SetFooterFunc(r.footer)
}

// header prints the title on the left and the invoice's facts (number, date, type,
// status, period) in a block on the right.
func (r *renderer) header() {
	r.style(styleTitle)
	r.pdf.SetXY(margin, margin)
	r.pdf.CellFormat(80, 10, toCP1252(r.s.Title), "", 0, "L", false, 0, "")

	const labelW, valueW = 34.0, 62.0
	x := pageWidth - margin - labelW - valueW
	y := margin + 1
	for _, f := range r.s.Facts {
		r.style(styleBody)
		lines := r.wrapRange(f.Value, valueW)
		r.style(styleLabel)
		r.pdf.SetXY(x, y)
		r.pdf.CellFormat(labelW, lineBody, toCP1252(f.Label), "", 0, "L", false, 0, "")
		r.style(styleBody)
		for i, line := range lines {
			r.pdf.SetXY(x+labelW, y+float64(i)*lineBody)
			r.pdf.CellFormat(valueW, lineBody, line, "", 0, "L", false, 0, "")
		}
		y += float64(max(len(lines), 1)) * lineBody
	}
	r.factsBottom = y
}

// addressBlock prints who the invoice is for, under the title, then moves below whichever
// of it and the facts block ends lower.
func (r *renderer) addressBlock() {
	const w = 80.0 // clear of the facts block on the right
	y := margin + 16
	r.style(styleLabel)
	r.pdf.SetXY(margin, y)
	r.pdf.CellFormat(w, lineBody, toCP1252(r.s.BillTo), "", 0, "L", false, 0, "")
	y += lineBody + 0.5

	r.style(styleCompany)
	for _, line := range r.wrap(r.s.Company, w) {
		r.pdf.SetXY(margin, y)
		r.pdf.CellFormat(w, 5.5, line, "", 0, "L", false, 0, "")
		y += 5.5
	}
	r.style(styleBody)
	for _, a := range r.s.Address {
		for _, line := range r.wrap(a, w) {
			r.pdf.SetXY(margin, y)
			r.pdf.CellFormat(w, lineBody, line, "", 0, "L", false, 0, "")
			y += lineBody
		}
	}
	r.pdf.SetXY(margin, max(y, r.factsBottom)+10)
}

// itemsTable prints the column headers and one row per item, each followed by its details.
func (r *renderer) itemsTable() {
	r.inTable = true
	defer func() { r.inTable = false }()
	r.tableHeader()

	for i, it := range r.s.Items {
		rows := make([]row, 0, 1+len(it.Details))
		rows = append(rows, r.itemRow(it))
		for _, d := range it.Details {
			rows = append(rows, r.detailRow(d))
		}
		r.ensureSpace(r.keepTogether(rows, i > 0))
		if i > 0 && r.pdf.GetY() > r.tableTop+0.01 {
			y := r.pdf.GetY() + 0.5
			r.pdf.Line(margin, y, margin+contentW, y)
			r.pdf.SetY(y + 1)
		}
		for _, rw := range rows {
			r.drawRow(rw)
		}
	}
	y := r.pdf.GetY() + 1
	r.pdf.SetDrawColor(120, 120, 120)
	r.pdf.Line(margin, y, margin+contentW, y)
	r.pdf.SetDrawColor(200, 200, 200)
	r.pdf.SetY(y + 2)
}

// keepTogether is how much room an item needs before it is started: the item with all its
// details when they fit on one page, so a detail never sits on a page apart from the item
// it explains; otherwise the item and its first detail, and the rest flows.
func (r *renderer) keepTogether(rows []row, separated bool) float64 {
	h := 0.0
	if separated {
		h = 1.5 // the separator line and its padding
	}
	whole := h
	for _, rw := range rows {
		whole += rw.height()
	}
	if whole <= bodyBottom-(margin+lineHead+1) {
		return whole
	}
	h += rows[0].height()
	if len(rows) > 1 {
		h += rows[1].height()
	}
	return h
}

// tableHeader prints the column titles on a grey band; it also starts every page the table
// flows onto.
func (r *renderer) tableHeader() {
	r.style(styleHead)
	r.pdf.SetFillColor(235, 235, 235)
	x, y := margin, r.pdf.GetY()
	for c, title := range r.s.Columns {
		r.pdf.SetXY(x, y)
		r.pdf.CellFormat(columnWidths[c], lineHead, toCP1252(title), "", 0, columnAlign[c], true, 0, "")
		x += columnWidths[c]
	}
	r.pdf.SetXY(margin, y+lineHead+1)
	r.tableTop = r.pdf.GetY()
}

// totals prints subtotal, tax, total, amount paid and amount due, right-aligned under the
// amount columns, kept together on one page.
func (r *renderer) totals() {
	// Wider than the amount column: totals are bold and can reach "1 234 567,89 $US".
	const valueW = 36.0
	const labelW = 54.0
	x := margin + contentW - valueW - labelW
	r.ensureSpace(float64(len(r.s.Totals))*lineTotal + 2)
	for _, t := range r.s.Totals {
		y := r.pdf.GetY()
		st := styleBody
		if t.Strong {
			st = styleStrong
			r.pdf.Line(x+10, y, margin+contentW, y)
		}
		r.style(st)
		r.pdf.SetXY(x, y)
		r.pdf.CellFormat(labelW, lineTotal, toCP1252(t.Label), "", 0, "R", false, 0, "")
		r.pdf.CellFormat(valueW, lineTotal, toCP1252(t.Value), "", 0, "R", false, 0, "")
		r.pdf.SetXY(margin, y+lineTotal)
	}
}

// footer runs on every page (gofpdf calls it on each break and at close): the invoice
// number on the left, "Page n / N" on the right, N filled in by AliasNbPages.
func (r *renderer) footer() {
	r.styled = false
	r.style(styleFooter)
	// gofpdf puts back the page's font and colours after the footer: forget ours.
	defer func() { r.styled = false }()
	r.pdf.SetY(footerY)
	r.pdf.CellFormat(contentW/2, 5, toCP1252(r.s.Number), "", 0, "L", false, 0, "")
	page := fmt.Sprintf(r.s.PageOf, r.pdf.PageNo(), "{nb}")
	r.pdf.CellFormat(contentW/2, 5, toCP1252(page), "", 0, "R", false, 0, "")
}

// ensureSpace starts a new page when h more millimetres would run into the footer. A row
// taller than a whole page cannot be kept together; it is then allowed to split.
func (r *renderer) ensureSpace(h float64) {
	if r.pdf.GetY()+h <= bodyBottom {
		return
	}
	if r.inTable && r.pdf.GetY() <= r.tableTop+0.01 {
		return // already at the top of a page: breaking again would not help
	}
	r.pdf.AddPage()
	r.pdf.SetXY(margin, margin)
	if r.inTable {
		r.tableHeader()
	}
}

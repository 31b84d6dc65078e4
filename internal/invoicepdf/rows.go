package invoicepdf

// row is one table row, already wrapped into lines per cell with the font it will be
// drawn in, so its height is known before deciding where it goes.
type row struct {
	style textStyle
	lineH float64
	cells []cell
}

type cell struct {
	x, w  float64
	align string
	lines []string // cp1252, ready for CellFormat
}

func (rw row) height() float64 {
	n := 0
	for _, c := range rw.cells {
		n = max(n, len(c.lines))
	}
	return float64(n) * rw.lineH
}

// itemRow lays out an item across the five columns; description and period wrap, amounts
// stay on one line.
func (r *renderer) itemRow(it itemLine) row {
	r.style(styleItem)
	x := columnX()
	return row{style: styleItem, lineH: lineItem, cells: []cell{
		{x: x[colDescription], w: columnWidths[colDescription], align: "L", lines: r.wrap(it.Description, columnWidths[colDescription])},
		{x: x[colPeriod], w: columnWidths[colPeriod], align: "L", lines: r.wrapRange(it.Period, columnWidths[colPeriod])},
		{x: x[colQuantity], w: columnWidths[colQuantity], align: "R", lines: r.single(it.Quantity)},
		{x: x[colUnitAmount], w: columnWidths[colUnitAmount], align: "R", lines: r.single(it.UnitAmount)},
		{x: x[colAmount], w: columnWidths[colAmount], align: "R", lines: r.single(it.Amount)},
	}}
}

// detailRow lays out a detail in a smaller grey font, indented under its item. Details have
// no period, so "description — resource" spans the description and period columns.
func (r *renderer) detailRow(d detailLine) row {
	r.style(styleDetail)
	x := columnX()
	text := d.Description
	if d.Resource != "" {
		text = joinNonEmpty(" — ", d.Description, d.Resource)
	}
	w := columnWidths[colDescription] + columnWidths[colPeriod] - detailShift
	return row{style: styleDetail, lineH: lineDetail, cells: []cell{
		{x: x[colDescription] + detailShift, w: w, align: "L", lines: r.wrap(text, w)},
		{x: x[colQuantity], w: columnWidths[colQuantity], align: "R", lines: r.wrap(d.Quantity, columnWidths[colQuantity])},
		{x: x[colUnitAmount], w: columnWidths[colUnitAmount], align: "R", lines: r.single(d.UnitAmount)},
		{x: x[colAmount], w: columnWidths[colAmount], align: "R", lines: r.single(d.Amount)},
	}}
}

// drawRow prints rw at the current position. It is kept whole when it fits on a page;
// a row taller than a page continues line by line onto the next ones.
func (r *renderer) drawRow(rw row) {
	r.ensureSpace(rw.height())
	r.style(rw.style)
	n := int(rw.height()/rw.lineH + 0.5)
	for i := range n {
		r.ensureSpace(rw.lineH)
		r.style(rw.style) // a page break ran the footer and the header in other fonts
		y := r.pdf.GetY()
		for _, c := range rw.cells {
			if i < len(c.lines) {
				r.pdf.SetXY(c.x, y)
				r.pdf.CellFormat(c.w, rw.lineH, c.lines[i], "", 0, c.align, false, 0, "")
			}
		}
		r.pdf.SetXY(margin, y+rw.lineH)
	}
}

// columnX is the left edge of each column.
func columnX() [numColumns]float64 {
	var x [numColumns]float64
	pos := margin
	for c, w := range columnWidths {
		x[c] = pos
		pos += w
	}
	return x
}

// wrap translates s to cp1252 and splits it into lines that fit w in the current font.
// gofpdf measures cp1252 bytes, so the translation must come first.
func (r *renderer) wrap(s string, w float64) []string {
	if s == "" {
		return nil
	}
	raw := r.pdf.SplitLines([]byte(toCP1252(s)), w)
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = string(l)
	}
	return lines
}

// wrapRange keeps a period "start – end" on one line when it fits and otherwise breaks
// after the dash, so a date is never cut in the middle. Text without a dash just wraps.
func (r *renderer) wrapRange(p string, w float64) []string {
	if p == "" {
		return nil
	}
	line := toCP1252(p)
	if r.pdf.GetStringWidth(line) <= w-2*r.pdf.GetCellMargin() {
		return []string{line}
	}
	var lines []string
	for _, part := range splitAfterDash(p) {
		lines = append(lines, r.wrap(part, w)...)
	}
	return lines
}

// single is one unwrapped line: amounts and quantities read badly when split.
func (r *renderer) single(s string) []string {
	if s == "" {
		return nil
	}
	return []string{toCP1252(s)}
}

func (r *renderer) style(st textStyle) {
	if r.styled && st == r.cur {
		return
	}
	r.cur, r.styled = st, true
	weight := ""
	if st.bold {
		weight = "B"
	}
	r.pdf.SetFont("Helvetica", weight, st.size)
	r.pdf.SetTextColor(st.grey, st.grey, st.grey)
}

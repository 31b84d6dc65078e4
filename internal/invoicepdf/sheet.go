package invoicepdf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// Version names the look of a rendered invoice. Bump it with any change to this package
// that alters the PDF (layout, fonts, wording): ContentHash includes it, so PDFs stored
// under the old hash are simply never asked for again and get rendered afresh.
const Version = "invoicepdf/1"

// Document is what one PDF shows: the invoice with its Items, each with its Details,
// and the account it is addressed to.
type Document struct {
	Account billing.Account
	Invoice billing.Invoice
}

// ContentHash is the hex SHA-256 of everything Render would print for doc in lang, plus
// Version. Stored PDFs are keyed by it, so a changed invoice (or a new renderer) gets a new
// file instead of a stale one, and facts that never reach the page (IDs, categories,
// contact e-mail) do not invalidate anything.
func ContentHash(doc Document, lang string) string {
	// The hash is taken over the same formatted sheet Render draws, not over the raw
	// invoice: whatever changes the printed text (an amount, a translation, the i18n
	// formatting rules) changes the hash, and nothing else does.
	b, err := json.Marshal(buildSheet(doc, lang))
	if err != nil {
		// A sheet is strings, slices and structs only; encoding/json cannot fail on it.
		panic("invoicepdf: encoding sheet: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// sheet is the invoice as printed: every string already formatted and translated. Render
// lays it out; ContentHash hashes it. Field names are part of the hash input, which is fine:
// renaming one is a renderer change anyway.
type sheet struct {
	Version string
	Lang    string
	// Created is the PDF's creation and modification date (its metadata), taken from the
	// invoice so the same invoice always renders to the same bytes.
	Created time.Time

	Title   string
	Number  string
	BillTo  string
	Company string
	Address []string
	Facts   []labeled

	Columns [numColumns]string
	Items   []itemLine
	Totals  []labeled

	PageOf string // fmt format: page number, then the total-pages alias
}

type labeled struct {
	Label, Value string
	Strong       bool // printed bold: the total and the amount due
}

type itemLine struct {
	Description string
	Period      string // "start – end", or "" when the item has no period
	Quantity    string
	UnitAmount  string
	Amount      string
	Details     []detailLine
}

type detailLine struct {
	Description string
	Resource    string
	Quantity    string // with its unit: "720 hours"
	UnitAmount  string
	Amount      string
}

func buildSheet(doc Document, lang string) sheet {
	lang = i18n.Lang(lang)
	l := labelsFor(lang)
	inv := doc.Invoice
	money := func(amount int64) string {
		return i18n.FormatMoney(lang, billing.Money{Amount: amount, Currency: inv.Currency})
	}

	s := sheet{
		Version: Version,
		Lang:    lang,
		Created: inv.CreatedAt.UTC().Truncate(time.Second),
		Title:   l.title,
		Number:  inv.Number,
		BillTo:  l.billTo,
		Company: doc.Account.CompanyName,
		Address: addressLines(doc.Account.Address),
		Columns: l.columns,
		PageOf:  l.pageOf,
	}
	s.Facts = []labeled{
		{Label: l.number, Value: inv.Number},
		{Label: l.date, Value: i18n.FormatDate(lang, inv.CreatedAt)},
		{Label: l.typ, Value: lookup(l.types, inv.Type)},
		{Label: l.status, Value: lookup(l.statuses, inv.Status)},
	}
	if p := period(lang, inv.PeriodStart, inv.PeriodEnd); p != "" {
		s.Facts = append(s.Facts, labeled{Label: l.period, Value: p})
	}

	s.Items = make([]itemLine, len(inv.Items))
	for i, it := range inv.Items {
		line := itemLine{
			Description: it.Description,
			Period:      period(lang, it.PeriodStart, it.PeriodEnd),
			Quantity:    count(lang, it.Quantity),
			UnitAmount:  money(it.UnitAmount),
			Amount:      money(it.Amount),
			Details:     make([]detailLine, len(it.Details)),
		}
		for j, d := range it.Details {
			line.Details[j] = detailLine{
				Description: d.Description,
				Resource:    d.ResourceName,
				Quantity:    strings.TrimSpace(count(lang, d.Quantity) + " " + unit(l, d.Unit)),
				UnitAmount:  money(d.UnitAmount),
				Amount:      money(d.Amount),
			}
		}
		s.Items[i] = line
	}

	s.Totals = []labeled{
		{Label: l.subtotal, Value: money(inv.Subtotal)},
		{Label: l.tax, Value: money(inv.Tax)},
		{Label: l.total, Value: money(inv.Total), Strong: true},
		{Label: l.amountPaid, Value: money(inv.AmountPaid)},
		{Label: l.amountDue, Value: money(inv.AmountDue()), Strong: true},
	}
	return s
}

// lookup translates a status or type; a value this renderer does not know yet is printed
// as stored rather than dropped.
func lookup[K ~string](m map[K]string, k K) string {
	if v, ok := m[k]; ok {
		return v
	}
	return string(k)
}

// period writes a date range with an en dash, which cp1252 has.
func period(lang string, start, end *time.Time) string {
	var from, to string
	if start != nil {
		from = i18n.FormatDate(lang, *start)
	}
	if end != nil {
		to = i18n.FormatDate(lang, *end)
	}
	switch {
	case from != "" && to != "":
		return from + " – " + to
	case from != "":
		return from
	default:
		return to
	}
}

// count writes a quantity grouped by thousands the way i18n groups money: "1,234" / "1 234".
func count(lang string, n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	sep := ","
	if lang == i18n.French {
		sep = " "
	}
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// unit translates the few units usage is measured in; others (vCPU, instances) read the
// same in both languages and are printed as stored.
func unit(l *labels, u string) string {
	if t, ok := l.units[strings.ToLower(u)]; ok {
		return t
	}
	return u
}

// addressLines writes a postal address in the order the destination country expects:
// North America puts the state and postal code after the city, most of the world puts the
// postal code first.
func addressLines(a billing.Address) []string {
	var cityLine string
	switch strings.ToUpper(a.Country) {
	case "US", "CA":
		cityLine = joinNonEmpty(", ", a.City, joinNonEmpty(" ", a.State, a.PostalCode))
	default:
		cityLine = joinNonEmpty(" ", a.PostalCode, a.City, a.State)
	}
	var lines []string
	for _, s := range []string{a.Line1, a.Line2, cityLine, a.Country} {
		if s = strings.TrimSpace(s); s != "" {
			lines = append(lines, s)
		}
	}
	return lines
}

func joinNonEmpty(sep string, parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, sep)
}

// splitAfterDash cuts a period "start – end" into "start –" and "end".
func splitAfterDash(p string) []string {
	const dash = " – "
	if i := strings.Index(p, dash); i >= 0 {
		return []string{p[:i] + " –", p[i+len(dash):]}
	}
	return []string{p}
}

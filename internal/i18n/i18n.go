// Package i18n formats what customers read — money, dates, short phrases — in the two
// languages PayPortal speaks, English and French. Mails and invoice PDFs share it so an
// amount or a date reads the same everywhere.
//
// Output uses plain ASCII spaces (not the no-break spaces French typography prefers) so
// that it survives cp1252 PDF fonts and can be searched by tests and by customers.
package i18n

import (
	"strconv"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

// The languages PayPortal writes in; everything else falls back to English.
const (
	English = "en"
	French  = "fr"
)

// Lang maps a requested language ("fr", "FR", "fr-CA", "fr_FR") to "fr" or "en", so callers
// can pass an account setting or an Accept-Language tag straight through.
func Lang(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if i := strings.IndexAny(l, "-_;,"); i >= 0 {
		l = l[:i]
	}
	if l == French {
		return French
	}
	return English
}

// Pick returns the French text when lang is French, the English text otherwise. Short
// labels (PDF column headers, mail greetings) read better inline than through a catalog.
func Pick(lang, en, fr string) string {
	if Lang(lang) == French {
		return fr
	}
	return en
}

// zeroDecimal and threeDecimal list the ISO 4217 currencies whose minor unit is not the
// cent; Money.Amount is in the currency's own minor unit, so 500 JPY is ¥500, not ¥5.00.
var (
	zeroDecimal = map[string]bool{
		"BIF": true, "CLP": true, "DJF": true, "GNF": true, "ISK": true, "JPY": true,
		"KMF": true, "KRW": true, "PYG": true, "RWF": true, "UGX": true, "UYI": true,
		"VND": true, "VUV": true, "XAF": true, "XOF": true, "XPF": true,
	}
	threeDecimal = map[string]bool{
		"BHD": true, "IQD": true, "JOD": true, "KWD": true, "LYD": true, "OMR": true, "TND": true,
	}
)

// Exponent is the number of digits after the decimal point in currency (2 for USD, 0 for
// JPY, 3 for KWD).
func Exponent(currency string) int {
	c := strings.ToUpper(currency)
	switch {
	case zeroDecimal[c]:
		return 0
	case threeDecimal[c]:
		return 3
	}
	return 2
}

// Symbols customers expect, per language; a currency missing here is written with its code.
// French spells out which dollar or pound is meant, as French-speaking readers see several.
var (
	symbolsEN = map[string]string{
		"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$",
	}
	symbolsFR = map[string]string{
		"USD": "$US", "EUR": "€", "GBP": "£GB", "CAD": "$CA", "AUD": "$AU",
	}
)

// FormatMoney writes m for a reader of lang: en "$1,234.56", "-$5.00", "CHF 1,234.56";
// fr "1 234,56 $US", "-5,00 €", "1 234,56 CHF". Integer arithmetic only.
func FormatMoney(lang string, m billing.Money) string {
	code := strings.ToUpper(m.Currency)
	exp := Exponent(code)

	neg := m.Amount < 0
	// uint64 so that the most negative int64 still has a magnitude.
	abs := uint64(m.Amount)
	if neg {
		abs = -abs
	}
	div := uint64(1)
	for range exp {
		div *= 10
	}
	whole, frac := abs/div, abs%div

	fr := Lang(lang) == French
	groupSep, decimalSep := ",", "."
	if fr {
		groupSep, decimalSep = " ", ","
	}
	var num strings.Builder
	num.WriteString(group(strconv.FormatUint(whole, 10), groupSep))
	if exp > 0 {
		f := strconv.FormatUint(frac, 10)
		num.WriteString(decimalSep)
		num.WriteString(strings.Repeat("0", exp-len(f)))
		num.WriteString(f)
	}

	sign := ""
	if neg {
		sign = "-"
	}
	if fr {
		sym, ok := symbolsFR[code]
		if !ok {
			sym = code
		}
		return sign + num.String() + " " + sym
	}
	if sym, ok := symbolsEN[code]; ok {
		return sign + sym + num.String()
	}
	return sign + code + " " + num.String()
}

// group inserts sep between every three digits from the right.
func group(digits, sep string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	head := len(digits) % 3
	if head > 0 {
		b.WriteString(digits[:head])
	}
	for i := head; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}

var (
	monthsEN = [...]string{"January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	monthsFR = [...]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet",
		"août", "septembre", "octobre", "novembre", "décembre"}
)

// MonthName is the month's name in lang: "March" / "mars".
func MonthName(lang string, m time.Month) string {
	if m < time.January || m > time.December {
		return ""
	}
	if Lang(lang) == French {
		return monthsFR[m-1]
	}
	return monthsEN[m-1]
}

// FormatDate writes the calendar day of t, in UTC as every PayPortal date is: en
// "January 2, 2026", fr "2 janvier 2026" ("1er mars 2026" on the first, as French writes
// it). The zero time gives "" so optional dates can be passed without a check.
func FormatDate(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	y, m, d := t.UTC().Date()
	if Lang(lang) == French {
		day := strconv.Itoa(d)
		if d == 1 {
			day = "1er"
		}
		return day + " " + MonthName(lang, m) + " " + strconv.Itoa(y)
	}
	return MonthName(lang, m) + " " + strconv.Itoa(d) + ", " + strconv.Itoa(y)
}

// FormatDateTime writes a deadline to the minute, in UTC and saying so, since customers
// read it in their own time zone: en "January 2, 2026 at 15:04 UTC",
// fr "2 janvier 2026 à 15:04 UTC".
func FormatDateTime(lang string, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return FormatDate(lang, t) + Pick(lang, " at ", " à ") + t.UTC().Format("15:04") + " UTC"
}

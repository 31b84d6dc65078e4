package i18n

import (
	"math"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

func TestLang(t *testing.T) {
	for in, want := range map[string]string{
		"en": "en", "fr": "fr", "FR": "fr", "fr-CA": "fr", "fr_FR": "fr", " fr ": "fr",
		"fr;q=0.9": "fr", "de": "en", "": "en", "french": "en", "en-US": "en",
	} {
		if got := Lang(in); got != want {
			t.Errorf("Lang(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPick(t *testing.T) {
	if got := Pick("fr", "Invoice", "Facture"); got != "Facture" {
		t.Errorf("Pick(fr) = %q", got)
	}
	if got := Pick("es", "Invoice", "Facture"); got != "Invoice" {
		t.Errorf("Pick(es) = %q", got)
	}
}

func TestFormatMoney(t *testing.T) {
	tests := []struct {
		amount   int64
		currency string
		en, fr   string
	}{
		{123456, "USD", "$1,234.56", "1 234,56 $US"},
		{0, "USD", "$0.00", "0,00 $US"},
		{5, "USD", "$0.05", "0,05 $US"},
		{100, "USD", "$1.00", "1,00 $US"},
		{-500, "USD", "-$5.00", "-5,00 $US"},
		{-123456789, "USD", "-$1,234,567.89", "-1 234 567,89 $US"},
		{99999, "EUR", "€999.99", "999,99 €"},
		{100000, "EUR", "€1,000.00", "1 000,00 €"},
		{250075, "GBP", "£2,500.75", "2 500,75 £GB"},
		{1234567, "CAD", "CA$12,345.67", "12 345,67 $CA"},
		{123456, "CHF", "CHF 1,234.56", "1 234,56 CHF"},
		{500, "JPY", "¥500", "500 JPY"},
		{1234567, "JPY", "¥1,234,567", "1 234 567 JPY"},
		{-1000, "KRW", "-KRW 1,000", "-1 000 KRW"},
		{1234567, "KWD", "KWD 1,234.567", "1 234,567 KWD"},
		{5, "KWD", "KWD 0.005", "0,005 KWD"},
		{123456, "usd", "$1,234.56", "1 234,56 $US"},
		{math.MaxInt64, "USD", "$92,233,720,368,547,758.07", "92 233 720 368 547 758,07 $US"},
		{math.MinInt64, "USD", "-$92,233,720,368,547,758.08", "-92 233 720 368 547 758,08 $US"},
	}
	for _, tt := range tests {
		m := billing.Money{Amount: tt.amount, Currency: tt.currency}
		if got := FormatMoney("en", m); got != tt.en {
			t.Errorf("FormatMoney(en, %d %s) = %q, want %q", tt.amount, tt.currency, got, tt.en)
		}
		if got := FormatMoney("fr", m); got != tt.fr {
			t.Errorf("FormatMoney(fr, %d %s) = %q, want %q", tt.amount, tt.currency, got, tt.fr)
		}
	}
}

func TestExponent(t *testing.T) {
	for code, want := range map[string]int{"USD": 2, "EUR": 2, "JPY": 0, "krw": 0, "KWD": 3, "XYZ": 2} {
		if got := Exponent(code); got != want {
			t.Errorf("Exponent(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestFormatDate(t *testing.T) {
	tests := []struct {
		t      time.Time
		en, fr string
	}{
		{time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), "January 2, 2026", "2 janvier 2026"},
		{time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "March 1, 2026", "1er mars 2026"},
		{time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC), "August 15, 2026", "15 août 2026"},
		{time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), "December 31, 2025", "31 décembre 2025"},
		{time.Date(2026, 2, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)), "February 2, 2026", "2 février 2026"},
		{time.Time{}, "", ""},
	}
	for _, tt := range tests {
		if got := FormatDate("en", tt.t); got != tt.en {
			t.Errorf("FormatDate(en, %v) = %q, want %q", tt.t, got, tt.en)
		}
		if got := FormatDate("fr", tt.t); got != tt.fr {
			t.Errorf("FormatDate(fr, %v) = %q, want %q", tt.t, got, tt.fr)
		}
		if got := FormatDate("xx", tt.t); got != tt.en {
			t.Errorf("FormatDate(xx, %v) = %q, want English %q", tt.t, got, tt.en)
		}
	}
}

func TestFormatDateTime(t *testing.T) {
	at := time.Date(2026, 7, 4, 9, 5, 0, 0, time.UTC)
	for _, tt := range []struct{ got, want string }{
		{FormatDateTime("en", at), "July 4, 2026 at 09:05 UTC"},
		{FormatDateTime("fr", at), "4 juillet 2026 à 09:05 UTC"},
		{FormatDateTime("en", time.Time{}), ""},
		{MonthName("fr", 13), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

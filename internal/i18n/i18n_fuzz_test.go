package i18n

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/billing"
)

var currencyCode = regexp.MustCompile(`^[A-Za-z]{3}$`)

// FuzzFormatMoney: whatever the language tag, amount and currency, FormatMoney never panics
// and the amount reads back exactly: the digits are the amount's in the currency's minor
// unit, grouped by three, with the minus sign only for a negative amount. Lang always picks
// English or French, and picking again changes nothing.
// CI: go test -run '^$' -fuzz '^FuzzFormatMoney$' -fuzztime 3s ./internal/i18n
func FuzzFormatMoney(f *testing.F) {
	for _, seed := range []struct {
		lang     string
		amount   int64
		currency string
	}{
		{"en", 123456, "USD"}, {"fr", -500, "EUR"}, {"fr-CA", 1234567, "CHF"}, {"en", 500, "jpy"},
		{"FR", 1234, "KWD"}, {"fr;q=0.9", math.MinInt64, "USD"}, {"de", math.MaxInt64, "XAF"},
		{"", 0, ""}, {"fr_FR", -1, "GBP"}, {"\xff", 7, "A B"},
	} {
		f.Add(seed.lang, seed.amount, seed.currency)
	}
	f.Fuzz(func(t *testing.T, lang string, amount int64, currency string) {
		l := Lang(lang)
		if (l != English && l != French) || Lang(l) != l {
			t.Fatalf("Lang(%q) = %q", lang, l)
		}
		out := FormatMoney(lang, billing.Money{Amount: amount, Currency: currency})
		if !currencyCode.MatchString(currency) {
			return // the code is written as given; only check it does not panic
		}
		code := strings.ToUpper(currency)
		exp := Exponent(code)
		groupSep, decimalSep := ",", "."
		if l == French {
			groupSep, decimalSep = " ", ","
		}
		sign := ""
		if amount < 0 {
			sign = "-"
		}
		if !strings.HasPrefix(out, sign) || (sign == "" && strings.HasPrefix(out, "-")) {
			t.Fatalf("FormatMoney(%q, %d %s) = %q: wrong sign", lang, amount, currency, out)
		}
		rest := strings.TrimPrefix(out, sign)
		// The number is what is left once the symbol (or the code) is taken off.
		var num string
		if l == French {
			i := strings.LastIndex(rest, " ")
			if i < 0 {
				t.Fatalf("FormatMoney(%q, %d %s) = %q: no symbol", lang, amount, currency, out)
			}
			num = rest[:i]
		} else {
			if sym, ok := symbolsEN[code]; ok {
				num = strings.TrimPrefix(rest, sym)
			} else {
				num = strings.TrimPrefix(rest, code+" ")
			}
		}
		whole, frac, hasFrac := strings.Cut(num, decimalSep)
		if hasFrac != (exp > 0) || len(frac) != exp {
			t.Fatalf("FormatMoney(%q, %d %s) = %q: want %d decimals", lang, amount, currency, out, exp)
		}
		groups := strings.Split(whole, groupSep)
		for i, g := range groups {
			if g == "" || len(g) > 3 || (i > 0 && len(g) != 3) || strings.Trim(g, "0123456789") != "" {
				t.Fatalf("FormatMoney(%q, %d %s) = %q: badly grouped", lang, amount, currency, out)
			}
		}
		magnitude := strconv.FormatUint(absInt64(amount), 10)
		if len(magnitude) <= exp {
			magnitude = strings.Repeat("0", exp-len(magnitude)+1) + magnitude
		}
		if got := strings.Join(groups, "") + frac; got != magnitude {
			t.Fatalf("FormatMoney(%q, %d %s) = %q: reads back %s, want %s", lang, amount, currency, out, got, magnitude)
		}
	})
}

// absInt64 is |n|, math.MinInt64 included.
func absInt64(n int64) uint64 {
	if n < 0 {
		return uint64(-(n + 1)) + 1
	}
	return uint64(n)
}

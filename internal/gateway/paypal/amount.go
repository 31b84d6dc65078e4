package paypal

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// minorDigits is how many decimals a currency's minor unit has (ISO 4217), where not 2.
var minorDigits = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
	"PYG": 0, "RWF": 0, "UGX": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}

// wholeUnitsOnly are currencies with cents in ISO 4217 that PayPal accepts only in whole
// units.
var wholeUnitsOnly = map[string]bool{"HUF": true, "TWD": true}

// amount is PayPal's money: a currency code and a decimal string.
type amount struct {
	CurrencyCode string `json:"currency_code"`
	Value        string `json:"value"`
}

// toAmount writes minor units as PayPal's decimal string, with integer arithmetic only:
// 12345 USD is "123.45", 500 JPY is "500".
func toAmount(m billing.Money) (amount, error) {
	if m.Amount <= 0 {
		return amount{}, fmt.Errorf("%w: amount %d must be positive", gateway.ErrInvalidRequest, m.Amount)
	}
	if !billing.ValidCurrency(m.Currency) {
		return amount{}, fmt.Errorf("%w: currency %q is not an ISO 4217 code", gateway.ErrInvalidRequest, m.Currency)
	}
	digits, ok := minorDigits[m.Currency]
	if !ok {
		digits = 2
	}
	if wholeUnitsOnly[m.Currency] {
		if m.Amount%100 != 0 {
			return amount{}, fmt.Errorf("%w: PayPal takes %s in whole units only, not %d minor units",
				gateway.ErrInvalidRequest, m.Currency, m.Amount)
		}
		return amount{CurrencyCode: m.Currency, Value: strconv.FormatInt(m.Amount/100, 10)}, nil
	}
	s := strconv.FormatInt(m.Amount, 10)
	if digits == 0 {
		return amount{CurrencyCode: m.Currency, Value: s}, nil
	}
	if len(s) <= digits {
		s = strings.Repeat("0", digits-len(s)+1) + s
	}
	return amount{CurrencyCode: m.Currency, Value: s[:len(s)-digits] + "." + s[len(s)-digits:]}, nil
}

// fromAmount reads PayPal's money back into minor units, with integer arithmetic only:
// "123.45" USD is 12345, "500" JPY is 500, "1500" HUF is 150000. A value with more decimals
// than the currency has is refused rather than rounded.
func fromAmount(a amount) (billing.Money, error) {
	if !billing.ValidCurrency(a.CurrencyCode) {
		return billing.Money{}, fmt.Errorf("currency %q is not an ISO 4217 code", a.CurrencyCode)
	}
	digits, ok := minorDigits[a.CurrencyCode]
	if !ok {
		digits = 2
	}
	whole, frac, _ := strings.Cut(a.Value, ".")
	if whole == "" || strings.TrimLeft(whole, "0123456789") != "" || strings.TrimLeft(frac, "0123456789") != "" {
		return billing.Money{}, fmt.Errorf("amount %q %s is not a decimal number", a.Value, a.CurrencyCode)
	}
	if wholeUnitsOnly[a.CurrencyCode] {
		// PayPal writes these in whole units; PayPortal counts them in cents.
		if strings.Trim(frac, "0") != "" {
			return billing.Money{}, fmt.Errorf("amount %q %s has fractional units", a.Value, a.CurrencyCode)
		}
		frac = ""
	}
	if len(strings.TrimRight(frac, "0")) > digits {
		return billing.Money{}, fmt.Errorf("amount %q %s has more than %d decimals", a.Value, a.CurrencyCode, digits)
	}
	frac = (frac + strings.Repeat("0", digits))[:digits]
	if wholeUnitsOnly[a.CurrencyCode] {
		frac = "00"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return billing.Money{}, fmt.Errorf("amount %q %s: %w", a.Value, a.CurrencyCode, err)
	}
	return billing.Money{Amount: n, Currency: a.CurrencyCode}, nil
}

package gateway

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/payportal/payportal/internal/billing"
)

// Card brands PayPortal accepts.
const (
	BrandVisa       = "visa"
	BrandMastercard = "mastercard"
	BrandAmex       = "amex"
	BrandDiscover   = "discover"
)

// Params the card errors name, as in the request body.
const (
	ParamCardNumber     = "card.number"
	ParamCardExpMonth   = "card.exp_month"
	ParamCardExpYear    = "card.exp_year"
	ParamCardCVC        = "card.cvc"
	ParamCardHolderName = "card.holder_name"
)

// maxYearsAhead bounds plausible expiry years; networks issue cards for far less.
const maxYearsAhead = 50

// MaxHolderNameLen bounds the card holder's name, in characters.
const MaxHolderNameLen = 200

// NormalizeCardNumber drops the spaces and dashes people type between digit groups.
func NormalizeCardNumber(number string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, number)
}

// BrandOf names the network of a card number by its prefix ("visa", "mastercard", "amex",
// "discover"), or "" when PayPortal does not accept the brand. It does not check length or
// Luhn.
func BrandOf(number string) string {
	d := NormalizeCardNumber(number)
	if !allDigits(d) || d == "" {
		return ""
	}
	prefix := func(n int) int {
		if len(d) < n {
			return -1
		}
		v, _ := strconv.Atoi(d[:n])
		return v
	}
	switch {
	case d[0] == '4':
		return BrandVisa
	case prefix(2) >= 51 && prefix(2) <= 55, prefix(4) >= 2221 && prefix(4) <= 2720:
		return BrandMastercard
	case prefix(2) == 34, prefix(2) == 37:
		return BrandAmex
	case prefix(4) == 6011, prefix(3) >= 644 && prefix(3) <= 649, prefix(2) == 65:
		return BrandDiscover
	}
	return ""
}

// brandLengths lists the number lengths each brand issues.
var brandLengths = map[string][]int{
	BrandVisa:       {13, 16, 19},
	BrandMastercard: {16},
	BrandAmex:       {15},
	BrandDiscover:   {16},
}

// brandNames are the brands as card holders write them, for messages.
var brandNames = map[string]string{
	BrandVisa: "Visa", BrandMastercard: "Mastercard", BrandAmex: "American Express", BrandDiscover: "Discover",
}

func article(word string) string {
	if strings.ContainsRune("AEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// digitCounts writes lengths as English: "15", "13, 16 or 19".
func digitCounts(lengths []int) string {
	s := make([]string, len(lengths))
	for i, n := range lengths {
		s[i] = strconv.Itoa(n)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// ValidateCard checks what can be checked without asking a processor: number format, brand
// length and Luhn, expiry (a card is good until the end of its expiry month, UTC), CVC length
// and the holder's name (required, at most MaxHolderNameLen characters, no control
// characters). The error is a *billing.Error naming the field.
func ValidateCard(c Card, now time.Time) error {
	if err := validateNumber(c.Number); err != nil {
		return err
	}
	if err := validateExpiry(c.ExpMonth, c.ExpYear, now); err != nil {
		return err
	}
	if err := validateCVC(c.CVC, BrandOf(c.Number)); err != nil {
		return err
	}
	if strings.TrimSpace(c.HolderName) == "" {
		return billing.Invalid(billing.CodeMissingField, ParamCardHolderName, "the card holder's name is required")
	}
	if utf8.RuneCountInString(c.HolderName) > MaxHolderNameLen {
		return billing.Invalid(billing.CodeInvalidValue, ParamCardHolderName, "the card holder's name is limited to %d characters", MaxHolderNameLen)
	}
	if strings.IndexFunc(c.HolderName, unicode.IsControl) >= 0 {
		// A NUL cannot even be stored; the others have no place in a name either.
		return billing.Invalid(billing.CodeInvalidValue, ParamCardHolderName, "the card holder's name must be a single line of text")
	}
	return nil
}

func validateNumber(number string) error {
	d := NormalizeCardNumber(number)
	if d == "" {
		return billing.Invalid(billing.CodeMissingField, ParamCardNumber, "the card number is required")
	}
	if !allDigits(d) {
		return billing.Invalid(billing.CodeInvalidCardNumber, ParamCardNumber, "the card number may contain only digits, spaces and dashes")
	}
	brand := BrandOf(d)
	if brand == "" {
		return billing.Invalid(billing.CodeInvalidCardNumber, ParamCardNumber, "the card brand is not accepted (Visa, Mastercard, American Express, Discover)")
	}
	if !slices.Contains(brandLengths[brand], len(d)) {
		return billing.Invalid(billing.CodeInvalidCardNumber, ParamCardNumber, "%s %s card number has %s digits, not %d",
			article(brandNames[brand]), brandNames[brand], digitCounts(brandLengths[brand]), len(d))
	}
	if !luhnValid(d) {
		return billing.Invalid(billing.CodeInvalidCardNumber, ParamCardNumber, "the card number is not valid")
	}
	return nil
}

func validateExpiry(month, year int, now time.Time) error {
	if month < 1 || month > 12 {
		return billing.Invalid(billing.CodeInvalidExpiry, ParamCardExpMonth, "the expiry month must be between 1 and 12")
	}
	now = now.UTC()
	if year < 1000 || year > now.Year()+maxYearsAhead {
		return billing.Invalid(billing.CodeInvalidExpiry, ParamCardExpYear, "the expiry year must have four digits and be within %d years", maxYearsAhead)
	}
	if Expired(month, year, now) {
		param := ParamCardExpMonth
		if year < now.Year() {
			param = ParamCardExpYear
		}
		return billing.Invalid(billing.CodeCardExpired, param, "the card expired at the end of %02d/%d", month, year)
	}
	return nil
}

// Expired reports whether a card expiring in month/year is expired at now: cards stay valid
// through the last day of their expiry month, read in UTC.
func Expired(month, year int, now time.Time) bool {
	firstInvalid := time.Date(year, time.Month(month)+1, 1, 0, 0, 0, 0, time.UTC)
	return !now.Before(firstInvalid)
}

func validateCVC(cvc, brand string) error {
	want := 3
	if brand == BrandAmex {
		want = 4
	}
	if len(cvc) != want || !allDigits(cvc) {
		return billing.Invalid(billing.CodeInvalidCVC, ParamCardCVC, "the security code must be %d digits", want)
	}
	return nil
}

// luhnValid runs the mod-10 check every card number carries in its last digit.
func luhnValid(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		n := int(digits[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

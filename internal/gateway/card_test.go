package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

func TestBrandOf(t *testing.T) {
	tests := []struct {
		number, want string
	}{
		{"4242424242424242", BrandVisa},
		{"4242 4242 4242 4242", BrandVisa},
		{"5555-5555-5555-4444", BrandMastercard},
		{"5105105105105100", BrandMastercard},
		{"2221000000000009", BrandMastercard},
		{"2720990000000007", BrandMastercard},
		{"2220990000000000", ""},
		{"2721000000000000", ""},
		{"378282246310005", BrandAmex},
		{"341111111111111", BrandAmex},
		{"6011111111111117", BrandDiscover},
		{"6445644564456445", BrandDiscover},
		{"6500000000000002", BrandDiscover},
		{"3530111333300000", ""}, // JCB: not accepted
		{"", ""},
		{"42x2", ""},
	}
	for _, tt := range tests {
		if got := BrandOf(tt.number); got != tt.want {
			t.Errorf("BrandOf(%q) = %q, want %q", tt.number, got, tt.want)
		}
	}
}

func TestValidateCard(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	good := Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada Lovelace"}
	with := func(f func(*Card)) Card { c := good; f(&c); return c }

	tests := []struct {
		name      string
		card      Card
		now       time.Time
		wantCode  string // "" means valid
		wantParam string
	}{
		{"visa", good, now, "", ""},
		{"spaces and dashes", with(func(c *Card) { c.Number = "4242 4242-4242 4242" }), now, "", ""},
		{"visa 13", with(func(c *Card) { c.Number = "4222222222222" }), now, "", ""},
		{"visa 19", with(func(c *Card) { c.Number = "4000000000000000006" }), now, "", ""},
		{"mastercard", with(func(c *Card) { c.Number = "5555555555554444" }), now, "", ""},
		{"mastercard 2-series", with(func(c *Card) { c.Number = "2223003122003222" }), now, "", ""},
		{"amex", with(func(c *Card) { c.Number = "378282246310005"; c.CVC = "1234" }), now, "", ""},
		{"discover", with(func(c *Card) { c.Number = "6011111111111117" }), now, "", ""},
		{"sandbox decline card is valid", with(func(c *Card) { c.Number = "4000000000000002" }), now, "", ""},
		{"expires this month", with(func(c *Card) { c.ExpMonth = 3; c.ExpYear = 2026 }), now, "", ""},
		{"last instant of exp month", with(func(c *Card) { c.ExpMonth = 3; c.ExpYear = 2026 }), time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC), "", ""},

		{"missing number", with(func(c *Card) { c.Number = "" }), now, billing.CodeMissingField, ParamCardNumber},
		{"letters", with(func(c *Card) { c.Number = "4242abcd42424242" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"luhn", with(func(c *Card) { c.Number = "4242424242424241" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"visa 15 digits", with(func(c *Card) { c.Number = "424242424242424" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"mastercard 15 digits", with(func(c *Card) { c.Number = "555555555555444" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"amex 16 digits", with(func(c *Card) { c.Number = "3782822463100050"; c.CVC = "1234" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"unknown brand", with(func(c *Card) { c.Number = "3530111333300000" }), now, billing.CodeInvalidCardNumber, ParamCardNumber},
		{"month 0", with(func(c *Card) { c.ExpMonth = 0 }), now, billing.CodeInvalidExpiry, ParamCardExpMonth},
		{"month 13", with(func(c *Card) { c.ExpMonth = 13 }), now, billing.CodeInvalidExpiry, ParamCardExpMonth},
		{"two-digit year", with(func(c *Card) { c.ExpYear = 30 }), now, billing.CodeInvalidExpiry, ParamCardExpYear},
		{"year far ahead", with(func(c *Card) { c.ExpYear = 2100 }), now, billing.CodeInvalidExpiry, ParamCardExpYear},
		{"expired last month", with(func(c *Card) { c.ExpMonth = 2; c.ExpYear = 2026 }), now, billing.CodeCardExpired, ParamCardExpMonth},
		{"expired last year", with(func(c *Card) { c.ExpMonth = 12; c.ExpYear = 2025 }), now, billing.CodeCardExpired, ParamCardExpYear},
		{"expired at month end", with(func(c *Card) { c.ExpMonth = 3; c.ExpYear = 2026 }), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), billing.CodeCardExpired, ParamCardExpMonth},
		{"cvc short", with(func(c *Card) { c.CVC = "12" }), now, billing.CodeInvalidCVC, ParamCardCVC},
		{"cvc letters", with(func(c *Card) { c.CVC = "12a" }), now, billing.CodeInvalidCVC, ParamCardCVC},
		{"cvc 4 on visa", with(func(c *Card) { c.CVC = "1234" }), now, billing.CodeInvalidCVC, ParamCardCVC},
		{"cvc 3 on amex", with(func(c *Card) { c.Number = "378282246310005"; c.CVC = "123" }), now, billing.CodeInvalidCVC, ParamCardCVC},
		{"missing holder", with(func(c *Card) { c.HolderName = "  " }), now, billing.CodeMissingField, ParamCardHolderName},
		{"holder of 200", with(func(c *Card) { c.HolderName = strings.Repeat("é", 200) }), now, "", ""},
		{"holder over 200", with(func(c *Card) { c.HolderName = strings.Repeat("é", 201) }), now, billing.CodeInvalidValue, ParamCardHolderName},
		{"holder with a NUL", with(func(c *Card) { c.HolderName = "Ada\x00Lovelace" }), now, billing.CodeInvalidValue, ParamCardHolderName},
		{"holder on two lines", with(func(c *Card) { c.HolderName = "Ada\nLovelace" }), now, billing.CodeInvalidValue, ParamCardHolderName},
		{"holder with an escape", with(func(c *Card) { c.HolderName = "Ada\x1b[2J" }), now, billing.CodeInvalidValue, ParamCardHolderName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateCard(tt.card, tt.now)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("ValidateCard(%v) = %v, want nil", tt.card, err)
				}
				return
			}
			e := billing.ErrorOf(err)
			if e == nil {
				t.Fatalf("ValidateCard(%v) = %v, want *billing.Error %s", tt.card, err, tt.wantCode)
			}
			if e.Kind != billing.KindInvalid || e.Code != tt.wantCode || e.Param != tt.wantParam {
				t.Errorf("ValidateCard(%v) = kind %s code %s param %s, want invalid %s %s", tt.card, e.Kind, e.Code, e.Param, tt.wantCode, tt.wantParam)
			}
		})
	}
}

func TestLuhn(t *testing.T) {
	for _, n := range []string{"79927398713", "4242424242424242", "378282246310005", "0"} {
		if !luhnValid(n) {
			t.Errorf("luhnValid(%s) = false", n)
		}
	}
	for _, n := range []string{"79927398710", "4242424242424243", "1"} {
		if luhnValid(n) {
			t.Errorf("luhnValid(%s) = true", n)
		}
	}
}

// TestCardLengthMessageReadsAsEnglish: the brand as card holders write it, with the lengths
// it has.
func TestCardLengthMessageReadsAsEnglish(t *testing.T) {
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for number, want := range map[string]string{
		"42424242424242":  "a Visa card number has 13, 16 or 19 digits, not 14",
		"37828224631000":  "an American Express card number has 15 digits, not 14",
		"555555555555444": "a Mastercard card number has 16 digits, not 15",
	} {
		err := ValidateCard(Card{Number: number, ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada"}, now)
		if e := billing.ErrorOf(err); e == nil || e.Message != want {
			t.Errorf("%s: %v, want %q", number, err, want)
		}
	}
}

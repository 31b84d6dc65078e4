package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

// fuzzNow is the validation clock of the fuzz target.
var fuzzNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

// FuzzValidateCard: whatever a client sends as a card, validation never panics, refuses
// with a 422 naming one of the card's fields, never repeats the card number (an error
// message reaches logs and answers) and accepts only a number of an accepted brand and
// length that passes Luhn. A card never prints its number or CVC, however formatted.
// CI: go test -run '^$' -fuzz '^FuzzValidateCard$' -fuzztime 3s ./internal/gateway
func FuzzValidateCard(f *testing.F) {
	for _, c := range []Card{
		{Number: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada Lovelace"},
		{Number: "3782-822463-10005", ExpMonth: 3, ExpYear: 2026, CVC: "1234", HolderName: "A"},
		{Number: "4000000000000002", ExpMonth: 2, ExpYear: 2026, CVC: "123", HolderName: "Late"},
		{Number: "6011111111111117", ExpMonth: 13, ExpYear: 2030, CVC: "12", HolderName: "B"},
		{Number: "4242424242424241", ExpMonth: 1, ExpYear: 2100, CVC: "abc", HolderName: "\x00"},
		{Number: "５５５５５５５５５５５５４４４４", ExpMonth: 1, ExpYear: 2030, CVC: "123", HolderName: "Wide"},
		{Number: "", ExpMonth: 0, ExpYear: 0, CVC: "", HolderName: ""},
	} {
		f.Add(c.Number, c.ExpMonth, c.ExpYear, c.CVC, c.HolderName)
	}
	params := []string{ParamCardNumber, ParamCardExpMonth, ParamCardExpYear, ParamCardCVC, ParamCardHolderName}
	f.Fuzz(func(t *testing.T, number string, month, year int, cvc, holder string) {
		c := Card{Number: number, ExpMonth: month, ExpYear: year, CVC: cvc, HolderName: holder}
		err := ValidateCard(c, fuzzNow)
		digits := NormalizeCardNumber(number)
		if err != nil {
			var e *billing.Error
			if !errors.As(err, &e) {
				t.Fatalf("ValidateCard(%v) = %T %v, want a *billing.Error", c, err, err)
			}
			if e.Kind != billing.KindInvalid || !slices.Contains(params, e.Param) || e.Code == "" || e.Message == "" {
				t.Fatalf("ValidateCard(%v) = %+v, want a 422 naming a card field", c, e)
			}
			// Six digits and more could be the number or a good part of it.
			if len(digits) >= 6 && (strings.Contains(err.Error(), digits) || strings.Contains(err.Error(), number)) {
				t.Fatalf("the error %q repeats the card number", err)
			}
		} else {
			brand := BrandOf(number)
			if brand == "" || !allDigits(digits) || !slices.Contains(brandLengths[brand], len(digits)) || !luhnValid(digits) {
				t.Fatalf("ValidateCard accepted %q (brand %q, %d digits)", number, brand, len(digits))
			}
			if Expired(month, year, fuzzNow) || strings.TrimSpace(holder) == "" {
				t.Fatalf("ValidateCard accepted an expired or unnamed card: %d/%d %q", month, year, holder)
			}
			if c.Last4() != digits[len(digits)-4:] {
				t.Fatalf("Last4 %q of %q", c.Last4(), number)
			}
		}
		// However the card is printed or logged, its number and CVC stay out.
		var logged strings.Builder
		noTime := func(_ []string, a slog.Attr) slog.Attr { // a timestamp's digits would look like a leak
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("card", "card", c)
		shown := fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c) + logged.String()
		if len(digits) >= 6 && allDigits(digits) && strings.Contains(NormalizeCardNumber(shown), digits) {
			t.Fatalf("the card number %q is in its printed forms: %s", number, shown)
		}
		if _, err := c.MarshalJSON(); err == nil {
			t.Fatal("a card serialized to JSON")
		}
	})
}

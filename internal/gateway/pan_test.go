package gateway

import "testing"

func TestContainsCardNumber(t *testing.T) {
	for text, want := range map[string]bool{
		"4242424242424242":               true,
		"paid with 4242 4242 4242 4242.": true,
		"card 5555-5555-5555-4444 ok":    true,
		"378282246310005":                true,
		"4242424242424241":               false, // Luhn fails
		"order 1234567890123456":         false, // no accepted brand
		"42424242":                       false, // too short
		"4242  4242 4242 4242":           false, // two blanks end the run
		"A-1001":                         false,
		"":                               false,
	} {
		if got := ContainsCardNumber(text); got != want {
			t.Errorf("ContainsCardNumber(%q) = %v, want %v", text, got, want)
		}
	}
}

package api

import "testing"

func TestDecimalAmount(t *testing.T) {
	for _, tc := range []struct {
		minor    int64
		currency string
		want     string
	}{
		{123450, "USD", "1234.50"}, {-2000, "EUR", "-20.00"}, {5, "USD", "0.05"}, {0, "GBP", "0.00"},
		{-7, "USD", "-0.07"}, {500, "JPY", "500"}, {1234, "KWD", "1.234"}, {-9223372036854775808, "USD", "-92233720368547758.08"},
	} {
		if got := decimalAmount(tc.minor, tc.currency); got != tc.want {
			t.Errorf("decimalAmount(%d, %s) = %q, want %q", tc.minor, tc.currency, got, tc.want)
		}
	}
}

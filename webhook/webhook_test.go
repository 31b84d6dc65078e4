package webhook

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"payment.succeeded"}`)
	good := Sign("whsec_a", now, body)
	if !strings.HasPrefix(good, "t=1800000000,v1=") {
		t.Fatalf("header %q", good)
	}
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "whsec_a", good, body, now, nil},
		{"valid within tolerance", "whsec_a", good, body, now.Add(4 * time.Minute), nil},
		{"rolled secret: one of two signatures", "whsec_a", Sign("whsec_old", now, body) + "," + good[strings.Index(good, "v1="):], body, now, nil},
		{"other secret", "whsec_b", good, body, now, ErrBadSignature},
		{"body changed", "whsec_a", good, []byte(`{"id":"evt_2"}`), now, ErrBadSignature},
		{"timestamp changed", "whsec_a", strings.Replace(good, "t=1800000000", "t=1800000060", 1), body, now, ErrBadSignature},
		{"old", "whsec_a", good, body, now.Add(6 * time.Minute), ErrTooOld},
		{"from the future", "whsec_a", good, body, now.Add(-6 * time.Minute), ErrTooOld},
		{"no signature", "whsec_a", "t=1800000000", body, now, ErrMalformedHeader},
		{"empty", "whsec_a", "", body, now, ErrMalformedHeader},
		{"not hex", "whsec_a", "t=1800000000,v1=zz", body, now, ErrMalformedHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyAt(tc.secret, tc.header, tc.body, 5*time.Minute, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

// Package webhook signs and verifies PayPortal's webhook deliveries. Receivers import it to
// check that a POST came from PayPortal and is recent:
//
//	body, _ := io.ReadAll(r.Body)
//	if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, 5*time.Minute); err != nil {
//		http.Error(w, "bad signature", http.StatusBadRequest)
//		return
//	}
//
// The header is "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>"; a
// receiver drops duplicates by the PayPortal-Event-Id header (deliveries are at least once).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The headers of every delivery.
const (
	SignatureHeader = "PayPortal-Signature"
	EventIDHeader   = "PayPortal-Event-Id"
)

// Errors Verify answers.
var (
	ErrMalformedHeader = errors.New("webhook: malformed signature header")
	ErrBadSignature    = errors.New("webhook: no signature matches")
	ErrTooOld          = errors.New("webhook: timestamp outside the tolerance")
)

// Sign is the signature header for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks header (the PayPortal-Signature value) against the raw body: one v1
// signature must be the HMAC of the body under secret, and its timestamp no further than
// tolerance from now, so a captured delivery cannot be replayed later. Several v1 values are
// accepted (any may match), for a secret being rolled.
func Verify(secret, header string, body []byte, tolerance time.Duration) error {
	return verifyAt(secret, header, body, tolerance, time.Now())
}

func verifyAt(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var (
		ts   string
		sigs [][]byte
	)
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformedHeader
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return ErrMalformedHeader
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformedHeader
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrBadSignature
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%w: signed %s ago", ErrTooOld, age.Round(time.Second))
	}
	return nil
}

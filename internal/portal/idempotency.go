package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"strings"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// fingerprint tells a replay of a request from a reuse of its Idempotency-Key: the
// HMAC-SHA-256 under secret (PAYPORTAL_IDEMPOTENCY_SECRET) of canonical, the request in a
// fixed form (a struct, fields in a fixed order), so the same request hashes the same whatever
// its JSON's formatting. It is keyed because what it covers (a name, an address, an amount) is
// easily guessed, and a plain hash of guessable facts tells them.
func fingerprint(secret []byte, canonical any) []byte {
	h := hmac.New(sha256.New, secret)
	if err := json.NewEncoder(h).Encode(canonical); err != nil {
		panic("encode canonical request: " + err.Error()) // plain strings and numbers cannot fail
	}
	return h.Sum(nil)
}

// cardFacts is what a fingerprint may take of a card: what may be kept at rest, never the full
// number or the CVC. Two cards alike in these facts sent with one key are the same request.
type cardFacts struct {
	Brand      string `json:"brand"`
	Last4      string `json:"last4"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	HolderName string `json:"holder_name"`
}

func factsOf(c gateway.Card) *cardFacts {
	return &cardFacts{Brand: c.Brand(), Last4: c.Last4(), ExpMonth: c.ExpMonth, ExpYear: c.ExpYear,
		HolderName: strings.TrimSpace(c.HolderName)}
}

// isConflict reports whether err is the 409 with code.
func isConflict(err error, code string) bool {
	e := billing.ErrorOf(err)
	return e != nil && e.Kind == billing.KindConflict && e.Code == code
}

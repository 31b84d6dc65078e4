package portal

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/postgres"
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

// awaitRow reads a row (read) until moved says it has moved on, or until wait has passed since
// the key was claimed: by then the request that claimed it has answered, so a row that has not
// moved never will by that request. It answers the last row read.
func awaitRow[T any](ctx context.Context, claim postgres.IdempotencyRecord, wait time.Duration,
	read func(context.Context) (T, error), moved func(T) bool) (T, error) {
	deadline := claim.CreatedAt.Add(wait)
	for {
		row, err := read(ctx)
		if err != nil || moved(row) || !time.Now().Before(deadline) {
			return row, err
		}
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// releaseIfRefused gives back a key claimed by a request that was refused (a 4xx: nothing was
// done), so a retry with it is refused the same way rather than replaying nothing. After any
// other error the work may have been done, and the key stays claimed for the retry to find.
func releaseIfRefused(ctx context.Context, db *postgres.DB, log *slog.Logger, key postgres.IdempotencyRecord, err error) {
	if e := billing.ErrorOf(err); e == nil || e.Kind == billing.KindUnavailable || e.Kind == billing.KindInternal {
		return
	}
	if rerr := db.ReleaseIdempotencyKey(context.WithoutCancel(ctx), key); rerr != nil {
		log.WarnContext(ctx, "idempotency key of a refused request kept", "route", string(key.Route), "err", rerr)
	}
}

// isConflict reports whether err is the 409 with code.
func isConflict(err error, code string) bool {
	e := billing.ErrorOf(err)
	return e != nil && e.Kind == billing.KindConflict && e.Code == code
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// IdempotencyRoute names a write that honours Idempotency-Key.
type IdempotencyRoute string

// The writes that honour Idempotency-Key.
const (
	RouteCreatePayment       IdempotencyRoute = "create_payment"
	RouteCancelPayment       IdempotencyRoute = "cancel_payment"
	RouteAddPaymentMethod    IdempotencyRoute = "add_payment_method"
	RouteDecidePaymentMethod IdempotencyRoute = "decide_payment_method"
	RouteRefundPayment       IdempotencyRoute = "refund_payment"
	RouteIssueCredit         IdempotencyRoute = "issue_credit"
)

// firstAnswer is the status each route answers when it does the work (the API's), recorded
// with the key: its replays answer the same.
var firstAnswer = map[IdempotencyRoute]int{
	RouteCreatePayment:       202,
	RouteCancelPayment:       200,
	RouteAddPaymentMethod:    202,
	RouteDecidePaymentMethod: 200,
	RouteRefundPayment:       202,
	RouteIssueCredit:         202,
}

// IdempotencyRecord is what one Idempotency-Key did: the route it was sent to, the fingerprint
// of the request, the resource the route made or acted on, and the status of the first answer,
// which every replay repeats. A customer's key is scoped to the account (AccountID), a rep's
// to the rep's API key (RepKeyID; AccountID is then the card's account).
type IdempotencyRecord struct {
	AccountID       string
	RepKeyID        string
	Key             string
	Route           IdempotencyRoute
	RequestHash     []byte
	PaymentID       string // create_payment, cancel_payment
	PaymentMethodID string // add_payment_method, decide_payment_method
	RefundID        string // refund_payment (PaymentID is the payment refunded)
	CreditID        string // issue_credit
	StatusCode      int    // the first answer's; filled in from the route when zero
	CreatedAt       time.Time
}

// Matches reports whether want, a new request, is a replay of the request that made r. An
// empty stored fingerprint is "unknown" (migration 00006 cleared old card payments' ones):
// the key's answer stands whatever the request, as it did before.
func (r IdempotencyRecord) Matches(want IdempotencyRecord) bool {
	return r.Route == want.Route && (len(r.RequestHash) == 0 || bytes.Equal(r.RequestHash, want.RequestHash))
}

// IdempotencyKeyReused is the 409 for a key sent again with another request.
func IdempotencyKeyReused() error {
	return billing.Conflict(billing.CodeIdempotencyKeyReused,
		"this Idempotency-Key was already used with a different request; use a new key for a new request")
}

// FindIdempotencyKey returns the record of the key in the scope of r (its account, or its
// rep), and whether there is one.
func (db *DB) FindIdempotencyKey(ctx context.Context, r IdempotencyRecord) (IdempotencyRecord, bool, error) {
	return findIdempotencyKey(ctx, db.Pool, r)
}

func findIdempotencyKey(ctx context.Context, q querier, r IdempotencyRecord) (IdempotencyRecord, bool, error) {
	const columns = `SELECT account_id, coalesce(rep_key_id, ''), key, route, request_hash, coalesce(payment_id, ''),
		coalesce(payment_method_id, ''), coalesce(refund_id, ''), coalesce(credit_id, ''), status_code, created_at FROM idempotency_keys`
	var row pgx.Row
	if r.RepKeyID != "" {
		row = q.QueryRow(ctx, columns+` WHERE rep_key_id = $1 AND key = $2`, r.RepKeyID, r.Key)
	} else {
		row = q.QueryRow(ctx, columns+` WHERE account_id = $1 AND rep_key_id IS NULL AND key = $2`, r.AccountID, r.Key)
	}
	var found IdempotencyRecord
	err := row.Scan(&found.AccountID, &found.RepKeyID, &found.Key, &found.Route, &found.RequestHash, &found.PaymentID,
		&found.PaymentMethodID, &found.RefundID, &found.CreditID, &found.StatusCode, &found.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return IdempotencyRecord{}, false, nil
	}
	if err != nil {
		return IdempotencyRecord{}, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return found, true, nil
}

// RecordIdempotencyKey records a key before its request sends the work on (cancels and
// decisions: the work is the workflow's), claiming it. A concurrent request with the same key
// may have recorded first: then nothing is written and the record that stands is answered
// (recorded=false).
func (db *DB) RecordIdempotencyKey(ctx context.Context, r IdempotencyRecord) (stands IdempotencyRecord, recorded bool, err error) {
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var found bool
		stands, found, err = insertIdempotencyKey(ctx, tx, r)
		recorded = !found
		return err
	})
	return stands, recorded, err
}

// insertIdempotencyKey writes r unless its key already has a record, which it then answers
// (found). A concurrent insert of the same key waits for the other transaction and, if that
// commits, finds its record.
func insertIdempotencyKey(ctx context.Context, tx pgx.Tx, r IdempotencyRecord) (IdempotencyRecord, bool, error) {
	r = withDefaults(r)
	tag, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (account_id, rep_key_id, key, route, request_hash,
		payment_id, payment_method_id, refund_id, credit_id, status_code, created_at)
		VALUES ($1, nullif($2, ''), $3, $4, $5, nullif($6, ''), nullif($7, ''), nullif($8, ''), nullif($9, ''), $10, $11)
		ON CONFLICT DO NOTHING`,
		r.AccountID, r.RepKeyID, r.Key, r.Route, r.RequestHash, r.PaymentID, r.PaymentMethodID, r.RefundID, r.CreditID,
		r.StatusCode, r.CreatedAt)
	if err != nil {
		return IdempotencyRecord{}, false, fmt.Errorf("insert idempotency key: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return r, false, nil
	}
	return standingIdempotencyKey(ctx, tx, r)
}

// withDefaults is r as it is stored: the route's first answer and now when unset.
func withDefaults(r IdempotencyRecord) IdempotencyRecord {
	if r.StatusCode == 0 {
		r.StatusCode = firstAnswer[r.Route]
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	return r
}

// standingIdempotencyKey answers the record that kept r's insert from writing (found).
func standingIdempotencyKey(ctx context.Context, q querier, r IdempotencyRecord) (IdempotencyRecord, bool, error) {
	found, ok, err := findIdempotencyKey(ctx, q, r)
	if err != nil {
		return IdempotencyRecord{}, false, err
	}
	if !ok {
		return IdempotencyRecord{}, false, fmt.Errorf("idempotency key conflicted but has no record")
	}
	return found, true, nil
}

// ReleaseIdempotencyKey deletes the record of a key whose request was refused, so a retry
// with it is refused the same way.
func (db *DB) ReleaseIdempotencyKey(ctx context.Context, r IdempotencyRecord) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = $1 AND route = $2 AND
		(rep_key_id = $3 OR $3 = '' AND rep_key_id IS NULL AND account_id = $4)`, r.Key, r.Route, r.RepKeyID, r.AccountID)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

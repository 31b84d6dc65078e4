package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// A payment's receipt is due from the booking that books it (Booking.MailReceipt) until a
// mailer says it was mailed or given up. Claiming moves it to the claim's lease end, which is
// also the claim's token: only the pass holding the lease settles it. So however many mailers
// run, one mails it; only a mailer that dies (or stalls past its lease) between the mail and
// the mark leaves it to be mailed again.

// ClaimDueReceipts claims up to limit receipts due at now, oldest first, until leaseUntil, and
// reads what each is written from: two round trips. Rows another claimer holds are skipped.
// A claim whose read fails is given back, due at once.
func (db *DB) ClaimDueReceipts(ctx context.Context, now time.Time, limit int, leaseUntil time.Time) ([]PaymentMailFacts, error) {
	leaseUntil = leaseUntil.Truncate(time.Microsecond) // as Postgres keeps it: the token must match
	rows, err := db.Pool.Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id FROM payments WHERE receipt_due_at <= $1 ORDER BY receipt_due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		UPDATE payments p SET receipt_due_at = $3 FROM due WHERE p.id = due.id RETURNING p.id`, now, limit, leaseUntil)
	if err != nil {
		return nil, fmt.Errorf("claim due receipts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	facts := make([]PaymentMailFacts, len(ids))
	b := &pgx.Batch{}
	for i, id := range ids {
		queueMailFacts(b, id, &facts[i])
	}
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		err = fmt.Errorf("read %d claimed receipts: %w", len(ids), err)
		if _, relErr := db.Pool.Exec(ctx, `UPDATE payments SET receipt_due_at = $2 WHERE id = ANY ($1) AND receipt_due_at = $3`,
			ids, now, leaseUntil); relErr != nil {
			err = errors.Join(err, fmt.Errorf("give the claims back: %w", relErr))
		}
		return nil, err
	}
	return facts, nil
}

// ReceiptOutcomes is what a mailer's pass did with the receipts it claimed until LeaseUntil.
type ReceiptOutcomes struct {
	LeaseUntil time.Time
	Mailed     []string // sent
	GivenUp    []string // refused for good (a bad address) or failing for too long
	Retry      []string // failed for now: due again at RetryAt
	RetryAt    time.Time
}

// SettleReceipts records a pass's outcomes in one round trip: mailed and given-up receipts
// are no longer due, the others are due again at RetryAt. Only receipts still under the
// pass's lease change: one whose lease ran out belongs to whichever pass claimed it since.
func (db *DB) SettleReceipts(ctx context.Context, o ReceiptOutcomes) error {
	lease := o.LeaseUntil.Truncate(time.Microsecond)
	b := &pgx.Batch{}
	if done := slices.Concat(o.Mailed, o.GivenUp); len(done) > 0 {
		b.Queue(`UPDATE payments SET receipt_due_at = NULL WHERE id = ANY ($1) AND receipt_due_at = $2`, done, lease)
	}
	if len(o.Retry) > 0 {
		b.Queue(`UPDATE payments SET receipt_due_at = $3 WHERE id = ANY ($1) AND receipt_due_at = $2`, o.Retry, lease, o.RetryAt)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("settle receipts: %w", err)
	}
	db.events().ReceiptsSettled(len(o.Mailed), len(o.GivenUp), len(o.Retry))
	return nil
}

// ReceiptDue reports when the payment's receipt is due: nil once mailed or given up, or when
// no booking asked for one.
func (db *DB) ReceiptDue(ctx context.Context, paymentID string) (*time.Time, error) {
	var due *time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT receipt_due_at FROM payments WHERE id = $1`, paymentID).Scan(&due); err != nil {
		return nil, fmt.Errorf("receipt of %s: %w", paymentID, err)
	}
	return due, nil
}

package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// A payment's receipt is due from the booking that books it (Booking.MailReceipt) until a
// mailer says it was mailed or given up. Claiming moves it a lease ahead, so however many
// mailers run, one mails it; only a mailer that dies between the mail and the mark leaves it
// to be mailed again once the lease ends.

// ClaimDueReceipts claims up to limit receipts due at now, oldest first, until leaseUntil, and
// reads what each is written from: two round trips. Rows another claimer holds are skipped.
func (db *DB) ClaimDueReceipts(ctx context.Context, now time.Time, limit int, leaseUntil time.Time) ([]PaymentMailFacts, error) {
	rows, err := db.Pool.Query(ctx, `UPDATE payments SET receipt_due_at = $3
		WHERE id IN (SELECT id FROM payments WHERE receipt_due_at <= $1 ORDER BY receipt_due_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id`, now, limit, leaseUntil)
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
		return nil, fmt.Errorf("read %d claimed receipts: %w", len(ids), err)
	}
	return facts, nil
}

// ReceiptOutcomes is what a mailer's pass did with the receipts it claimed.
type ReceiptOutcomes struct {
	Mailed  []string // sent
	GivenUp []string // refused for good (a bad address) or failing for too long
	Retry   []string // failed for now: due again at RetryAt
	RetryAt time.Time
}

// SettleReceipts records a pass's outcomes in one round trip: mailed and given-up receipts
// are no longer due, the others are due again at RetryAt.
func (db *DB) SettleReceipts(ctx context.Context, o ReceiptOutcomes) error {
	b := &pgx.Batch{}
	if done := slices.Concat(o.Mailed, o.GivenUp); len(done) > 0 {
		b.Queue(`UPDATE payments SET receipt_due_at = NULL WHERE id = ANY ($1)`, done)
	}
	if len(o.Retry) > 0 {
		b.Queue(`UPDATE payments SET receipt_due_at = $2 WHERE id = ANY ($1)`, o.Retry, o.RetryAt)
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

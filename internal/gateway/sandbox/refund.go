package sandbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// refundTables names where a processor keeps captures and refunds; cards and PayPal refund
// the same way.
type refundTables struct {
	captures, refunds, keyColumn string
}

var (
	cardRefunds   = refundTables{captures: "sandbox_captures", refunds: "sandbox_refunds", keyColumn: "idempotency_key"}
	paypalRefunds = refundTables{captures: "sandbox_paypal_captures", refunds: "sandbox_paypal_refunds", keyColumn: "request_id"}
)

// refund records a refund of captureID unless key already made one, keeping the sum of a
// capture's refunds within what was captured.
func refund(ctx context.Context, pool *pgxpool.Pool, t refundTables, captureID string, amount billing.Money, key, newID string) (refundID string, err error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkMoney(amount); err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Lock the capture so concurrent refunds cannot together exceed it.
		var captured int64
		var currency string
		err := tx.QueryRow(ctx, `SELECT amount, currency FROM `+t.captures+` WHERE id = $1 FOR UPDATE`,
			captureID).Scan(&captured, &currency)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("capture: %w", gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock capture: %w", err)
		}

		var existingCapture string
		var existingAmount int64
		err = tx.QueryRow(ctx, `SELECT id, capture_id, amount FROM `+t.refunds+` WHERE `+t.keyColumn+` = $1`,
			key).Scan(&refundID, &existingCapture, &existingAmount)
		switch {
		case err == nil:
			if existingCapture != captureID || existingAmount != amount.Amount {
				return fmt.Errorf("%w: idempotency key %q was used for another refund", gateway.ErrInvalidState, key)
			}
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("look up idempotency key: %w", err)
		}

		if amount.Currency != currency {
			return fmt.Errorf("%w: the capture is in %s", gateway.ErrInvalidRequest, currency)
		}
		var refunded int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(sum(amount), 0) FROM `+t.refunds+` WHERE capture_id = $1`,
			captureID).Scan(&refunded); err != nil {
			return fmt.Errorf("sum refunds: %w", err)
		}
		if refunded+amount.Amount > captured {
			return fmt.Errorf("%w: %d of %d already refunded", gateway.ErrInvalidState, refunded, captured)
		}
		refundID = newID
		_, err = tx.Exec(ctx, `INSERT INTO `+t.refunds+` (id, capture_id, `+t.keyColumn+`, amount, currency)
			VALUES ($1, $2, $3, $4, $5)`, refundID, captureID, key, amount.Amount, amount.Currency)
		if isUniqueViolation(err) {
			return fmt.Errorf("%w: idempotency key %q was used for another refund", gateway.ErrInvalidState, key)
		}
		if err != nil {
			return fmt.Errorf("store refund: %w", err)
		}
		return nil
	})
	return refundID, err
}

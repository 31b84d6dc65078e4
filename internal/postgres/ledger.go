package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// appendLedger books one entry; zero amounts are not booked. (kind, reference) is unique, so
// booking the same thing twice fails with a unique violation the caller can recognise.
func appendLedger(ctx context.Context, tx pgx.Tx, accountID, kind, reference string, amount int64, currency string, at time.Time) error {
	if amount == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, accountID, kind, reference, amount, currency, at)
	if err != nil {
		return fmt.Errorf("book %s %s on ledger: %w", kind, reference, err)
	}
	return nil
}

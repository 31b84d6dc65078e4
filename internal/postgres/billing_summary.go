package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// SummaryFacts are the stored facts an account's billing summary is computed from.
type SummaryFacts struct {
	Account                    billing.Account
	Balance                    int64
	RecurringCharges           []billing.RecurringCharge // active ones
	MonthlyPaymentMethod       *billing.PaymentMethod    // nil: no validated card
	LatestRecurringInvoiceDate *time.Time                // nil: never billed monthly
}

// SummaryFacts reads the summary's facts in one round trip: the summary is the portal's
// landing page, and its five reads sent one after the other would cost five. They go out as
// one pipelined batch, running in one implicit transaction. An unknown account is not_found.
func (db *DB) SummaryFacts(ctx context.Context, accountID string) (SummaryFacts, error) {
	var f SummaryFacts
	b := &pgx.Batch{}
	b.Queue(accountSQL, accountID).QueryRow(func(row pgx.Row) error {
		var err error
		if f.Account, err = scanAccount(row); errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("account")
		}
		return err
	})
	b.Queue(balanceSQL, accountID).QueryRow(func(row pgx.Row) error { return row.Scan(&f.Balance) })
	b.Queue(recurringChargesSQL, accountID).Query(func(rows pgx.Rows) error {
		var err error
		f.RecurringCharges, err = pgx.CollectRows(rows, pgx.RowToStructByPos[billing.RecurringCharge])
		return err
	})
	b.Queue(monthlyPaymentMethodSQL, accountID).QueryRow(func(row pgx.Row) error {
		pm, err := scanPaymentMethod(row)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		f.MonthlyPaymentMethod = &pm
		return nil
	})
	b.Queue(`SELECT max(created_at) FROM invoices WHERE account_id = $1 AND type = 'recurring'`, accountID).
		QueryRow(func(row pgx.Row) error { return row.Scan(&f.LatestRecurringInvoiceDate) })

	err := db.Pool.SendBatch(ctx, b).Close()
	if billing.ErrorOf(err) != nil {
		return SummaryFacts{}, err
	}
	if err != nil {
		return SummaryFacts{}, fmt.Errorf("load billing summary of %s: %w", accountID, err)
	}
	return f, nil
}

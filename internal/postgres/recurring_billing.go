package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// ErrNothingDue says an invoice needs no charge: it is paid, void, or the account's balance
// (after credits and payments in flight) already covers it.
var ErrNothingDue = errors.New("nothing due")

// CreateInvoicePayment stores the payment that charges what is still due on one of the
// account's invoices, capped by the account's balance minus the payments in flight so a
// charge never takes more than is owed. p.Amount.Amount is ignored: the amount is computed
// here, under the account lock payment creation takes. The payment ID is the idempotency key:
// when it exists the stored payment is returned with created=false, whatever it became.
func (db *DB) CreateInvoicePayment(ctx context.Context, p billing.Payment, invoiceID string) (_ billing.Payment, created bool, err error) {
	var stored billing.Payment
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, p.AccountID); err != nil {
			return err
		}
		existing, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, p.ID))
		if err == nil {
			if existing.AccountID != p.AccountID {
				return fmt.Errorf("payment %s belongs to another account", p.ID)
			}
			stored = existing
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("look up payment: %w", err)
		}
		var due int64
		var currency string
		err = tx.QueryRow(ctx, `SELECT CASE WHEN status = 'open' THEN greatest(total - amount_paid, 0) ELSE 0 END, currency
			FROM invoices WHERE id = $1 AND account_id = $2`, invoiceID, p.AccountID).Scan(&due, &currency)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("invoice")
		}
		if err != nil {
			return fmt.Errorf("load amount due: %w", err)
		}
		available, err := availableToPay(ctx, tx, p.AccountID)
		if err != nil {
			return err
		}
		amount := min(due, available)
		if amount <= 0 {
			return ErrNothingDue
		}
		p.Amount = billing.Money{Amount: amount, Currency: currency}
		if err := insertPayment(ctx, tx, p, &invoiceID); err != nil {
			return err
		}
		stored, created = p, true
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNothingDue) || billing.ErrorOf(err) != nil {
			return billing.Payment{}, false, err
		}
		return billing.Payment{}, false, fmt.Errorf("create payment %s for invoice %s: %w", p.ID, invoiceID, err)
	}
	return stored, created, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// InvoiceChargeOutcome says where collecting one invoice stands. Only a settled invoice (paid
// or void) ends collection; money still in flight is waited for, never counted as paid.
type InvoiceChargeOutcome string

const (
	// InvoiceSettled: the invoice is paid or void; nothing is left to collect.
	InvoiceSettled InvoiceChargeOutcome = "settled"
	// InvoicePaidByCredit: the account's credit paid what was left on the invoice, which is
	// now marked paid.
	InvoicePaidByCredit InvoiceChargeOutcome = "paid_by_credit"
	// InvoiceCoveredInFlight: what is left is covered by the account's payments in flight
	// (a PayPal checkout the customer opened, a charge still processing). Charging now could
	// take more than is owed; once they end, the invoice is paid or chargeable again.
	InvoiceCoveredInFlight InvoiceChargeOutcome = "in_flight"
	// InvoiceChargeable: Amount can be charged now; Payment is the charge when one was asked
	// for.
	InvoiceChargeable InvoiceChargeOutcome = "chargeable"
)

// InvoiceCharge is what PrepareInvoiceCharge found and did.
type InvoiceCharge struct {
	Outcome   InvoiceChargeOutcome
	AmountDue billing.Money // still owed on the invoice, after any credit applied
	InFlight  billing.Money // the account's payments in flight
	Credit    int64         // credit applied to the invoice by this call
	Amount    int64         // what can be charged now: min(AmountDue, balance − in flight)
	Payment   billing.Payment
	Created   bool
}

// PrepareInvoiceCharge decides, under the account lock payment creation takes, what
// collecting one of the account's invoices needs, and stores charge as the payment that
// charges what can be charged now. charge.Amount is ignored: the amount is what is still due
// on the invoice, capped by the account's balance minus the payments in flight, so a charge
// never takes more than is owed. A nil charge (no card to charge) stores nothing and only
// says what is due. The charge's ID is the idempotency key: when it exists the stored payment
// is returned (Created false), whatever it became.
//
// Credit is applied first: the part of the invoice that the account's balance no longer
// owes, whatever happens to the payments in flight (balance below what is due), is marked
// paid on the invoice. That moves nothing on the ledger, which already holds the credit.
func (db *DB) PrepareInvoiceCharge(ctx context.Context, accountID, invoiceID string, charge *billing.Payment) (InvoiceCharge, error) {
	var out InvoiceCharge
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		var (
			status            billing.InvoiceStatus
			total, amountPaid int64
			currency          string
		)
		err := tx.QueryRow(ctx, `SELECT status, total, amount_paid, currency FROM invoices
			WHERE id = $1 AND account_id = $2 FOR UPDATE`, invoiceID, accountID).Scan(&status, &total, &amountPaid, &currency)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("invoice")
		}
		if err != nil {
			return fmt.Errorf("load invoice: %w", err)
		}
		out.AmountDue.Currency, out.InFlight.Currency = currency, currency
		due := int64(0)
		if status == billing.InvoiceOpen && total > amountPaid {
			due = total - amountPaid
		}
		out.AmountDue.Amount = due
		if charge != nil {
			existing, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, charge.ID))
			if err == nil {
				if existing.AccountID != accountID {
					return fmt.Errorf("payment %s belongs to another account", charge.ID)
				}
				out.Outcome, out.Payment, out.Amount = InvoiceChargeable, existing, existing.Amount.Amount
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("look up payment: %w", err)
			}
		}
		if due == 0 {
			out.Outcome = InvoiceSettled
			return nil
		}
		var balance, inFlight int64
		err = tx.QueryRow(ctx, `SELECT
			`+balanceExpr+`,
			(SELECT coalesce(sum(amount), 0) FROM payments WHERE account_id = $1 AND status IN `+inFlightStatuses+`)`,
			accountID).Scan(&balance, &inFlight)
		if err != nil {
			return fmt.Errorf("balance of %s: %w", accountID, err)
		}
		out.InFlight.Amount = inFlight

		if credit := due - max(balance, 0); credit > 0 {
			if err := payInvoice(ctx, tx, invoiceID, credit); err != nil {
				return fmt.Errorf("apply credit to invoice %s: %w", invoiceID, err)
			}
			out.Credit, due = credit, due-credit
		}
		out.AmountDue.Amount = due
		if due == 0 {
			out.Outcome = InvoicePaidByCredit
			return nil
		}
		out.Amount = min(due, balance-inFlight)
		if out.Amount <= 0 {
			// The balance owes at least what is due (any shortfall was credit, applied
			// above), so what covers it is money in flight.
			out.Amount, out.Outcome = 0, InvoiceCoveredInFlight
			return nil
		}
		out.Outcome = InvoiceChargeable
		if charge == nil {
			return nil
		}
		p := *charge
		p.AccountID = accountID
		p.Amount = billing.Money{Amount: out.Amount, Currency: currency}
		p.InvoiceID = invoiceID
		if err := insertPayment(ctx, tx, p); err != nil {
			return err
		}
		out.Payment, out.Created = p, true
		return nil
	})
	if err != nil {
		if billing.ErrorOf(err) != nil {
			return InvoiceCharge{}, err
		}
		return InvoiceCharge{}, fmt.Errorf("prepare the charge of invoice %s: %w", invoiceID, err)
	}
	return out, nil
}

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
)

const refundColumns = `r.id, r.payment_id, r.account_id, r.status, r.amount, r.currency, r.reason, r.created_by, k.label,
	r.processor_refund_id, r.failure_code, r.failure_message, coalesce(r.invoice_id, ''), r.workflow_id, r.created_at, r.completed_at`

const refundsFrom = `refunds r JOIN api_keys k ON k.id = r.created_by`

func scanRefund(row pgx.Row) (billing.Refund, error) {
	var (
		r             billing.Refund
		code, message string
	)
	err := row.Scan(&r.ID, &r.PaymentID, &r.AccountID, &r.Status, &r.Amount.Amount, &r.Amount.Currency, &r.Reason,
		&r.CreatedBy, &r.CreatedByName, &r.ProcessorRefundID, &code, &message, &r.InvoiceID, &r.WorkflowID,
		&r.CreatedAt, &r.CompletedAt)
	if code != "" {
		r.Failure = &billing.Failure{Code: code, Message: message}
	}
	return r, err
}

// AmountExceedsRefundable is the 422 for a refund larger than what is left of the payment.
func AmountExceedsRefundable(left billing.Money) error {
	return billing.Invalid(billing.CodeAmountExceedsRefundable, "amount",
		"the amount exceeds what is left to refund of the payment (%s, counting refunds in progress)", left)
}

// CreateRefund stores a rep's refund, pending, with its Idempotency-Key (key.Key "" for
// none), in one transaction. The payment's row is locked first, so refunds of one payment
// take turns; the database's own check (payments_refunds_within_amount) is the last word on
// the amount. A key seen before answers its refund (created=false), or a 409 if the request
// differs.
func (db *DB) CreateRefund(ctx context.Context, r billing.Refund, key IdempotencyRecord) (_ billing.Refund, created bool, err error) {
	var id string
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		var (
			status    billing.PaymentStatus
			amount    int64
			refunded  int64
			currency  string
			accountID string
		)
		err := tx.QueryRow(ctx, `SELECT status, amount, amount_refunded, currency, account_id FROM payments WHERE id = $1 FOR UPDATE`,
			r.PaymentID).Scan(&status, &amount, &refunded, &currency, &accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("payment")
		}
		if err != nil {
			return fmt.Errorf("lock payment: %w", err)
		}
		if key.Key != "" {
			found, ok, err := findIdempotencyKey(ctx, tx, key)
			if err != nil {
				return err
			}
			if ok {
				if found.Route != RouteRefundPayment || (len(found.RequestHash) > 0 && !bytes.Equal(found.RequestHash, key.RequestHash)) {
					return IdempotencyKeyReused()
				}
				id = found.RefundID
				return nil
			}
		}
		if status != billing.PaymentSucceeded {
			return billing.Conflict(billing.CodeNotRefundable, "payment %s is %s; only a succeeded payment can be refunded", r.PaymentID, status)
		}
		if r.Amount.Currency != currency {
			return billing.Invalid(billing.CodeCurrencyMismatch, "currency", "the payment was made in %s", currency)
		}
		if r.Amount.Amount > amount-refunded {
			return AmountExceedsRefundable(billing.Money{Amount: amount - refunded, Currency: currency})
		}
		r.AccountID = accountID
		_, err = tx.Exec(ctx, `INSERT INTO refunds (id, payment_id, account_id, status, amount, currency, reason, created_by,
			workflow_id, created_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9)`,
			r.ID, r.PaymentID, r.AccountID, r.Amount.Amount, r.Amount.Currency, r.Reason, r.CreatedBy, r.WorkflowID, r.CreatedAt)
		if isCheckViolation(err, "payments_refunds_within_amount") {
			return AmountExceedsRefundable(billing.Money{Amount: amount - refunded, Currency: currency})
		}
		if err != nil {
			return fmt.Errorf("insert refund: %w", err)
		}
		if key.Key != "" {
			key.AccountID, key.PaymentID, key.RefundID, key.Route, key.CreatedAt = accountID, r.PaymentID, r.ID, RouteRefundPayment, r.CreatedAt
			if _, taken, err := insertIdempotencyKey(ctx, tx, key); err != nil {
				return err
			} else if taken {
				return IdempotencyKeyReused()
			}
		}
		id, created = r.ID, true
		return nil
	})
	if err != nil {
		if billing.ErrorOf(err) != nil {
			return billing.Refund{}, false, err
		}
		return billing.Refund{}, false, fmt.Errorf("create refund of %s: %w", r.PaymentID, err)
	}
	stored, err := db.RefundByID(ctx, id)
	return stored, created, err
}

func isCheckViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && pgErr.ConstraintName == constraint
}

// RefundByID returns a refund whatever its account.
func (db *DB) RefundByID(ctx context.Context, id string) (billing.Refund, error) {
	r, err := scanRefund(db.Pool.QueryRow(ctx, `SELECT `+refundColumns+` FROM `+refundsFrom+` WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Refund{}, billing.NotFound("refund")
	}
	if err != nil {
		return billing.Refund{}, fmt.Errorf("load refund %s: %w", id, err)
	}
	return r, nil
}

// PaymentRefunds lists a payment's refunds, oldest first.
func (db *DB) PaymentRefunds(ctx context.Context, paymentID string) ([]billing.Refund, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+refundColumns+` FROM `+refundsFrom+` WHERE r.payment_id = $1 ORDER BY r.created_at, r.id`, paymentID)
	if err != nil {
		return nil, fmt.Errorf("list refunds of %s: %w", paymentID, err)
	}
	refunds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Refund, error) { return scanRefund(r) })
	if err != nil {
		return nil, fmt.Errorf("list refunds of %s: %w", paymentID, err)
	}
	return refunds, nil
}

// ErrRefundFailed says a refund cannot be booked: it already ended failed.
var ErrRefundFailed = errors.New("refund already failed")

// BookRefund books a refund the processor made (processorRefundID), in one transaction: the
// money back on what the customer owes (ledger payment_refund, keyed by the refund's id, so
// at most once), the Refund invoice that shows it, the refund succeeded and the
// payment.refunded event. Booking a refund already booked changes nothing.
func (db *DB) BookRefund(ctx context.Context, refundID, processorRefundID string, at time.Time) (billing.Refund, error) {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		r, err := scanRefund(tx.QueryRow(ctx, `SELECT `+refundColumns+` FROM `+refundsFrom+` WHERE r.id = $1 FOR UPDATE OF r`, refundID))
		if err != nil {
			return fmt.Errorf("lock refund: %w", err)
		}
		switch r.Status {
		case billing.RefundSucceeded:
			return nil
		case billing.RefundFailed:
			return fmt.Errorf("%w: refund %s", ErrRefundFailed, refundID)
		}
		inv := billing.Invoice{ID: billing.NewID(billing.PrefixInvoice), AccountID: r.AccountID, Type: billing.InvoiceRefund,
			Status: billing.InvoicePaid, Currency: r.Amount.Currency, Subtotal: -r.Amount.Amount, Total: -r.Amount.Amount, CreatedAt: at,
			Items: []billing.InvoiceItem{{Description: "Refund of payment " + r.PaymentID, Category: "refund",
				Quantity: 1, UnitAmount: -r.Amount.Amount, Amount: -r.Amount.Amount}}}
		if err := insertInvoice(ctx, tx, &inv); err != nil {
			return fmt.Errorf("insert refund invoice: %w", err)
		}
		// The customer has the money back: what they owe rises by it. The invoice documents
		// this entry; it is not booked as an invoice too.
		if err := appendLedger(ctx, tx, r.AccountID, "payment_refund", r.ID, r.Amount.Amount, r.Amount.Currency, at); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refunds SET status = 'succeeded', processor_refund_id = $2, invoice_id = $3,
			completed_at = $4 WHERE id = $1`, refundID, processorRefundID, inv.ID, at); err != nil {
			return fmt.Errorf("mark refund succeeded: %w", err)
		}
		if err := recordInvoiceEvent(ctx, tx, inv.ID, billing.EventInvoiceIssued); err != nil {
			return err
		}
		return recordPaymentEvent(ctx, tx, r.PaymentID, billing.EventPaymentRefunded)
	})
	if err != nil {
		return billing.Refund{}, fmt.Errorf("book refund %s: %w", refundID, err)
	}
	return db.RefundByID(ctx, refundID)
}

// FailRefund ends a refund the processor refused: its amount is free to refund again. A
// refund already ended is left as it is.
func (db *DB) FailRefund(ctx context.Context, refundID string, f billing.Failure, at time.Time) (billing.Refund, error) {
	if _, err := db.Pool.Exec(ctx, `UPDATE refunds SET status = 'failed', failure_code = $2, failure_message = $3,
		completed_at = $4 WHERE id = $1 AND status = 'pending'`, refundID, f.Code, f.Message, at); err != nil {
		return billing.Refund{}, fmt.Errorf("fail refund %s: %w", refundID, err)
	}
	return db.RefundByID(ctx, refundID)
}

//nolint:gosec // G101: a credit is money given to an account, not a credential
const creditColumns = `c.id, c.account_id, c.status, c.amount, c.currency, c.reason, c.created_by, k.label,
	coalesce(c.invoice_id, ''), c.workflow_id, c.created_at, c.issued_at`

//nolint:gosec // G101: as creditColumns
const creditsFrom = `credits c JOIN api_keys k ON k.id = c.created_by`

func scanCredit(row pgx.Row) (billing.Credit, error) {
	var c billing.Credit
	err := row.Scan(&c.ID, &c.AccountID, &c.Status, &c.Amount.Amount, &c.Amount.Currency, &c.Reason, &c.CreatedBy,
		&c.CreatedByName, &c.InvoiceID, &c.WorkflowID, &c.CreatedAt, &c.IssuedAt)
	return c, err
}

// CreateCredit stores a rep's credit, pending, with its Idempotency-Key (key.Key "" for
// none), in one transaction; as CreateRefund, a key seen before answers its credit.
func (db *DB) CreateCredit(ctx context.Context, c billing.Credit, key IdempotencyRecord) (_ billing.Credit, created bool, err error) {
	id := c.ID
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, c.AccountID); err != nil {
			return err
		}
		if key.Key != "" {
			found, ok, err := findIdempotencyKey(ctx, tx, key)
			if err != nil {
				return err
			}
			if ok {
				if found.Route != RouteIssueCredit || !bytes.Equal(found.RequestHash, key.RequestHash) {
					return IdempotencyKeyReused()
				}
				id = found.CreditID
				return nil
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO credits (id, account_id, status, amount, currency, reason, created_by,
			workflow_id, created_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8)`,
			c.ID, c.AccountID, c.Amount.Amount, c.Amount.Currency, c.Reason, c.CreatedBy, c.WorkflowID, c.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert credit: %w", err)
		}
		if key.Key != "" {
			key.AccountID, key.CreditID, key.Route, key.CreatedAt = c.AccountID, c.ID, RouteIssueCredit, c.CreatedAt
			if _, taken, err := insertIdempotencyKey(ctx, tx, key); err != nil {
				return err
			} else if taken {
				return IdempotencyKeyReused()
			}
		}
		created = true
		return nil
	})
	if err != nil {
		if billing.ErrorOf(err) != nil {
			return billing.Credit{}, false, err
		}
		return billing.Credit{}, false, fmt.Errorf("create credit for %s: %w", c.AccountID, err)
	}
	stored, err := db.CreditByID(ctx, id)
	return stored, created, err
}

// CreditByID returns a credit whatever its account.
func (db *DB) CreditByID(ctx context.Context, id string) (billing.Credit, error) {
	c, err := scanCredit(db.Pool.QueryRow(ctx, `SELECT `+creditColumns+` FROM `+creditsFrom+` WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Credit{}, billing.NotFound("credit")
	}
	if err != nil {
		return billing.Credit{}, fmt.Errorf("load credit %s: %w", id, err)
	}
	return c, nil
}

// AccountCredits lists an account's credits, newest first.
func (db *DB) AccountCredits(ctx context.Context, accountID string) ([]billing.Credit, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+creditColumns+` FROM `+creditsFrom+` WHERE c.account_id = $1
		ORDER BY c.created_at DESC, c.id DESC LIMIT 100`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list credits of %s: %w", accountID, err)
	}
	credits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Credit, error) { return scanCredit(r) })
	if err != nil {
		return nil, fmt.Errorf("list credits of %s: %w", accountID, err)
	}
	return credits, nil
}

// AccountRefunds lists an account's refunds, newest first.
func (db *DB) AccountRefunds(ctx context.Context, accountID string) ([]billing.Refund, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+refundColumns+` FROM `+refundsFrom+` WHERE r.account_id = $1
		ORDER BY r.created_at DESC, r.id DESC LIMIT 100`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list refunds of %s: %w", accountID, err)
	}
	refunds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Refund, error) { return scanRefund(r) })
	if err != nil {
		return nil, fmt.Errorf("list refunds of %s: %w", accountID, err)
	}
	return refunds, nil
}

// IssueCredit books a pending credit in one transaction: its Credit invoice (total −amount,
// booked on the ledger as every invoice, keyed by the invoice), applied to the oldest open
// invoices as a payment would be, the credit issued, and the credit.issued event. Issuing a
// credit already issued changes nothing.
func (db *DB) IssueCredit(ctx context.Context, creditID string, at time.Time) (billing.Credit, error) {
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCredit(tx.QueryRow(ctx, `SELECT `+creditColumns+` FROM `+creditsFrom+` WHERE c.id = $1 FOR UPDATE OF c`, creditID))
		if err != nil {
			return fmt.Errorf("lock credit: %w", err)
		}
		if c.Status == billing.CreditIssued {
			return nil
		}
		if err := lockAccount(ctx, tx, c.AccountID); err != nil {
			return err
		}
		inv := billing.Invoice{ID: billing.NewID(billing.PrefixInvoice), AccountID: c.AccountID, Type: billing.InvoiceCredit,
			Status: billing.InvoicePaid, Currency: c.Amount.Currency, Subtotal: -c.Amount.Amount, Total: -c.Amount.Amount, CreatedAt: at,
			Items: []billing.InvoiceItem{{Description: "Account credit", Category: "credit",
				Quantity: 1, UnitAmount: -c.Amount.Amount, Amount: -c.Amount.Amount}}}
		if err := insertInvoice(ctx, tx, &inv); err != nil {
			return fmt.Errorf("insert credit invoice: %w", err)
		}
		if err := appendLedger(ctx, tx, c.AccountID, "invoice", inv.ID, inv.Total, inv.Currency, at); err != nil {
			return err
		}
		if err := allocateToInvoices(ctx, tx, c.AccountID, c.Amount.Currency, c.Amount.Amount, nil); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE credits SET status = 'issued', invoice_id = $2, issued_at = $3 WHERE id = $1`,
			creditID, inv.ID, at); err != nil {
			return fmt.Errorf("mark credit issued: %w", err)
		}
		if err := recordInvoiceEvent(ctx, tx, inv.ID, billing.EventInvoiceIssued); err != nil {
			return err
		}
		issued, err := scanCredit(tx.QueryRow(ctx, `SELECT `+creditColumns+` FROM `+creditsFrom+` WHERE c.id = $1`, creditID))
		if err != nil {
			return fmt.Errorf("load credit for its event: %w", err)
		}
		return recordEvent(ctx, tx, issued.AccountID, billing.EventCreditIssued, issued.ID, issued)
	})
	if err != nil {
		return billing.Credit{}, fmt.Errorf("issue credit %s: %w", creditID, err)
	}
	return db.CreditByID(ctx, creditID)
}

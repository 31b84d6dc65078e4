package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
)

const paymentColumns = `id, account_id, status, method, amount, currency, card_token, card_brand, card_last4,
	billing_address, eu_supported, coalesce(paypal_order_id, ''), approval_url, return_url, capture_id, refund_id,
	failure_code, failure_message, created_at, completed_at, workflow_id, authorization_id, compensation, compensated_at,
	coalesce(invoice_id, ''), metadata, amount_refunded`

func scanPayment(row pgx.Row) (billing.Payment, error) {
	var (
		p       billing.Payment
		address []byte
		code    string
		message string
	)
	err := row.Scan(&p.ID, &p.AccountID, &p.Status, &p.Method, &p.Amount.Amount, &p.Amount.Currency, &p.CardToken,
		&p.CardBrand, &p.CardLast4, &address, &p.EUSupported, &p.PayPalOrderID, &p.ApprovalURL, &p.ReturnURL,
		&p.CaptureID, &p.RefundID, &code, &message, &p.CreatedAt, &p.CompletedAt, &p.WorkflowID,
		&p.AuthorizationID, &p.Compensation, &p.CompensatedAt, &p.InvoiceID, &p.Metadata, &p.AmountRefunded)
	if err != nil {
		return p, err
	}
	if len(address) > 0 {
		p.BillingAddress = new(billing.Address)
		if err := json.Unmarshal(address, p.BillingAddress); err != nil {
			return p, fmt.Errorf("decode billing address of %s: %w", p.ID, err)
		}
	}
	if code != "" {
		p.Failure = &billing.Failure{Code: code, Message: message}
	}
	return p, nil
}

// inFlightStatuses are the payments that may still take money: they are not on the ledger yet,
// but they will be if they succeed.
const inFlightStatuses = `('processing', 'requires_action')`

// PaymentsInFlight counts the account's payments that may still take money.
func (db *DB) PaymentsInFlight(ctx context.Context, accountID string) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM payments WHERE account_id = $1 AND status IN `+inFlightStatuses, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count payments in flight of %s: %w", accountID, err)
	}
	return n, nil
}

// AvailableToPay is what the account may still pay: its balance minus the payments still in
// flight. Both sums come from one statement, so from one snapshot: a payment applied between
// two separate reads would otherwise be counted in neither or in both.
func (db *DB) AvailableToPay(ctx context.Context, accountID string) (int64, error) {
	return availableToPay(ctx, db.Pool, accountID)
}

// availableSQL is what account $1 may still pay, from one snapshot.
const availableSQL = `SELECT ` + balanceExpr + ` -
	(SELECT coalesce(sum(amount), 0) FROM payments WHERE account_id = $1 AND status IN ` + inFlightStatuses + `)`

func availableToPay(ctx context.Context, q querier, accountID string) (int64, error) {
	var available int64
	err := q.QueryRow(ctx, availableSQL, accountID).Scan(&available)
	if err != nil {
		return 0, fmt.Errorf("available balance of %s: %w", accountID, err)
	}
	return available, nil
}

// IdempotentPayment returns the payment an Idempotency-Key already made for the account, and
// the hash of the request that made it; found is false when the key is new.
func (db *DB) IdempotentPayment(ctx context.Context, accountID, key string) (p billing.Payment, requestHash []byte, found bool, err error) {
	return idempotentPayment(ctx, db.Pool, accountID, key)
}

func idempotentPayment(ctx context.Context, q querier, accountID, key string) (billing.Payment, []byte, bool, error) {
	rec, found, err := findIdempotencyKey(ctx, q, IdempotencyRecord{AccountID: accountID, Key: key})
	if err != nil || !found {
		return billing.Payment{}, nil, false, err
	}
	if rec.Route != RouteCreatePayment {
		return billing.Payment{}, nil, false, IdempotencyKeyReused()
	}
	p, err := scanPayment(q.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, rec.PaymentID))
	if err != nil {
		return billing.Payment{}, nil, false, fmt.Errorf("load payment %s of idempotency key: %w", rec.PaymentID, err)
	}
	return p, rec.RequestHash, true, nil
}

// CreatePayment stores a new payment and its Idempotency-Key in one transaction. The account
// row is locked first, so requests for one account take turns: of 20 concurrent requests with
// one key, the first inserts and the others find its record. A key seen before with the same
// request hash answers the existing payment (created=false); with another hash it is a 409.
// The amount is checked against the balance minus the payments still in flight, under the
// same lock, so two concurrent payments can never together pay more than is owed.
//
// It takes one round trip: BEGIN, the lock, the reads, the inserts and COMMIT. The checks
// are in the payment's insert too, so a request they refuse writes nothing and is answered
// from the reads.
func (db *DB) CreatePayment(ctx context.Context, p billing.Payment, key string, requestHash []byte) (_ billing.Payment, created bool, err error) {
	var (
		f     PaymentRequestFacts
		route IdempotencyRoute
	)
	insertPay, payArgs, err := paymentInsert(p)
	if err != nil {
		return billing.Payment{}, false, err
	}
	// The key's record with its defaults filled in.
	keyRecord := withDefaults(IdempotencyRecord{AccountID: p.AccountID, Key: key,
		Route: RouteCreatePayment, RequestHash: requestHash, PaymentID: p.ID, CreatedAt: p.CreatedAt})
	b := &pgx.Batch{}
	// Each statement of a batch takes its snapshot when it starts, so the reads after the lock
	// see what the request before this one committed.
	b.Queue(lockAccountSQL, p.AccountID)
	queueKeyFacts(b, p.AccountID, key, &f, &route)
	// The payment only when the checks of the reads pass, in SQL ($1 is the account, $5 the
	// amount): the key is new and the amount available. The key is written from the payment's
	// row, so only with it: a replay whose payment already exists writes nothing. A key taken
	// meanwhile by another route fails the transaction, payment included: no ON CONFLICT DO
	// NOTHING.
	b.Queue(`WITH payment AS (`+insertPay+`
		WHERE NOT EXISTS (SELECT 1 `+keyWhere(`$17`)+`) AND $5::bigint <= (`+availableSQL+`) RETURNING account_id, id)
		INSERT INTO idempotency_keys (account_id, key, route, request_hash, payment_id, status_code, created_at)
		SELECT account_id, $17, $18, $19, id, $20, $21 FROM payment`,
		append(payArgs, key, keyRecord.Route, keyRecord.RequestHash, keyRecord.StatusCode, keyRecord.CreatedAt)...).
		Exec(func(tag pgconn.CommandTag) error {
			created = tag.RowsAffected() == 1
			return nil
		})
	err = db.inOneTrip(ctx, b)
	if isUniqueViolationOf(err, "idempotency_keys_customer") {
		// The rollback undid the payment.
		if _, _, err := standingIdempotencyKey(ctx, db.Pool, keyRecord); err != nil {
			return billing.Payment{}, false, fmt.Errorf("create payment for %s: %w", p.AccountID, err)
		}
		return billing.Payment{}, false, IdempotencyKeyReused()
	}
	if err != nil {
		return billing.Payment{}, false, fmt.Errorf("create payment for %s: %w", p.AccountID, err)
	}
	if created {
		return p, true, nil
	}
	// Nothing was written: answered from the reads.
	if f.Found {
		switch {
		case route != RouteCreatePayment:
			return billing.Payment{}, false, IdempotencyKeyReused()
		case f.Existing.ID == "":
			return billing.Payment{}, false, fmt.Errorf("create payment for %s: load payment of idempotency key: %w",
				p.AccountID, pgx.ErrNoRows)
		case len(f.PrevHash) > 0 && !bytes.Equal(f.PrevHash, requestHash):
			return billing.Payment{}, false, IdempotencyKeyReused()
		}
		return f.Existing, false, nil
	}
	if p.Amount.Amount > f.Available {
		return billing.Payment{}, false, AmountExceedsBalance(f.Available, p.Amount.Currency)
	}
	// Whatever would change the reads waits for the account lock (a key or a ledger entry for
	// the account takes a share of it, through its foreign key); a payment ended meanwhile can
	// only make room.
	return billing.Payment{}, false, fmt.Errorf("create payment for %s: nothing written though the reads allowed it", p.AccountID)
}

// keyWhere selects the customer's idempotency key key (an SQL expression) of account $1.
func keyWhere(key string) string {
	return `FROM idempotency_keys WHERE account_id = $1 AND rep_key_id IS NULL AND key = ` + key
}

// queueKeyFacts queues the reads of a payment request's Idempotency-Key and of what the
// account may still pay, into f (Found, PrevHash, Existing, Available) and route.
func queueKeyFacts(b *pgx.Batch, accountID, key string, f *PaymentRequestFacts, route *IdempotencyRoute) {
	b.Queue(`SELECT route, request_hash `+keyWhere(`$2`), accountID, key).QueryRow(func(row pgx.Row) error {
		err := row.Scan(route, &f.PrevHash)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		f.Found = err == nil
		return err
	})
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = (SELECT payment_id `+keyWhere(`$2`)+`)`, accountID, key).
		QueryRow(func(row pgx.Row) error {
			p, err := scanPayment(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			f.Existing = p
			return err
		})
	b.Queue(availableSQL, accountID).QueryRow(func(row pgx.Row) error { return row.Scan(&f.Available) })
}

// lockAccount takes the account's row lock for the rest of the transaction. Every write that
// changes what the account may still pay takes it first (creating a payment, applying one), so
// they take turns and "balance minus payments in flight" stays exact.
func lockAccount(ctx context.Context, tx pgx.Tx, accountID string) error {
	if _, err := tx.Exec(ctx, lockAccountSQL, accountID); err != nil {
		return fmt.Errorf("lock account %s: %w", accountID, err)
	}
	return nil
}

const lockAccountSQL = `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`

// insertPayment writes a new payment, with the invoice it charges when it names one.
func insertPayment(ctx context.Context, tx pgx.Tx, p billing.Payment) error {
	sql, args, err := paymentInsert(p)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("insert payment: %w", err)
	}
	return nil
}

// paymentInsert is the statement insertPayment runs, with $1 the account and $5 the amount.
// Its values are a SELECT, so a caller may add a WHERE.
func paymentInsert(p billing.Payment) (string, []any, error) {
	var address []byte
	if p.BillingAddress != nil {
		var err error
		if address, err = json.Marshal(p.BillingAddress); err != nil {
			return "", nil, fmt.Errorf("encode billing address: %w", err)
		}
	}
	var invoiceID *string
	if p.InvoiceID != "" {
		invoiceID = &p.InvoiceID
	}
	return `INSERT INTO payments (account_id, id, status, method, amount, currency, card_token,
		card_brand, card_last4, billing_address, eu_supported, return_url, invoice_id, created_at, workflow_id, metadata)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16`,
		[]any{p.AccountID, p.ID, p.Status, p.Method, p.Amount.Amount, p.Amount.Currency, p.CardToken, p.CardBrand,
			p.CardLast4, address, p.EUSupported, p.ReturnURL, invoiceID, p.CreatedAt, p.WorkflowID, metadataJSON(p.Metadata)}, nil
}

// metadataJSON is the metadata column's value: a JSON object, {} when there is none.
func metadataJSON(m map[string]string) []byte {
	if len(m) == 0 {
		return []byte(`{}`)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic("encode metadata: " + err.Error()) // a map of strings always encodes
	}
	return b
}

// AmountExceedsBalance is the 422 for a payment larger than what is still owed.
func AmountExceedsBalance(available int64, currency string) error {
	if available < 0 {
		available = 0
	}
	return billing.Invalid(billing.CodeAmountExceedsBalance, "amount",
		"the amount exceeds the balance still to pay (%s, counting payments in progress)",
		billing.Money{Amount: available, Currency: currency})
}

// Payment returns one payment of the account.
func (db *DB) Payment(ctx context.Context, accountID, paymentID string) (billing.Payment, error) {
	p, err := scanPayment(db.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1 AND account_id = $2`,
		paymentID, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Payment{}, billing.NotFound("payment")
	}
	if err != nil {
		return billing.Payment{}, fmt.Errorf("load payment %s: %w", paymentID, err)
	}
	return p, nil
}

// PaymentByID returns a payment whatever its account; the workflow's activities use it.
func (db *DB) PaymentByID(ctx context.Context, paymentID string) (billing.Payment, error) {
	p, err := scanPayment(db.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, paymentID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Payment{}, billing.NotFound("payment")
	}
	if err != nil {
		return billing.Payment{}, fmt.Errorf("load payment %s: %w", paymentID, err)
	}
	return p, nil
}

// PaymentByPayPalOrder returns the payment waiting on a PayPal order.
func (db *DB) PaymentByPayPalOrder(ctx context.Context, orderID string) (billing.Payment, error) {
	p, err := scanPayment(db.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE paypal_order_id = $1`, orderID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Payment{}, billing.NotFound("PayPal order")
	}
	if err != nil {
		return billing.Payment{}, fmt.Errorf("load payment of paypal order %s: %w", orderID, err)
	}
	return p, nil
}

// Payments lists the account's payments newest first, one keyset page at a time.
func (db *DB) Payments(ctx context.Context, accountID string, page billing.ListParams) ([]billing.Payment, bool, error) {
	return listPage(ctx, db, keysetList{name: "payments", from: "payments", columns: paymentColumns,
		scope: "account_id = $1", scopeArgs: []any{accountID}, cursorNames: "payment of this account"}, page, scanPayment)
}

// MarkPaymentRequiresAction records the PayPal order the buyer must approve. It only moves a
// payment that is still processing, so a late retry cannot reopen a finished one.
func (db *DB) MarkPaymentRequiresAction(ctx context.Context, paymentID, orderID, approvalURL string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET status = 'requires_action', paypal_order_id = $2, approval_url = $3
		WHERE id = $1 AND status IN ('processing', 'requires_action')`, paymentID, orderID, approvalURL)
	if err != nil {
		return fmt.Errorf("mark payment %s requires_action: %w", paymentID, err)
	}
	return nil
}

// MarkCardPaymentRequiresAction records a card payment waiting for the cardholder's 3-D
// Secure at redirectURL (kept as its approval_url), and the authorization it waits on. Like
// MarkPaymentRequiresAction, it only moves a payment still in progress.
func (db *DB) MarkCardPaymentRequiresAction(ctx context.Context, paymentID, authorizationID, redirectURL string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET status = 'requires_action', authorization_id = $2, approval_url = $3
		WHERE id = $1 AND status IN ('processing', 'requires_action')`, paymentID, authorizationID, redirectURL)
	if err != nil {
		return fmt.Errorf("mark payment %s requires_action: %w", paymentID, err)
	}
	return nil
}

// PaymentByAuthorization finds the card payment an authorization was made for: what the
// cardholder's return from 3-D Secure names.
func (db *DB) PaymentByAuthorization(ctx context.Context, authorizationID string) (billing.Payment, error) {
	if authorizationID == "" {
		return billing.Payment{}, billing.NotFound("payment")
	}
	p, err := scanPayment(db.Pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE authorization_id = $1 AND method = 'card'`, authorizationID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Payment{}, billing.NotFound("payment")
	}
	if err != nil {
		return billing.Payment{}, fmt.Errorf("payment by authorization %s: %w", authorizationID, err)
	}
	return p, nil
}

// MarkPaymentProcessing moves an approved PayPal payment back to processing while it is
// captured.
func (db *DB) MarkPaymentProcessing(ctx context.Context, paymentID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET status = 'processing' WHERE id = $1 AND status = 'requires_action'`, paymentID)
	if err != nil {
		return fmt.Errorf("mark payment %s processing: %w", paymentID, err)
	}
	return nil
}

// RecordPaymentCapture keeps the processor's capture id: what a refund needs.
func (db *DB) RecordPaymentCapture(ctx context.Context, paymentID, captureID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET capture_id = $2 WHERE id = $1`, paymentID, captureID)
	if err != nil {
		return fmt.Errorf("record capture of payment %s: %w", paymentID, err)
	}
	return nil
}

// RecordCardCapture keeps a card payment's hold and capture ids in one write: what a refund
// needs. The hold is not written on its own before: the saga holds its id, and a resolution
// finds the hold by its idempotency key.
func (db *DB) RecordCardCapture(ctx context.Context, paymentID, authorizationID, captureID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET authorization_id = $2, capture_id = $3 WHERE id = $1`,
		paymentID, authorizationID, captureID)
	if err != nil {
		return fmt.Errorf("record capture of payment %s: %w", paymentID, err)
	}
	return nil
}

// RecordPaymentAuthorization keeps the card hold's id: what a void or a lookup needs.
func (db *DB) RecordPaymentAuthorization(ctx context.Context, paymentID, authorizationID string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE payments SET authorization_id = $2 WHERE id = $1`, paymentID, authorizationID)
	if err != nil {
		return fmt.Errorf("record authorization of payment %s: %w", paymentID, err)
	}
	return nil
}

// RecordPaymentRefund keeps the processor's refund id, so the refund is visible on the
// payment, and records the refund as the payment's compensation.
func (db *DB) RecordPaymentRefund(ctx context.Context, paymentID, refundID string, at time.Time) error {
	var before *billing.Compensation
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		before, err = updateCompensation(ctx, tx, paymentID, `UPDATE payments p SET refund_id = $2, compensation = 'refunded',
			compensated_at = coalesce(p.compensated_at, $3) FROM before WHERE p.id = before.id`, refundID, at)
		if err != nil || before == nil || *before == billing.CompensationRefunded {
			return err
		}
		return recordPaymentEvent(ctx, tx, paymentID, billing.EventPaymentRefunded)
	})
	if err != nil {
		return fmt.Errorf("record refund of payment %s: %w", paymentID, err)
	}
	db.countCompensation(before, billing.CompensationRefunded)
	return nil
}

// RecordCompensation records what undoing the payment did. A refund, once recorded, is never
// overwritten: it is the strongest statement about the money.
func (db *DB) RecordCompensation(ctx context.Context, paymentID string, c billing.Compensation, at time.Time) error {
	before, err := updateCompensation(ctx, db.Pool, paymentID, `UPDATE payments p SET compensation = $2, compensated_at = $3
		FROM before WHERE p.id = before.id AND p.compensation <> 'refunded'`, string(c), at)
	if err != nil {
		return fmt.Errorf("record compensation %s of payment %s: %w", c, paymentID, err)
	}
	db.countCompensation(before, c)
	return nil
}

// updateCompensation runs update (an UPDATE of payments p FROM before, with $1 the payment
// id) and answers the compensation the payment had before it, or nil when it changed no
// row. before locks the row first, so two writers cannot both see the old value.
func updateCompensation(ctx context.Context, q querier, paymentID, update string, args ...any) (before *billing.Compensation, err error) {
	var old billing.Compensation
	err = q.QueryRow(ctx, `WITH before AS (SELECT id, compensation FROM payments WHERE id = $1 FOR UPDATE) `+
		update+` RETURNING before.compensation`, append([]any{paymentID}, args...)...).Scan(&old)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &old, nil
}

// countCompensation reports a compensation that the update recorded for the first time or
// changed; repeating the same one is no event.
func (db *DB) countCompensation(before *billing.Compensation, now billing.Compensation) {
	if before != nil && *before != now {
		db.events().PaymentCompensated(now)
	}
}

// FinishPayment ends a payment that did not succeed (failed, canceled or expired). A payment
// already final is left as it is, so repeating the call changes nothing.
func (db *DB) FinishPayment(ctx context.Context, paymentID string, status billing.PaymentStatus, failure *billing.Failure, at time.Time) error {
	if status == billing.PaymentSucceeded || !status.Final() {
		return fmt.Errorf("finish payment %s: %s is not a failure status", paymentID, status)
	}
	var code, message string
	if failure != nil {
		code, message = failure.Code, failure.Message
	}
	var p billing.Payment
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanPayment(tx.QueryRow(ctx, `UPDATE payments SET status = $2, failure_code = $3, failure_message = $4, completed_at = $5
			WHERE id = $1 AND status IN `+inFlightStatuses+` RETURNING `+paymentColumns, paymentID, status, code, message, at))
		if err != nil {
			return err
		}
		return recordEvent(ctx, tx, p.AccountID, billing.EventType("payment."+string(status)), p.ID, p)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows): // already final: nothing changed
	case err != nil:
		return fmt.Errorf("finish payment %s as %s: %w", paymentID, status, err)
	default:
		db.events().PaymentFinished(p.Method, status)
	}
	return nil
}

// ErrPaymentNotApplicable says a payment cannot be applied: it already ended another way.
var ErrPaymentNotApplicable = errors.New("payment cannot be applied")

// ApplyPayment books a captured payment in one transaction: the ledger entry keyed by the
// payment id, the payment marked succeeded, and the amount allocated to the account's oldest
// open invoices. Applying a payment already applied changes nothing and answers the same.
// It returns the account's balance afterwards.
//
// It takes two round trips: BEGIN with every statement that needs no answer from Go (each
// acts only while the payment is still in flight, so a payment already applied or ended
// changes nothing); then the invoices paid and the events, computed from the rows the first
// trip locked, with COMMIT.
func (db *DB) ApplyPayment(ctx context.Context, paymentID string, at time.Time) (balanceAfter int64, err error) {
	b, err := db.BookPayment(ctx, Booking{PaymentID: paymentID, At: at})
	return b.BalanceAfter, err
}

// Booking asks to book a captured payment at At. The card's hold and capture, when given, are
// recorded with it (an empty id keeps the payment's). MailReceipt makes the payment's receipt
// due in the same transaction (receipts.go): only the booking that books it does so.
type Booking struct {
	PaymentID                  string
	At                         time.Time
	AuthorizationID, CaptureID string
	MailReceipt                bool
}

// Booked is a booking's answer: the payment as booked (as first booked, on a repeat) and the
// account's balance afterwards.
type Booked struct {
	Payment      billing.Payment
	BalanceAfter int64
}

// BookPayment is ApplyPayment with the card's hold and capture recorded in the same
// transaction.
func (db *DB) BookPayment(ctx context.Context, in Booking) (Booked, error) {
	paymentID, at := in.PaymentID, in.At
	var (
		before, after billing.Payment // the payment as locked, and as marked succeeded
		open          []billing.Invoice
		balanceAfter  int64
	)
	const inFlight = `payments WHERE id = $1 AND status IN ` + inFlightStatuses
	b := &pgx.Batch{}
	// Lock order as before: the payment row first, then the account row.
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = $1 FOR UPDATE`, paymentID).QueryRow(func(row pgx.Row) error {
		var err error
		if before, err = scanPayment(row); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("lock payment: %w", err)
		}
		return nil
	})
	// The payment moves from "in flight" to the ledger: the account lock keeps a concurrent
	// payment creation from counting it in neither or in both.
	b.Queue(`SELECT 1 FROM accounts WHERE id = (SELECT account_id FROM `+inFlight+`) FOR UPDATE`, paymentID)
	// Booked before the balance is read below: the ledger's statement trigger keeps it. Zero is
	// not booked (appendLedger).
	b.Queue(`INSERT INTO ledger_entries (account_id, kind, reference, amount, currency, created_at)
		SELECT account_id, 'payment', id, -amount, currency, $2 FROM `+inFlight+` AND amount <> 0`, paymentID, at)
	// Locked before the payment is marked succeeded, since that ends "in flight"; the UPDATE
	// takes no new lock (the row is ours), so the lock order is the one it always was.
	b.Queue(openInvoicesSQL(`(SELECT account_id FROM `+inFlight+`)`, `(SELECT currency FROM payments WHERE id = $1)`,
		`(SELECT invoice_id FROM payments WHERE id = $1)`), paymentID).Query(func(rows pgx.Rows) error {
		var err error
		open, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Invoice, error) { return scanInvoice(r) })
		if err != nil {
			return fmt.Errorf("list open invoices: %w", err)
		}
		return nil
	})
	b.Queue(`UPDATE payments SET status = 'succeeded', completed_at = $2, failure_code = '', failure_message = '',
		authorization_id = coalesce(nullif($3, ''), authorization_id), capture_id = coalesce(nullif($4, ''), capture_id),
		receipt_due_at = CASE WHEN $5 THEN $2::timestamptz END
		WHERE id = $1 AND status IN `+inFlightStatuses+` RETURNING `+paymentColumns, paymentID, at,
		in.AuthorizationID, in.CaptureID, in.MailReceipt).QueryRow(func(row pgx.Row) error {
		var err error
		if after, err = scanPayment(row); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("mark payment succeeded: %w", err)
		}
		return nil
	})
	b.Queue(paymentBalanceSQL, paymentID).QueryRow(func(row pgx.Row) error { return row.Scan(&balanceAfter) })

	err := db.inTwoTrips(ctx, b, func() (*pgx.Batch, error) {
		switch {
		case before.ID == "":
			return nil, fmt.Errorf("%w: no payment %s", ErrPaymentNotApplicable, paymentID)
		case before.Status == billing.PaymentSucceeded: // applied before: nothing above changed anything
			return nil, nil
		case after.ID == "":
			return nil, fmt.Errorf("%w: payment %s is %s", ErrPaymentNotApplicable, paymentID, before.Status)
		}
		b := &pgx.Batch{}
		if err := queueInvoicePayments(b, allocate(open, after.Amount.Amount)); err != nil {
			return nil, err
		}
		if err := queueEvent(b, after.AccountID, billing.EventPaymentSucceeded, after.ID, after); err != nil {
			return nil, err
		}
		return b, nil
	})
	if err != nil {
		return Booked{}, fmt.Errorf("apply payment %s: %w", paymentID, err)
	}
	if after.ID == "" { // booked before
		return Booked{Payment: before, BalanceAfter: balanceAfter}, nil
	}
	db.events().PaymentFinished(after.Method, billing.PaymentSucceeded)
	return Booked{Payment: after, BalanceAfter: balanceAfter}, nil
}

// paymentBalanceSQL reads the balance of the account of payment $1.
const paymentBalanceSQL = `SELECT coalesce((SELECT balance FROM account_balances
	WHERE account_id = (SELECT account_id FROM payments WHERE id = $1)), 0)::bigint`

// openInvoicesSQL selects and locks the open invoices of an account in one currency in the
// order money pays them: the invoice forInvoice first (a recurring charge names the invoice it
// was made for), then the oldest. Each argument is an SQL expression.
func openInvoicesSQL(accountID, currency, forInvoice string) string {
	return `SELECT ` + invoiceColumns + ` FROM invoices
		WHERE account_id = ` + accountID + ` AND currency = ` + currency + ` AND status = 'open' AND total > amount_paid
		ORDER BY id IS NOT DISTINCT FROM ` + forInvoice + ` DESC, created_at, id FOR UPDATE`
}

// allocate pays amount into the open invoices, in their order, and answers the ones it
// paid into as it leaves them: marked paid once nothing is due. Whatever exceeds them stays on
// the ledger as credit. open must be locked (openInvoicesSQL) for the answer to stay true.
func allocate(open []billing.Invoice, amount int64) []billing.Invoice {
	var paid []billing.Invoice
	for _, inv := range open {
		if amount == 0 {
			break
		}
		pay := min(amount, inv.Total-inv.AmountPaid)
		inv.AmountPaid += pay
		if inv.AmountPaid >= inv.Total {
			inv.Status = billing.InvoicePaid
		}
		paid = append(paid, inv)
		amount -= pay
	}
	return paid
}

// queueInvoicePayments queues writing the invoices allocate answered, with the invoice.paid
// event of each it marked paid.
func queueInvoicePayments(b *pgx.Batch, paid []billing.Invoice) error {
	for _, inv := range paid {
		b.Queue(`UPDATE invoices SET amount_paid = $2, status = $3 WHERE id = $1`, inv.ID, inv.AmountPaid, inv.Status)
		if inv.Status != billing.InvoicePaid {
			continue
		}
		if err := queueEvent(b, inv.AccountID, billing.EventInvoicePaid, inv.ID, inv); err != nil {
			return err
		}
	}
	return nil
}

// allocateToInvoices pays amount into the account's oldest open invoices in currency (the
// invoice forInvoice first), marking each paid, with its event, once nothing is due on it.
// Whatever exceeds the open invoices stays on the ledger as credit.
func allocateToInvoices(ctx context.Context, tx pgx.Tx, accountID, currency string, amount int64, forInvoice *string) error {
	rows, err := tx.Query(ctx, openInvoicesSQL("$1", "$2", "$3"), accountID, currency, forInvoice)
	if err != nil {
		return fmt.Errorf("list open invoices: %w", err)
	}
	open, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Invoice, error) { return scanInvoice(r) })
	if err != nil {
		return fmt.Errorf("list open invoices: %w", err)
	}
	b := &pgx.Batch{}
	if err := queueInvoicePayments(b, allocate(open, amount)); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("allocate payment to invoices: %w", err)
	}
	return nil
}

// payInvoice adds amount to what was paid on an open invoice, marking it paid (with its
// invoice.paid event) once nothing is due.
func payInvoice(ctx context.Context, tx pgx.Tx, invoiceID string, amount int64) error {
	var status billing.InvoiceStatus
	if err := tx.QueryRow(ctx, `UPDATE invoices SET amount_paid = amount_paid + $2,
		status = CASE WHEN amount_paid + $2 >= total THEN 'paid' ELSE status END WHERE id = $1 RETURNING status`,
		invoiceID, amount).Scan(&status); err != nil {
		return err
	}
	if status != billing.InvoicePaid {
		return nil
	}
	return recordInvoiceEvent(ctx, tx, invoiceID, billing.EventInvoicePaid)
}

// UnfinishedPayments lists up to limit payments that are not final and were created before
// before, oldest first, after the (createdAt, id) cursor (zero: from the start). The
// reconciler pages through all of them, so a hundred stuck rows cannot starve the rest.
func (db *DB) UnfinishedPayments(ctx context.Context, before time.Time, afterCreated time.Time, afterID string, limit int) ([]billing.Payment, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE status IN `+inFlightStatuses+` AND created_at < $1 AND (created_at, id) > ($2, $3)
		ORDER BY created_at, id LIMIT $4`, before, afterCreated, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list unfinished payments: %w", err)
	}
	payments, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("list unfinished payments: %w", err)
	}
	return payments, nil
}

// PaymentRequestFacts are what a new payment request is checked against before its card goes
// to the processor: the account, the payment its Idempotency-Key already made (Found), and
// the amount still available to pay.
type PaymentRequestFacts struct {
	Account   billing.Account
	Existing  billing.Payment
	PrevHash  []byte
	Found     bool
	KeyReused bool // the key made something else: IdempotencyKeyReused
	Available int64
}

// PaymentRequestFacts reads a payment request's facts in one round trip (a pipelined batch, one
// implicit transaction) instead of four: the create path is the hot one under load. An
// unknown account is not_found.
func (db *DB) PaymentRequestFacts(ctx context.Context, accountID, key string) (PaymentRequestFacts, error) {
	var f PaymentRequestFacts
	var route IdempotencyRoute
	b := &pgx.Batch{}
	b.Queue(accountSQL, accountID).QueryRow(func(row pgx.Row) error {
		var err error
		if f.Account, err = scanAccount(row); errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("account")
		}
		return err
	})
	queueKeyFacts(b, accountID, key, &f, &route)
	err := db.Pool.SendBatch(ctx, b).Close()
	if billing.ErrorOf(err) != nil {
		return PaymentRequestFacts{}, err
	}
	if err != nil {
		return PaymentRequestFacts{}, fmt.Errorf("load payment request facts of %s: %w", accountID, err)
	}
	if f.Found && (route != RouteCreatePayment || f.Existing.ID == "") {
		f.Found, f.KeyReused = false, true
	}
	return f, nil
}

// PaymentAccountBalance reads a payment, its account and the account's balance in one round
// trip (a pipelined batch, one implicit transaction): what a payment's mail is written from.
// An unknown payment is not_found.
func (db *DB) PaymentAccountBalance(ctx context.Context, paymentID string) (billing.Payment, billing.Account, int64, error) {
	var r PaymentMailFacts
	b := &pgx.Batch{}
	queueMailFacts(b, paymentID, &r)
	err := db.Pool.SendBatch(ctx, b).Close()
	if billing.ErrorOf(err) != nil {
		return billing.Payment{}, billing.Account{}, 0, err
	}
	if err != nil {
		return billing.Payment{}, billing.Account{}, 0, fmt.Errorf("load payment %s with its account: %w", paymentID, err)
	}
	return r.Payment, r.Account, r.Balance, nil
}

// PaymentMailFacts is what a payment's mail is written from: the payment, its account and the
// account's balance.
type PaymentMailFacts struct {
	Payment billing.Payment
	Account billing.Account
	Balance int64
}

// queueMailFacts queues reading into dst the mail facts of the payment; an unknown payment
// fails the batch with not_found.
func queueMailFacts(b *pgx.Batch, paymentID string, dst *PaymentMailFacts) {
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE id = $1`, paymentID).QueryRow(func(row pgx.Row) error {
		var err error
		if dst.Payment, err = scanPayment(row); errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("payment")
		}
		return err
	})
	b.Queue(`SELECT `+accountColumns+` FROM accounts WHERE id = (SELECT account_id FROM payments WHERE id = $1)`, paymentID).
		QueryRow(func(row pgx.Row) error {
			var err error
			if dst.Account, err = scanAccount(row); errors.Is(err, pgx.ErrNoRows) {
				return billing.NotFound("account")
			}
			return err
		})
	b.Queue(paymentBalanceSQL, paymentID).QueryRow(func(row pgx.Row) error { return row.Scan(&dst.Balance) })
}

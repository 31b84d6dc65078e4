package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// CreatePaymentMethod writes a card on file as tokenized by the processor. Only the token and
// the card's public facts are columns here: there is nowhere to put a number or a CVC.
func (db *DB) CreatePaymentMethod(ctx context.Context, pm billing.PaymentMethod) error {
	return db.inTx(ctx, func(tx pgx.Tx) error { return insertPaymentMethod(ctx, tx, pm) })
}

// CreateIdempotentPaymentMethod stores a new card and the Idempotency-Key that added it in
// one transaction, after taking the account's row lock: of concurrent requests with one key,
// the first stores its card and the others find its record. A key already recorded answers
// the card it added (created=false), or is a 409 when it came with another request.
func (db *DB) CreateIdempotentPaymentMethod(ctx context.Context, pm billing.PaymentMethod, key IdempotencyRecord) (_ billing.PaymentMethod, created bool, err error) {
	key.AccountID, key.Route, key.PaymentMethodID, key.CreatedAt = pm.AccountID, RouteAddPaymentMethod, pm.ID, pm.CreatedAt
	stored := pm
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, pm.AccountID); err != nil {
			return err
		}
		rec, found, err := findIdempotencyKey(ctx, tx, key)
		if err != nil {
			return err
		}
		if found {
			if !rec.Matches(key) {
				return IdempotencyKeyReused()
			}
			stored, err = scanPaymentMethod(tx.QueryRow(ctx, `SELECT `+paymentMethodColumns+`
				FROM payment_methods pm WHERE pm.id = $1`, rec.PaymentMethodID))
			return err
		}
		if err := insertPaymentMethod(ctx, tx, pm); err != nil {
			return err
		}
		_, taken, err := insertIdempotencyKey(ctx, tx, key)
		if err != nil {
			return err
		}
		if taken { // by another route's request, which does not take the account lock
			return IdempotencyKeyReused()
		}
		created = true
		return nil
	})
	if err != nil {
		if billing.ErrorOf(err) != nil {
			return billing.PaymentMethod{}, false, err
		}
		return billing.PaymentMethod{}, false, fmt.Errorf("add payment method for %s: %w", pm.AccountID, err)
	}
	return stored, created, nil
}

func insertPaymentMethod(ctx context.Context, q pgx.Tx, pm billing.PaymentMethod) error {
	a := pm.BillingAddress
	_, err := q.Exec(ctx, `INSERT INTO payment_methods (id, account_id, status, processor_token, brand,
		last4, exp_month, exp_year, holder_name, eu_supported, contact_email, address_line1, address_line2, city,
		state, postal_code, country, created_at, validation_deadline, decided_at, decision_reason, decided_by, workflow_id,
		metadata)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24)`,
		pm.ID, pm.AccountID, pm.Status, pm.ProcessorToken, pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear,
		pm.HolderName, pm.EUSupported, pm.ContactEmail, a.Line1, a.Line2, a.City, a.State, a.PostalCode,
		a.Country, pm.CreatedAt, pm.ValidationDeadline, pm.DecidedAt, pm.DecisionReason, pm.DecidedBy, pm.WorkflowID,
		metadataJSON(pm.Metadata))
	if err != nil {
		return fmt.Errorf("create payment method %s for %s: %w", pm.ID, pm.AccountID, err)
	}
	if pm.Status != billing.PMPendingValidation {
		return nil
	}
	return recordPaymentMethodEvent(ctx, q, pm.ID, billing.EventPMPendingValidation)
}

// recordPaymentMethodEvent records typ with the card as it now is in tx.
func recordPaymentMethodEvent(ctx context.Context, tx pgx.Tx, id string, typ billing.EventType) error {
	pm, err := scanPaymentMethod(tx.QueryRow(ctx, `SELECT `+paymentMethodColumns+` FROM payment_methods pm WHERE pm.id = $1`, id))
	if err != nil {
		return fmt.Errorf("load payment method %s for its event: %w", id, err)
	}
	return recordEvent(ctx, tx, pm.AccountID, typ, pm.ID, pm)
}

// DeletePendingPaymentMethod removes a card that never got its validation workflow, so no
// card is left pending with nobody to decide it. A decided card is never deleted.
func (db *DB) DeletePendingPaymentMethod(ctx context.Context, id string) error {
	// Its pending_validation event goes with it: it told of a card that never was.
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM payment_methods WHERE id = $1 AND status = 'pending_validation'`, id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM events WHERE object_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete pending payment method %s: %w", id, err)
	}
	return nil
}

// PaymentMethod returns one card of the account, or not_found (also when it belongs to
// another account).
func (db *DB) PaymentMethod(ctx context.Context, accountID, id string) (billing.PaymentMethod, error) {
	pm, err := scanPaymentMethod(db.Pool.QueryRow(ctx, `SELECT `+paymentMethodColumns+`
		FROM payment_methods pm WHERE pm.id = $1 AND pm.account_id = $2`, id, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.PaymentMethod{}, billing.NotFound("payment method")
	}
	if err != nil {
		return billing.PaymentMethod{}, fmt.Errorf("load payment method %s: %w", id, err)
	}
	return pm, nil
}

// PaymentMethodByID returns one card whatever its account: reps and activities use it.
func (db *DB) PaymentMethodByID(ctx context.Context, id string) (billing.PaymentMethod, error) {
	pm, err := scanPaymentMethod(db.Pool.QueryRow(ctx, `SELECT `+paymentMethodColumns+`
		FROM payment_methods pm WHERE pm.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.PaymentMethod{}, billing.NotFound("payment method")
	}
	if err != nil {
		return billing.PaymentMethod{}, fmt.Errorf("load payment method %s: %w", id, err)
	}
	return pm, nil
}

// PaymentMethods lists the account's cards newest first, one keyset page at a time. The
// cursor must be a card of the same account.
func (db *DB) PaymentMethods(ctx context.Context, accountID string, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return listPage(ctx, db, keysetList{name: "payment methods", from: "payment_methods pm", col: "pm.",
		columns: paymentMethodColumns, scope: "pm.account_id = $1", scopeArgs: []any{accountID},
		cursorNames: "payment method of this account"}, p, scanPaymentMethod)
}

// PendingPaymentMethods lists the cards awaiting a rep's decision, oldest first (the order a
// rep works through them), one keyset page at a time. The cursor may be any card, decided or
// not: reps decide cards while they page, and the page goes on from the cursor's place
// (created_at, id) whatever became of it.
func (db *DB) PendingPaymentMethods(ctx context.Context, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return listPage(ctx, db, keysetList{name: "pending payment methods", from: "payment_methods pm", col: "pm.",
		columns: paymentMethodColumns, scope: "TRUE", filter: "pm.status = 'pending_validation'", oldestFirst: true,
		cursorNames: "card"}, p, scanPaymentMethod)
}

// CardDecision is the final status a pending card is given, and why.
type CardDecision struct {
	PaymentMethodID string
	Status          billing.PaymentMethodStatus // validated, rejected or expired
	Reason          string
	DecidedBy       string // the rep's key id; empty when the deadline passed
	At              time.Time
}

// DecidePaymentMethod gives a pending card its final status. A validated card becomes its
// account's monthly payment method, replacing the previous one, in the same transaction: the
// summary never shows a validated card that is not the monthly one, nor the reverse.
//
// Only a pending card changes (UPDATE ... WHERE status = 'pending_validation'), so repeating
// the call is harmless: changed is false and the card is returned as it is. The caller tells
// a replay (same status) from a conflict (another status) by looking at it.
func (db *DB) DecidePaymentMethod(ctx context.Context, d CardDecision) (pm billing.PaymentMethod, changed bool, err error) {
	if !d.Status.Final() {
		return billing.PaymentMethod{}, false, fmt.Errorf("decide payment method %s: %q is not a final status", d.PaymentMethodID, d.Status)
	}
	// The reason comes from a rep, through a signal anyone with Temporal access can send. A
	// NUL, which a text column cannot hold, would fail this write on every retry and leave
	// the card pending forever; it carries no meaning, so it goes.
	d.Reason = strings.ReplaceAll(d.Reason, "\x00", "")
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		pm, err = scanPaymentMethod(tx.QueryRow(ctx, `UPDATE payment_methods pm
			SET status = $2, decided_at = $3, decision_reason = $4, decided_by = $5
			WHERE pm.id = $1 AND pm.status = 'pending_validation'
			RETURNING `+paymentMethodColumns, d.PaymentMethodID, d.Status, d.At, d.Reason, d.DecidedBy))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("mark %s: %w", d.Status, err)
		}
		changed = true
		if err := recordEvent(ctx, tx, pm.AccountID, billing.EventType("payment_method."+string(d.Status)), pm.ID, pm); err != nil {
			return err
		}
		if d.Status != billing.PMValidated {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO monthly_payment_methods (account_id, payment_method_id, since)
			VALUES ($1, $2, $3)
			ON CONFLICT (account_id) DO UPDATE SET payment_method_id = excluded.payment_method_id, since = excluded.since`,
			pm.AccountID, pm.ID, d.At)
		if err != nil {
			return fmt.Errorf("make it the monthly payment method of %s: %w", pm.AccountID, err)
		}
		return nil
	})
	if err != nil {
		return billing.PaymentMethod{}, false, fmt.Errorf("decide payment method %s: %w", d.PaymentMethodID, err)
	}
	if !changed {
		pm, err = db.PaymentMethodByID(ctx, d.PaymentMethodID)
		if err != nil {
			return billing.PaymentMethod{}, false, err
		}
	} else {
		db.events().CardDecided(d.Status)
	}
	return pm, changed, nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// Finding is one disagreement the reconciler found, and what it did about it.
type Finding struct {
	Kind      string
	AccountID string
	PaymentID string
	Detail    string
	Action    string // what was done; "" when a person must act
	Resolved  bool   // the books and the processor agree again
}

// Kinds of findings.
const (
	FindingStrandedPayment  = "stranded_payment"  // not final, its saga closed, missing or never started
	FindingUnbookedCapture  = "unbooked_capture"  // money taken, neither on the ledger nor refunded
	FindingRefundRefused    = "refund_refused"    // money taken, the processor refused the refund
	FindingLedgerMismatch   = "ledger_mismatch"   // a payment's ledger entries disagree with its status
	FindingBalanceMismatch  = "balance_mismatch"  // an account's balance is not invoices − payments + refunds
	FindingProcessorUnknown = "processor_unknown" // the processor could not be asked; try again
	FindingRefundMismatch   = "refund_mismatch"   // a rep's refund disagrees with its ledger entry or its payment
)

// RecordFindings stores one reconciliation run's findings.
func (db *DB) RecordFindings(ctx context.Context, runID string, at time.Time, findings []Finding) error {
	if len(findings) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	for _, f := range findings {
		batch.Queue(`INSERT INTO reconciliation_findings (run_id, found_at, kind, account_id, payment_id, detail, action, resolved)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, runID, at, f.Kind, f.AccountID, f.PaymentID, f.Detail, f.Action, f.Resolved)
	}
	if err := db.Pool.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("record %d reconciliation findings: %w", len(findings), err)
	}
	for _, f := range findings {
		db.events().FindingRecorded(f.Kind, f.Resolved)
	}
	return nil
}

// StoredFinding is a finding as recorded.
type StoredFinding struct {
	Finding
	ID      int64
	RunID   string
	FoundAt time.Time
}

// RecentFindings lists the newest findings first.
func (db *DB) RecentFindings(ctx context.Context, limit int) ([]StoredFinding, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, run_id, found_at, kind, account_id, payment_id, detail, action, resolved
		FROM reconciliation_findings ORDER BY found_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list reconciliation findings: %w", err)
	}
	findings, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StoredFinding, error) {
		var f StoredFinding
		err := r.Scan(&f.ID, &f.RunID, &f.FoundAt, &f.Kind, &f.AccountID, &f.PaymentID, &f.Detail, &f.Action, &f.Resolved)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("list reconciliation findings: %w", err)
	}
	return findings, nil
}

// CheckBooks checks the invariants the books must satisfy on their own, without asking a
// processor, and answers every violation:
//   - every succeeded payment has exactly one ledger entry, of minus its amount, and every
//     payment ledger entry belongs to a succeeded payment;
//   - money taken (a capture recorded) is either booked (succeeded) or refunded, once the
//     payment is final;
//   - every succeeded rep refund has exactly one payment_refund ledger entry, of its amount, and
//     no other refund has one; a payment's amount_refunded is the sum of its refunds that did
//     not fail;
//   - per account, the ledger balance equals the issued invoices minus the booked payments plus
//     the refunds and adjustments booked (a Refund invoice documents its refund's entry and is
//     not counted as an invoice).
func (db *DB) CheckBooks(ctx context.Context) ([]Finding, error) {
	var findings []Finding
	checks := []struct {
		kind, sql string
	}{
		{FindingLedgerMismatch, `
			SELECT p.account_id, p.id, format('payment %s is %s for %s %s but has %s payment ledger entries summing %s',
				p.id, p.status, p.amount, p.currency, count(l.id), coalesce(sum(l.amount), 0))
			FROM payments p LEFT JOIN ledger_entries l ON l.kind = 'payment' AND l.reference = p.id
			GROUP BY p.id
			HAVING (p.status = 'succeeded' AND (count(l.id) <> 1 OR coalesce(sum(l.amount), 0) <> -p.amount))
			    OR (p.status <> 'succeeded' AND count(l.id) > 0)`},
		{FindingLedgerMismatch, `
			SELECT l.account_id, l.reference, format('ledger entry %s books payment %s, which does not exist', l.id, l.reference)
			FROM ledger_entries l LEFT JOIN payments p ON p.id = l.reference
			WHERE l.kind = 'payment' AND p.id IS NULL`},
		{FindingRefundMismatch, `
			SELECT r.account_id, r.payment_id, format('refund %s is %s for %s %s but has %s payment_refund ledger entries summing %s',
				r.id, r.status, r.amount, r.currency, count(l.id), coalesce(sum(l.amount), 0))
			FROM refunds r LEFT JOIN ledger_entries l ON l.kind = 'payment_refund' AND l.reference = r.id
			GROUP BY r.id
			HAVING (r.status = 'succeeded' AND (count(l.id) <> 1 OR coalesce(sum(l.amount), 0) <> r.amount))
			    OR (r.status <> 'succeeded' AND count(l.id) > 0)`},
		{FindingRefundMismatch, `
			SELECT p.account_id, p.id, format('payment %s has amount_refunded %s but its refunds that did not fail sum to %s',
				p.id, p.amount_refunded, coalesce(sum(r.amount) FILTER (WHERE r.status <> 'failed'), 0))
			FROM payments p LEFT JOIN refunds r ON r.payment_id = p.id
			GROUP BY p.id
			HAVING p.amount_refunded <> coalesce(sum(r.amount) FILTER (WHERE r.status <> 'failed'), 0)`},
		{FindingUnbookedCapture, `
			SELECT account_id, id, format('payment %s is %s but %s %s was captured (%s) and not refunded',
				id, status, amount, currency, capture_id)
			FROM payments
			WHERE capture_id <> '' AND status IN ('failed', 'canceled', 'expired') AND compensation NOT IN ('refunded', 'refund_refused')`},
		{FindingRefundRefused, `
			SELECT account_id, id, format('payment %s: %s %s was captured (%s) and the processor refused the refund; a person must refund or book it',
				id, amount, currency, capture_id)
			FROM payments WHERE compensation = 'refund_refused' AND status <> 'succeeded'`},
		{FindingBalanceMismatch, `
			SELECT a.id, '', format('account %s: the kept balance says %s, the ledger''s entries sum to %s',
				a.id, coalesce(b.balance, 0), coalesce(l.sum, 0))
			FROM accounts a
			LEFT JOIN account_balances b ON b.account_id = a.id
			LEFT JOIN (SELECT account_id, sum(amount) AS sum FROM ledger_entries GROUP BY account_id) l ON l.account_id = a.id
			WHERE coalesce(b.balance, 0) <> coalesce(l.sum, 0)`},
		{FindingBalanceMismatch, `
			WITH ledger AS (
				SELECT account_id, sum(amount) AS balance FROM ledger_entries GROUP BY account_id
			), expected AS (
				SELECT a.id AS account_id,
					(SELECT coalesce(sum(total), 0) FROM invoices i WHERE i.account_id = a.id AND i.status <> 'void'
						AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.invoice_id = i.id))
					- (SELECT coalesce(sum(amount), 0) FROM payments p WHERE p.account_id = a.id AND p.status = 'succeeded')
					+ (SELECT coalesce(sum(amount), 0) FROM ledger_entries l WHERE l.account_id = a.id AND l.kind IN ('payment_refund', 'adjustment'))
					AS balance
				FROM accounts a
			)
			SELECT e.account_id, '', format('account %s: the ledger says %s, invoices − payments + refunds and adjustments say %s',
				e.account_id, coalesce(l.balance, 0), e.balance)
			FROM expected e LEFT JOIN ledger l ON l.account_id = e.account_id
			WHERE coalesce(l.balance, 0) <> e.balance`},
	}
	for _, c := range checks {
		rows, err := db.Pool.Query(ctx, c.sql)
		if err != nil {
			return nil, fmt.Errorf("check books (%s): %w", c.kind, err)
		}
		found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Finding, error) {
			f := Finding{Kind: c.kind}
			err := r.Scan(&f.AccountID, &f.PaymentID, &f.Detail)
			return f, err
		})
		if err != nil {
			return nil, fmt.Errorf("check books (%s): %w", c.kind, err)
		}
		findings = append(findings, found...)
	}
	return findings, nil
}

// UnrefundedCaptures lists payments that ended without success although money was captured
// for them and not refunded: what the reconciler refunds when the processor cannot list its
// captures itself.
func (db *DB) UnrefundedCaptures(ctx context.Context) ([]billing.Payment, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+paymentColumns+` FROM payments
		WHERE capture_id <> '' AND status IN ('failed', 'canceled', 'expired') AND compensation NOT IN ('refunded', 'refund_refused')
		ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list unrefunded captures: %w", err)
	}
	payments, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Payment, error) { return scanPayment(r) })
	if err != nil {
		return nil, fmt.Errorf("list unrefunded captures: %w", err)
	}
	return payments, nil
}

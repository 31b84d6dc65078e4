package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

const invoiceColumns = `id, account_id, number, type, status, currency, period_start, period_end,
	subtotal, tax, total, amount_paid, created_at`

func scanInvoice(row pgx.Row) (billing.Invoice, error) {
	var inv billing.Invoice
	err := row.Scan(&inv.ID, &inv.AccountID, &inv.Number, &inv.Type, &inv.Status, &inv.Currency,
		&inv.PeriodStart, &inv.PeriodEnd, &inv.Subtotal, &inv.Tax, &inv.Total, &inv.AmountPaid, &inv.CreatedAt)
	return inv, err
}

// Invoices lists an account's invoices newest first, optionally of one type, one keyset page
// at a time. The cursor must be an invoice of the same account.
func (db *DB) Invoices(ctx context.Context, accountID string, typ billing.InvoiceType, p billing.ListParams) ([]billing.Invoice, bool, error) {
	return listPage(ctx, db, invoiceList(accountID, typ), p, scanInvoice)
}

func invoiceList(accountID string, typ billing.InvoiceType) keysetList {
	l := keysetList{name: "invoices", from: "invoices", columns: invoiceColumns,
		scope: "account_id = $1", scopeArgs: []any{accountID}, cursorNames: "invoice of this account"}
	if typ != "" {
		l.filter, l.filterArgs = "type = $2", []any{typ}
	}
	return l
}

// ExportBatch is how many invoices EachInvoiceBatch reads per query.
const ExportBatch = 500

// EachInvoiceBatch hands every invoice of the account created within created (optionally of
// one type) to fn, newest first, ExportBatch at a time: one short keyset query per batch, so
// no connection or snapshot is held while fn writes a batch to a slow reader, and memory
// stays one batch whatever the account holds. Invoices created after the walk began are not
// among them (they sort before its position); an error from fn stops the walk.
func (db *DB) EachInvoiceBatch(ctx context.Context, accountID string, typ billing.InvoiceType, created billing.CreatedRange,
	fn func([]billing.Invoice) error) error {
	l := invoiceList(accountID, typ)
	p := billing.ListParams{Limit: ExportBatch, Created: created}
	for {
		batch, more, err := listPage(ctx, db, l, p, scanInvoice)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := fn(batch); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		p.StartingAfter = batch[len(batch)-1].ID
	}
}

// Invoice returns one invoice of the account with its items (without their details).
func (db *DB) Invoice(ctx context.Context, accountID, invoiceID string) (billing.Invoice, error) {
	inv, err := scanInvoice(db.Pool.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = $1 AND account_id = $2`, invoiceID, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Invoice{}, billing.NotFound("invoice")
	}
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("load invoice %s: %w", invoiceID, err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+itemColumns+` FROM invoice_items WHERE invoice_id = $1 ORDER BY position`, invoiceID)
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("load items of %s: %w", invoiceID, err)
	}
	inv.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.InvoiceItem, error) { return scanItem(r) })
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("load items of %s: %w", invoiceID, err)
	}
	return inv, nil
}

// InvoiceWithDetails returns the invoice with every item's details, for the PDF.
func (db *DB) InvoiceWithDetails(ctx context.Context, accountID, invoiceID string) (billing.Invoice, error) {
	inv, err := db.Invoice(ctx, accountID, invoiceID)
	if err != nil {
		return billing.Invoice{}, err
	}
	rows, err := db.Pool.Query(ctx, `SELECT d.item_id, `+detailColumns+` FROM invoice_item_details d
		JOIN invoice_items i ON i.id = d.item_id WHERE i.invoice_id = $1 ORDER BY i.position, d.position`, invoiceID)
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("load details of %s: %w", invoiceID, err)
	}
	defer rows.Close()
	byItem := map[string][]billing.ItemDetail{}
	for rows.Next() {
		var itemID string
		var d billing.ItemDetail
		if err := rows.Scan(&itemID, &d.ID, &d.Description, &d.ResourceName, &d.Quantity, &d.Unit, &d.UnitAmount, &d.Amount); err != nil {
			return billing.Invoice{}, fmt.Errorf("scan detail: %w", err)
		}
		byItem[itemID] = append(byItem[itemID], d)
	}
	if err := rows.Err(); err != nil {
		return billing.Invoice{}, fmt.Errorf("load details of %s: %w", invoiceID, err)
	}
	for i := range inv.Items {
		inv.Items[i].Details = byItem[inv.Items[i].ID]
	}
	return inv, nil
}

const itemColumns = `id, invoice_id, description, category, quantity, unit_amount, amount, period_start, period_end`

func scanItem(row pgx.Row) (billing.InvoiceItem, error) {
	var it billing.InvoiceItem
	err := row.Scan(&it.ID, &it.InvoiceID, &it.Description, &it.Category, &it.Quantity, &it.UnitAmount,
		&it.Amount, &it.PeriodStart, &it.PeriodEnd)
	return it, err
}

const detailColumns = `d.id, d.description, d.resource_name, d.quantity, d.unit, d.unit_amount, d.amount`

// InvoiceItem returns one item of one of the account's invoices, with its details.
func (db *DB) InvoiceItem(ctx context.Context, accountID, invoiceID, itemID string) (billing.InvoiceItem, error) {
	it, err := scanItem(db.Pool.QueryRow(ctx, `SELECT i.id, i.invoice_id, i.description, i.category, i.quantity,
		i.unit_amount, i.amount, i.period_start, i.period_end
		FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id
		WHERE i.id = $1 AND i.invoice_id = $2 AND v.account_id = $3`, itemID, invoiceID, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.InvoiceItem{}, billing.NotFound("invoice item")
	}
	if err != nil {
		return billing.InvoiceItem{}, fmt.Errorf("load item %s: %w", itemID, err)
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+detailColumns+` FROM invoice_item_details d WHERE d.item_id = $1 ORDER BY d.position`, itemID)
	if err != nil {
		return billing.InvoiceItem{}, fmt.Errorf("load details of %s: %w", itemID, err)
	}
	it.Details, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.ItemDetail, error) {
		var d billing.ItemDetail
		err := r.Scan(&d.ID, &d.Description, &d.ResourceName, &d.Quantity, &d.Unit, &d.UnitAmount, &d.Amount)
		return d, err
	})
	if err != nil {
		return billing.InvoiceItem{}, fmt.Errorf("load details of %s: %w", itemID, err)
	}
	return it, nil
}

// CreateInvoice writes an invoice with its items and details and books its total on the
// ledger, in one transaction. IDs and the number are assigned here when empty. A second
// recurring invoice for the same account and billing month (the month of the day after its
// period), whatever its period, is refused by the database; the caller gets the existing one
// back with created=false.
func (db *DB) CreateInvoice(ctx context.Context, inv billing.Invoice) (_ billing.Invoice, created bool, err error) {
	if inv.ID == "" {
		inv.ID = billing.NewID(billing.PrefixInvoice)
	}
	err = db.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertInvoice(ctx, tx, &inv); err != nil {
			return err
		}
		if inv.Status == billing.InvoiceVoid {
			return nil
		}
		if err := appendLedger(ctx, tx, inv.AccountID, "invoice", inv.ID, inv.Total, inv.Currency, inv.CreatedAt); err != nil {
			return err
		}
		if err := recordInvoiceEvent(ctx, tx, inv.ID, billing.EventInvoiceIssued); err != nil {
			return err
		}
		// An invoice imported as already paid brings its settlement along, so the ledger
		// still tells the whole story.
		return appendLedger(ctx, tx, inv.AccountID, "adjustment", "paid-at-issue:"+inv.ID, -inv.AmountPaid, inv.Currency, inv.CreatedAt)
	})
	if isUniqueViolation(err) && inv.Type == billing.InvoiceRecurring {
		existing, lerr := db.recurringInvoiceOfMonth(ctx, inv.AccountID, *inv.PeriodStart, inv.PeriodEnd)
		if lerr != nil {
			return billing.Invoice{}, false, lerr
		}
		return existing, false, nil
	}
	if err != nil {
		return billing.Invoice{}, false, fmt.Errorf("create invoice for %s: %w", inv.AccountID, err)
	}
	return inv, true, nil
}

// insertInvoice writes an invoice with its items and details, assigning the number and the
// ids left empty; booking it is the caller's.
func insertInvoice(ctx context.Context, tx pgx.Tx, inv *billing.Invoice) error {
	var err error
	if inv.Number == "" {
		if inv.Number, err = nextInvoiceNumber(ctx, tx, inv.CreatedAt); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO invoices (`+invoiceColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
		inv.ID, inv.AccountID, inv.Number, inv.Type, inv.Status, inv.Currency, inv.PeriodStart, inv.PeriodEnd,
		inv.Subtotal, inv.Tax, inv.Total, inv.AmountPaid, inv.CreatedAt)
	if err != nil {
		return err
	}
	for i := range inv.Items {
		it := &inv.Items[i]
		if it.ID == "" {
			it.ID = billing.NewID(billing.PrefixInvoiceItem)
		}
		it.InvoiceID = inv.ID
		if _, err := tx.Exec(ctx, `INSERT INTO invoice_items (id, invoice_id, position, description, category,
			quantity, unit_amount, amount, period_start, period_end) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
			it.ID, inv.ID, i, it.Description, it.Category, it.Quantity, it.UnitAmount, it.Amount, it.PeriodStart, it.PeriodEnd); err != nil {
			return fmt.Errorf("insert item %d: %w", i, err)
		}
		for j := range it.Details {
			d := &it.Details[j]
			if d.ID == "" {
				d.ID = billing.NewID(billing.PrefixItemDetail)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO invoice_item_details (id, item_id, position, description,
				resource_name, quantity, unit, unit_amount, amount) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
				d.ID, it.ID, j, d.Description, d.ResourceName, d.Quantity, d.Unit, d.UnitAmount, d.Amount); err != nil {
				return fmt.Errorf("insert detail %d of item %d: %w", j, i, err)
			}
		}
	}
	return nil
}

// recurringInvoiceOfMonth is the account's recurring invoice of the billing month a period
// belongs to: the invoice that makes a second one for the month a unique violation. The month
// is computed as the billing_month column is (migration 00005).
func (db *DB) recurringInvoiceOfMonth(ctx context.Context, accountID string, periodStart time.Time, periodEnd *time.Time) (billing.Invoice, error) {
	var id string
	err := db.Pool.QueryRow(ctx, `SELECT id FROM invoices WHERE account_id = $1 AND type = 'recurring' AND duplicate_of IS NULL
		AND billing_month = date_trunc('month', coalesce($3::date + 1, ($2::date + interval '1 month')::date)::timestamp)::date`,
		accountID, periodStart, periodEnd).Scan(&id)
	if err != nil {
		return billing.Invoice{}, fmt.Errorf("load recurring invoice of %s for the period from %s: %w", accountID, periodStart.Format(time.DateOnly), err)
	}
	return db.InvoiceWithDetails(ctx, accountID, id)
}

// nextInvoiceNumber numbers invoices per year: INV-2026-000042. The advisory lock serializes
// numbering so two invoices never race for one number.
func nextInvoiceNumber(ctx context.Context, tx pgx.Tx, at time.Time) (string, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('invoice_number'))`); err != nil {
		return "", fmt.Errorf("lock invoice numbering: %w", err)
	}
	prefix := fmt.Sprintf("INV-%d-", at.UTC().Year())
	var n int
	err := tx.QueryRow(ctx, `SELECT coalesce(max(substring(number from length($1) + 1)::int), 0) FROM invoices WHERE number LIKE $1 || '%'`, prefix).Scan(&n)
	if err != nil {
		return "", fmt.Errorf("next invoice number: %w", err)
	}
	return fmt.Sprintf("%s%06d", prefix, n+1), nil
}

const recurringChargesSQL = `SELECT id, account_id, description, category, quantity, unit_amount
	FROM recurring_charges WHERE account_id = $1 AND active ORDER BY created_at, id`

// RecurringCharges lists the account's active recurring charges.
func (db *DB) RecurringCharges(ctx context.Context, accountID string) ([]billing.RecurringCharge, error) {
	rows, err := db.Pool.Query(ctx, recurringChargesSQL, accountID)
	if err != nil {
		return nil, fmt.Errorf("list recurring charges of %s: %w", accountID, err)
	}
	charges, err := pgx.CollectRows(rows, pgx.RowToStructByPos[billing.RecurringCharge])
	if err != nil {
		return nil, fmt.Errorf("list recurring charges of %s: %w", accountID, err)
	}
	return charges, nil
}

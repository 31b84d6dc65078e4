package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// InvoicePDF returns the stored PDF of the invoice in lang rendered from the content that
// hashes to contentHash; ok is false when none is stored yet.
func (db *DB) InvoicePDF(ctx context.Context, invoiceID, lang, contentHash string) (pdf []byte, ok bool, err error) {
	err = db.Pool.QueryRow(ctx, `SELECT pdf FROM invoice_pdfs WHERE invoice_id = $1 AND language = $2 AND content_hash = $3`,
		invoiceID, lang, contentHash).Scan(&pdf)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load pdf of %s (%s): %w", invoiceID, lang, err)
	}
	return pdf, true, nil
}

// StoreInvoicePDF keeps a rendered PDF under its content hash. The renderer is deterministic,
// so when two processes race to store the same key they hold the same bytes and the second
// insert is simply dropped.
func (db *DB) StoreInvoicePDF(ctx context.Context, invoiceID, lang, contentHash string, pdf []byte, at time.Time) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO invoice_pdfs (invoice_id, language, content_hash, pdf, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, invoiceID, lang, contentHash, pdf, at)
	if err != nil {
		return fmt.Errorf("store pdf of %s (%s): %w", invoiceID, lang, err)
	}
	return nil
}

// InvoicePDFCount is how many files are stored for the invoice in lang, across content hashes.
func (db *DB) InvoicePDFCount(ctx context.Context, invoiceID, lang string) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM invoice_pdfs WHERE invoice_id = $1 AND language = $2`, invoiceID, lang).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pdfs of %s (%s): %w", invoiceID, lang, err)
	}
	return n, nil
}

// Package pdfstore keeps rendered invoice PDFs in Postgres, content-addressed: each file is
// stored under invoicepdf.ContentHash of what it shows, so asking for an invoice's PDF
// always means "the PDF of its current content". The billing workflow's render activity and
// the PDF route share it: one renders when an invoice is issued, the other serves the stored
// file and renders on demand when it is missing (seeded invoices, a changed invoice, a new
// renderer version, the other language).
package pdfstore

import (
	"bytes"
	"context"
	"fmt"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
	"github.com/payportal/payportal/internal/invoicepdf"
	"github.com/payportal/payportal/internal/postgres"
)

// Store renders and stores invoice PDFs.
type Store struct {
	DB    *postgres.DB
	Clock billing.Clock
}

// Ensure returns the PDF of the account's invoice in lang ("fr" or anything else for "en")
// for the invoice's current content, rendering and storing it first when it is missing.
// An invoice of another account is not found.
func (s *Store) Ensure(ctx context.Context, accountID, invoiceID, lang string) (billing.InvoicePDF, error) {
	lang = i18n.Lang(lang)
	acct, err := s.DB.Account(ctx, accountID)
	if err != nil {
		return billing.InvoicePDF{}, err
	}
	inv, err := s.DB.InvoiceWithDetails(ctx, accountID, invoiceID)
	if err != nil {
		return billing.InvoicePDF{}, err
	}
	doc := invoicepdf.Document{Account: acct, Invoice: inv}
	out := billing.InvoicePDF{InvoiceID: inv.ID, Number: inv.Number, Language: lang, ContentHash: invoicepdf.ContentHash(doc, lang)}

	stored, ok, err := s.DB.InvoicePDF(ctx, inv.ID, lang, out.ContentHash)
	if err != nil {
		return billing.InvoicePDF{}, err
	}
	if ok {
		out.Content = stored
		return out, nil
	}
	var buf bytes.Buffer
	if err := invoicepdf.Render(&buf, doc, lang); err != nil {
		return billing.InvoicePDF{}, fmt.Errorf("render pdf of %s (%s): %w", inv.ID, lang, err)
	}
	if err := s.DB.StoreInvoicePDF(ctx, inv.ID, lang, out.ContentHash, buf.Bytes(), s.Clock.Now()); err != nil {
		return billing.InvoicePDF{}, err
	}
	out.Content = buf.Bytes()
	return out, nil
}

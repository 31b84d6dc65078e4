package portal

import (
	"context"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/pdfstore"
)

// InvoicePDFs serves invoice PDFs: the stored file for the invoice's current content, rendered
// on demand when none is stored yet.
type InvoicePDFs struct {
	Store *pdfstore.Store
}

// InvoicePDF returns the PDF of the account's invoice in lang ("en" or "fr").
func (p *InvoicePDFs) InvoicePDF(ctx context.Context, accountID, invoiceID, lang string) (billing.InvoicePDF, error) {
	return p.Store.Ensure(ctx, accountID, invoiceID, lang)
}

// Package portal holds the services the HTTP API calls: each one checks the business rules,
// reads and writes through postgres, and starts or signals workflows.
package portal

import (
	"context"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

// Billing answers the read side: the billing summary, invoices and their items.
type Billing struct {
	DB    *postgres.DB
	Clock billing.Clock
}

// Summary builds the account's billing overview. The estimate of the next balance is the
// current balance plus the recurring invoice the billing workflow would issue on the next
// billing day, computed by the same function the workflow uses.
func (b *Billing) Summary(ctx context.Context, accountID string) (billing.Summary, error) {
	f, err := b.DB.SummaryFacts(ctx, accountID)
	if err != nil {
		return billing.Summary{}, err
	}
	next := billing.NextBillingDate(f.Account.BillingDay, b.Clock.Now())
	start, end := billing.BillingPeriod(next)
	draft := billing.RecurringInvoiceDraft(f.Account, f.RecurringCharges, start, end)
	return billing.Summary{
		AccountID:                    f.Account.ID,
		Currency:                     f.Account.Currency,
		MailLanguage:                 f.Account.MailLanguage,
		CurrentBalance:               f.Balance,
		EstimatedNextBalance:         f.Balance + draft.Total,
		PaymentMethod:                f.MonthlyPaymentMethod,
		PreviousRecurringInvoiceDate: f.LatestRecurringInvoiceDate,
		NextRecurringInvoiceDate:     next,
	}, nil
}

// Account returns the account.
func (b *Billing) Account(ctx context.Context, accountID string) (billing.Account, error) {
	return b.DB.Account(ctx, accountID)
}

// SetMailLanguage changes the language every mail to the account is written in.
func (b *Billing) SetMailLanguage(ctx context.Context, accountID, lang string) (billing.Account, error) {
	if err := billing.ValidateMailLanguage(lang); err != nil {
		return billing.Account{}, err
	}
	return b.DB.SetMailLanguage(ctx, accountID, lang)
}

// Invoices lists the account's invoices, newest first.
func (b *Billing) Invoices(ctx context.Context, accountID string, typ billing.InvoiceType, p billing.ListParams) ([]billing.Invoice, bool, error) {
	return b.DB.Invoices(ctx, accountID, typ, p)
}

// EachInvoiceBatch hands every invoice of the account matching the filters to fn, newest
// first, a batch at a time: what the CSV export streams.
func (b *Billing) EachInvoiceBatch(ctx context.Context, accountID string, typ billing.InvoiceType, created billing.CreatedRange,
	fn func([]billing.Invoice) error) error {
	return b.DB.EachInvoiceBatch(ctx, accountID, typ, created, fn)
}

// Invoice returns one invoice with its items.
func (b *Billing) Invoice(ctx context.Context, accountID, invoiceID string) (billing.Invoice, error) {
	return b.DB.Invoice(ctx, accountID, invoiceID)
}

// InvoiceItem returns one item with its details.
func (b *Billing) InvoiceItem(ctx context.Context, accountID, invoiceID, itemID string) (billing.InvoiceItem, error) {
	return b.DB.InvoiceItem(ctx, accountID, invoiceID, itemID)
}

package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/pdfstore"
	"github.com/payportal/payportal/internal/postgres"
)

// Error types the invoice activities fail with when retrying cannot help.
const (
	ErrTypeAccountNotFound = "account_not_found"
	ErrTypeInvoiceNotFound = "invoice_not_found"
)

// Invoices issues invoices, renders their PDFs and announces them.
type Invoices struct {
	DB    *postgres.DB
	PDFs  *pdfstore.Store
	Mail  mail.Sender
	Clock billing.Clock
}

// RecurringInvoiceRequest asks for the recurring invoice of the month of BillingDate.
type RecurringInvoiceRequest struct {
	AccountID   string
	BillingDate time.Time // the day the billing was started for, midnight UTC; its month is billed
}

// IssuedInvoice is an invoice as issued, with what the workflow needs to render, announce and
// charge it. Created is false when an earlier run had already issued it.
type IssuedInvoice struct {
	InvoiceID     string
	Number        string
	Status        billing.InvoiceStatus
	Total         billing.Money
	AmountDue     int64
	Created       bool
	NothingToBill bool // the account has no active recurring charges: no invoice was issued
	// The account's facts for mails and the PDF.
	CompanyName  string
	ContactEmail string
	Language     string
}

// IssueRecurringInvoice issues the account's recurring invoice for the month of the billing
// date, from its active recurring charges, through billing.RecurringInvoiceDraft: the same
// function the billing summary's estimate comes from. The period billed is the one ending the
// day before the account's billing day in that month. It is idempotent: the database holds
// one recurring invoice per account and billing month, and a retry, a re-run or a start on
// another day of the month gets the one already issued back (Created false), never a second
// one.
func (a *Invoices) IssueRecurringInvoice(ctx context.Context, req RecurringInvoiceRequest) (IssuedInvoice, error) {
	acct, err := a.DB.Account(ctx, req.AccountID)
	if billing.KindOf(err) == billing.KindNotFound {
		return IssuedInvoice{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("account %s does not exist", req.AccountID), ErrTypeAccountNotFound, err)
	}
	if err != nil {
		return IssuedInvoice{}, err
	}
	charges, err := a.DB.RecurringCharges(ctx, acct.ID)
	if err != nil {
		return IssuedInvoice{}, err
	}
	out := IssuedInvoice{CompanyName: acct.CompanyName, ContactEmail: acct.ContactEmail, Language: acct.Language}
	// The period comes from the account's billing day in the month of the billing date, not
	// from the day the billing was started: a start on any day of the month bills the same
	// period, and the database's one recurring invoice per account and billing month returns
	// the invoice already issued.
	start, end := billing.BillingPeriod(billing.RecurringBillingDate(acct.BillingDay, req.BillingDate))
	draft := billing.RecurringInvoiceDraft(acct, charges, start, end)
	if len(draft.Items) == 0 {
		// An empty invoice would only be noise in the customer's list and inbox.
		out.NothingToBill = true
		return out, nil
	}
	draft.CreatedAt = a.Clock.Now()
	inv, created, err := a.DB.CreateInvoice(ctx, draft)
	if err != nil {
		return IssuedInvoice{}, err
	}
	activity.GetLogger(ctx).Info("recurring invoice issued", "account_id", acct.ID, "invoice_id", inv.ID,
		"number", inv.Number, "period_start", start.Format(time.DateOnly), "total", inv.Total, "created", created)
	out.InvoiceID, out.Number, out.Status = inv.ID, inv.Number, inv.Status
	out.Total = billing.Money{Amount: inv.Total, Currency: inv.Currency}
	out.AmountDue, out.Created = inv.AmountDue(), created
	return out, nil
}

// InvoicePDFRequest names an invoice and the language to render it in.
type InvoicePDFRequest struct {
	AccountID string
	InvoiceID string
	Language  string
}

// RenderedInvoicePDF says which content was rendered; the file itself stays in the store,
// out of the workflow's history.
type RenderedInvoicePDF struct {
	ContentHash string
	Size        int
}

// RenderInvoicePDF renders the invoice's PDF and stores it under its content hash, so the PDF
// route serves it without rendering. Rendering is deterministic and the store keyed by
// content, so a retry stores nothing twice.
func (a *Invoices) RenderInvoicePDF(ctx context.Context, req InvoicePDFRequest) (RenderedInvoicePDF, error) {
	pdf, err := a.PDFs.Ensure(ctx, req.AccountID, req.InvoiceID, req.Language)
	if billing.KindOf(err) == billing.KindNotFound {
		return RenderedInvoicePDF{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invoice %s of %s does not exist", req.InvoiceID, req.AccountID), ErrTypeInvoiceNotFound, err)
	}
	if err != nil {
		return RenderedInvoicePDF{}, err
	}
	activity.GetLogger(ctx).Info("invoice pdf stored", "invoice_id", req.InvoiceID, "language", pdf.Language,
		"content_hash", pdf.ContentHash, "bytes", len(pdf.Content))
	return RenderedInvoicePDF{ContentHash: pdf.ContentHash, Size: len(pdf.Content)}, nil
}

// InvoiceNotice is the mail announcing an issued invoice.
type InvoiceNotice struct {
	InvoiceID string
	To        string
	// Language is the invoice's (the PDF's); the mail follows the account's mail language as
	// it is when sent.
	Language      string
	CompanyName   string
	InvoiceNumber string
	Total         billing.Money
}

// SendInvoiceIssuedMail tells the account's contact that an invoice was issued. A failure the
// mail server calls permanent is not retried. Mail is at-least-once.
func (a *Invoices) SendInvoiceIssuedMail(ctx context.Context, n InvoiceNotice) error {
	lang, err := mailLanguage(ctx, a.DB, n.Language, func(db *postgres.DB) (string, error) {
		return db.InvoiceMailLanguage(ctx, n.InvoiceID)
	})
	if err != nil {
		return err
	}
	msg := mail.InvoiceIssuedMail(lang, mail.InvoiceIssued{
		To:            n.To,
		CompanyName:   n.CompanyName,
		InvoiceNumber: n.InvoiceNumber,
		Total:         n.Total,
	})
	if err := a.Mail.Send(ctx, msg); err != nil {
		return mailError(fmt.Errorf("mail invoice %s issued: %w", n.InvoiceID, err))
	}
	activity.GetLogger(ctx).Info("invoice issued mailed", "invoice_id", n.InvoiceID)
	return nil
}

// mailError makes a permanently refused mail non-retryable.
func mailError(err error) error {
	if mail.Permanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeMailRejected, err)
	}
	return err
}

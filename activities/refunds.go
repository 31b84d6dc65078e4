package activities

import (
	"context"
	"errors"
	"log/slog"

	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/postgres"
)

// Refunds are the side effects of reps' refunds and credits. The processor's refund carries
// the idempotency key "<refund id>/refund", so however often the step is retried, or re-run
// after its answer was lost, the processor gives the money back once and answers the same
// refund.
type Refunds struct {
	DB     *postgres.DB
	Cards  gateway.CardProcessor
	PayPal gateway.PayPal
	Mail   mail.Sender
	Clock  billing.Clock
	Logger *slog.Logger
}

// ErrTypeRefundEnded: the refund already ended another way (failed), and cannot be booked.
const ErrTypeRefundEnded = "refund_ended"

// RefundAtProcessor asks the payment's processor to give the refund's amount back, and
// answers the processor's refund id. A refusal is final (its decline code, or
// processor_refused); anything else is retried. A refund already booked answers its id
// without asking again.
func (r *Refunds) RefundAtProcessor(ctx context.Context, refundID string) (processorRefundID string, err error) {
	rf, err := r.DB.RefundByID(ctx, refundID)
	if err != nil {
		return "", err
	}
	switch rf.Status {
	case billing.RefundSucceeded:
		return rf.ProcessorRefundID, nil
	case billing.RefundFailed:
		return "", temporal.NewNonRetryableApplicationError("refund "+refundID+" has already failed", ErrTypeRefundEnded, nil)
	}
	pay, err := r.DB.PaymentByID(ctx, rf.PaymentID)
	if err != nil {
		return "", err
	}
	if pay.CaptureID == "" {
		return "", temporal.NewNonRetryableApplicationError("payment "+pay.ID+" has no capture to refund",
			ErrTypeProcessorRefused, nil)
	}
	id, err := refundCapture(ctx, r.Cards, r.PayPal, pay.Method, pay.CaptureID, rf.Amount, rf.ID+"/refund")
	if err != nil {
		return "", processorError("refund "+rf.ID+" of payment "+pay.ID, err)
	}
	r.logger().InfoContext(ctx, "processor refunded", "refund_id", rf.ID, "payment_id", pay.ID, "processor_refund_id", id)
	return id, nil
}

// BookRefundInput is a refund the processor made.
type BookRefundInput struct {
	RefundID          string
	ProcessorRefundID string
}

// BookRefund books the refund once: ledger entry, Refund invoice, event (postgres.BookRefund).
func (r *Refunds) BookRefund(ctx context.Context, in BookRefundInput) error {
	_, err := r.DB.BookRefund(ctx, in.RefundID, in.ProcessorRefundID, r.Clock.Now())
	if errors.Is(err, postgres.ErrRefundFailed) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeRefundEnded, err)
	}
	return err
}

// FailRefundInput is a refund the processor refused.
type FailRefundInput struct {
	RefundID string
	Failure  billing.Failure
}

// FailRefund ends a refused refund; its amount may be refunded again.
func (r *Refunds) FailRefund(ctx context.Context, in FailRefundInput) error {
	_, err := r.DB.FailRefund(ctx, in.RefundID, in.Failure, r.Clock.Now())
	return err
}

// SendRefundMail tells the account's contact that the refund was made.
func (r *Refunds) SendRefundMail(ctx context.Context, refundID string) error {
	rf, err := r.DB.RefundByID(ctx, refundID)
	if err != nil {
		return err
	}
	pay, err := r.DB.PaymentByID(ctx, rf.PaymentID)
	if err != nil {
		return err
	}
	acct, bal, number, err := r.accountAndInvoice(ctx, rf.AccountID, rf.InvoiceID)
	if err != nil {
		return err
	}
	when := r.Clock.Now()
	if rf.CompletedAt != nil {
		when = *rf.CompletedAt
	}
	return r.send(ctx, mail.RefundIssuedMail(acct.MailLanguage, mail.RefundIssued{
		To: acct.ContactEmail, CompanyName: acct.CompanyName, PaymentID: pay.ID, RefundID: rf.ID, InvoiceNumber: number,
		Amount: rf.Amount, Method: pay.Method, Brand: pay.CardBrand, Last4: pay.CardLast4, When: when,
		NewBalance: billing.Money{Amount: bal, Currency: acct.Currency},
	}))
}

// IssueCredit books the credit once: its Credit invoice, ledger entry and event.
func (r *Refunds) IssueCredit(ctx context.Context, creditID string) error {
	_, err := r.DB.IssueCredit(ctx, creditID, r.Clock.Now())
	return err
}

// SendCreditMail tells the account's contact about the credit.
func (r *Refunds) SendCreditMail(ctx context.Context, creditID string) error {
	c, err := r.DB.CreditByID(ctx, creditID)
	if err != nil {
		return err
	}
	acct, bal, number, err := r.accountAndInvoice(ctx, c.AccountID, c.InvoiceID)
	if err != nil {
		return err
	}
	when := r.Clock.Now()
	if c.IssuedAt != nil {
		when = *c.IssuedAt
	}
	return r.send(ctx, mail.CreditIssuedMail(acct.MailLanguage, mail.CreditIssued{
		To: acct.ContactEmail, CompanyName: acct.CompanyName, InvoiceNumber: number, Amount: c.Amount, When: when,
		NewBalance: billing.Money{Amount: bal, Currency: acct.Currency},
	}))
}

func (r *Refunds) accountAndInvoice(ctx context.Context, accountID, invoiceID string) (billing.Account, int64, string, error) {
	acct, err := r.DB.Account(ctx, accountID)
	if err != nil {
		return billing.Account{}, 0, "", err
	}
	bal, err := r.DB.Balance(ctx, acct.ID)
	if err != nil {
		return billing.Account{}, 0, "", err
	}
	var number string
	if invoiceID != "" {
		inv, err := r.DB.Invoice(ctx, acct.ID, invoiceID)
		if err != nil {
			return billing.Account{}, 0, "", err
		}
		number = inv.Number
	}
	return acct, bal, number, nil
}

func (r *Refunds) send(ctx context.Context, msg mail.Message) error {
	if err := r.Mail.Send(ctx, msg); err != nil {
		return mailError(err)
	}
	return nil
}

func (r *Refunds) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// refundCapture gives amount of a capture back through the processor that took it. key makes
// a repeated call the same refund: the saga's compensation and a rep's refund each have their own.
func refundCapture(ctx context.Context, cards gateway.CardProcessor, pp gateway.PayPal, method billing.PaymentMethodKind,
	captureID string, amount billing.Money, key string) (string, error) {
	if method == billing.MethodPayPal {
		return pp.RefundCapture(ctx, captureID, amount, key)
	}
	return cards.Refund(ctx, captureID, amount, key)
}

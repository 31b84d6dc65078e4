package activities

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/postgres"
)

// ReceiptOutbox mails the payment receipts the books say are due: the booking that books a
// payment makes its receipt due in its transaction (BookPaymentMailingReceipt), so a receipt is
// mailed once however often the booking's answer is lost. It is no activity: the outbox
// dispatcher's stretches run it (Webhooks.MailReceipts), beside the webhook events.
type ReceiptOutbox struct {
	DB     *postgres.DB
	Mail   mail.Sender
	Clock  billing.Clock
	Logger *slog.Logger
	// PassFor bounds a pass's mailing; receiptPassFor when zero.
	PassFor time.Duration
}

// The outbox's passes (ReceiptOutbox.MailDue). A pass claims up to receiptBatch due receipts
// for receiptLease and mails them receiptSenders at a time for at most receiptPassFor (what
// is not sent by then, a slow mail server's, is due again after receiptRetry), then records
// the outcomes for at most settleFor: a pass fits in the dispatcher's heartbeat timeout and
// far inside its lease, so a receipt is mailed twice only if its mailer dies between the mail
// and the mark. One that fails for now is due again after receiptRetry, for up to
// receiptGiveUp after the payment.
const (
	receiptBatch   = 50
	receiptSenders = 8
	receiptLease   = 10 * time.Minute
	receiptPassFor = 5 * time.Second
	receiptRetry   = time.Minute
	receiptGiveUp  = 24 * time.Hour
	settleFor      = 5 * time.Second
)

// MailDue mails the receipts the books say are due (the booking made them due, in
// its transaction) and records what became of each. It answers how many it claimed: a full
// batch means more may be waiting.
func (o *ReceiptOutbox) MailDue(ctx context.Context) (int, error) {
	now := o.Clock.Now()
	lease := now.Add(receiptLease)
	due, err := o.DB.ClaimDueReceipts(ctx, now, receiptBatch, lease)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	var (
		mu  sync.Mutex
		out = postgres.ReceiptOutcomes{LeaseUntil: lease, RetryAt: now.Add(receiptRetry)}
		g   errgroup.Group
	)
	passFor := o.PassFor
	if passFor <= 0 {
		passFor = receiptPassFor
	}
	sendCtx, cancel := context.WithTimeout(ctx, passFor)
	defer cancel()
	g.SetLimit(receiptSenders)
	for _, f := range due {
		g.Go(func() error {
			err := sendCtx.Err() // the pass's time is up: the rest wait for the next
			if err == nil {
				err = o.Mail.Send(sendCtx, receiptMail(f, now))
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				out.Mailed = append(out.Mailed, f.Payment.ID)
			case sendCtx.Err() != nil: // cut short, not refused: never given up for it
				out.Retry = append(out.Retry, f.Payment.ID)
			case mail.Permanent(err) || f.Payment.CompletedAt != nil && now.Sub(*f.Payment.CompletedAt) > receiptGiveUp:
				o.logger().ErrorContext(ctx, "payment receipt given up", "payment_id", f.Payment.ID, "err", err)
				out.GivenUp = append(out.GivenUp, f.Payment.ID)
			default:
				o.logger().WarnContext(ctx, "payment receipt not sent; retrying", "payment_id", f.Payment.ID, "err", err, "retry_at", out.RetryAt)
				out.Retry = append(out.Retry, f.Payment.ID)
			}
			return nil
		})
	}
	_ = g.Wait() // every sender answers nil: its outcome is in out
	return len(due), o.settle(ctx, out)
}

// settle records a pass's outcomes, trying for up to settleFor even when ctx ends (the worker
// stops) or Postgres blinks: a mailed receipt left claimed is mailed again when its lease ends.
func (o *ReceiptOutbox) settle(ctx context.Context, out postgres.ReceiptOutcomes) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleFor)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		err := o.DB.SettleReceipts(ctx, out)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
			wait = min(2*wait, time.Second)
		}
	}
}

func (o *ReceiptOutbox) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// receiptMail is the payment's receipt; now stands in for a completion time the payment lacks.
func receiptMail(f postgres.PaymentMailFacts, now time.Time) mail.Message {
	pay, acct := f.Payment, f.Account
	when := now
	if pay.CompletedAt != nil {
		when = *pay.CompletedAt
	}
	return mail.PaymentReceipt(acct.MailLanguage, mail.PaymentReceiptData{
		To: acct.ContactEmail, CompanyName: acct.CompanyName, PaymentID: pay.ID, Amount: pay.Amount,
		Method: pay.Method, Brand: pay.CardBrand, Last4: pay.CardLast4, When: when,
		NewBalance: billing.Money{Amount: f.Balance, Currency: acct.Currency},
	})
}

package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/postgres"
)

// Payments are the side effects of the one-time payment saga. Every processor call carries an
// idempotency key derived from the payment id and the step (pay_x/authorize, pay_x/capture,
// ...), so a retried activity, or one re-run by a new worker after a crash, returns the first
// call's result instead of charging again.
type Payments struct {
	DB     *postgres.DB
	Cards  gateway.CardProcessor
	PayPal gateway.PayPal
	Mail   mail.Sender
	Clock  billing.Clock
	// PublicURL is where browsers reach the API: PayPal sends the buyer back under it.
	PublicURL string
	Logger    *slog.Logger
}

// Error types the payment activities fail with, besides the processors' decline codes. The
// workflow shows a non-retryable error's type as the payment's failure code.
const (
	// ErrTypeProcessingError: the processor failed in a way that may pass; retried.
	ErrTypeProcessingError = billing.CodeProcessingError
	// ErrTypeProcessorRefused: the processor refused the request itself; retrying cannot help.
	ErrTypeProcessorRefused = "processor_refused"
	// ErrTypeNotApplicable: the payment already ended another way and cannot be applied.
	ErrTypeNotApplicable = "payment_not_applicable"
	// ErrTypeMailRejected: the mail server refused the message for good.
	ErrTypeMailRejected = "mail_rejected"
)

// ChargeInput asks to authorize a one-time card payment.
type ChargeInput struct {
	PaymentID string
	CardToken string
	Amount    billing.Money
}

// AuthorizeCardPayment holds the amount on the card. A decline fails for good with the
// decline code as the error type; processing errors, timeouts and 5xx are retried.
func (p *Payments) AuthorizeCardPayment(ctx context.Context, in ChargeInput) (authorizationID string, err error) {
	id, err := p.Cards.Authorize(ctx, gateway.ChargeRequest{
		Token:          in.CardToken,
		Amount:         in.Amount,
		IdempotencyKey: in.PaymentID + "/authorize",
		Description:    "PayPortal payment " + in.PaymentID,
	})
	if err != nil {
		return "", processorError("authorize payment "+in.PaymentID, err)
	}
	return id, nil // recorded with the capture (CaptureCardPayment)
}

// CardAuthorization is an on-session card authorization: held, or with RedirectURL waiting
// for the cardholder's 3-D Secure there.
type CardAuthorization struct {
	AuthorizationID string
	RedirectURL     string `json:",omitempty"`
}

// CardAuthenticationReturnPath is where the processor sends the cardholder back after 3-D
// Secure, under PublicURL; the API's route of the same path passes the return on.
const CardAuthenticationReturnPath = "/v1/card-authentication/return"

// AuthorizeCardPaymentOnSession is AuthorizeCardPayment for a customer paying now: a card
// that wants 3-D Secure answers the challenge's URL, and the payment is recorded as
// requires_action with it, instead of declining.
func (p *Payments) AuthorizeCardPaymentOnSession(ctx context.Context, in ChargeInput) (CardAuthorization, error) {
	a, err := p.Cards.AuthorizeOnSession(ctx, gateway.ChargeRequest{
		Token:          in.CardToken,
		Amount:         in.Amount,
		IdempotencyKey: in.PaymentID + "/authorize",
		Description:    "PayPortal payment " + in.PaymentID,
	}, strings.TrimRight(p.PublicURL, "/")+CardAuthenticationReturnPath)
	if err != nil {
		return CardAuthorization{}, processorError("authorize payment "+in.PaymentID, err)
	}
	// A hold is recorded with its capture; one waiting for 3-D Secure now, since the
	// cardholder's return is matched by it.
	if a.RedirectURL != "" {
		if err := p.DB.MarkCardPaymentRequiresAction(ctx, in.PaymentID, a.ID, a.RedirectURL); err != nil {
			return CardAuthorization{}, err
		}
	}
	return CardAuthorization{AuthorizationID: a.ID, RedirectURL: a.RedirectURL}, nil
}

// CardAuthenticationRef names the authorization a payment waits on for 3-D Secure.
type CardAuthenticationRef struct {
	PaymentID       string
	AuthorizationID string
}

// ErrTypeAuthenticationPending: the cardholder came back, but the processor does not say the
// authentication is done; the payment keeps waiting.
const ErrTypeAuthenticationPending = "authentication_pending"

// CheckCardAuthentication asks the processor how the cardholder's 3-D Secure ended, once
// they came back: authenticated (the money is held; the payment shows processing again),
// still pending (ErrTypeAuthenticationPending), or failed (authentication_failed). The return
// link is public, so it is a hint to ask, never proof.
func (p *Payments) CheckCardAuthentication(ctx context.Context, in CardAuthenticationRef) error {
	c, err := p.Cards.LookupAuthorization(ctx, in.AuthorizationID)
	if err != nil {
		return processorError("look up the authorization of payment "+in.PaymentID, err)
	}
	switch c.Status {
	case gateway.ChargeAuthorized, gateway.ChargeCaptured:
		return p.DB.MarkPaymentProcessing(ctx, in.PaymentID)
	case gateway.ChargeRequiresAction:
		return temporal.NewNonRetryableApplicationError("The cardholder has not completed 3-D Secure yet.",
			ErrTypeAuthenticationPending, nil)
	}
	return temporal.NewNonRetryableApplicationError("The card's 3-D Secure authentication failed.",
		gateway.CodeAuthenticationFailed, nil)
}

// CardCaptureInput asks to capture an authorized card payment.
type CardCaptureInput struct {
	PaymentID       string
	AuthorizationID string
	Amount          billing.Money
	// RecordedByBooking: the booking (BookPayment) records the hold and the capture, so the
	// capture writes nothing itself.
	RecordedByBooking bool `json:",omitempty"`
}

// CaptureCardPayment moves the held money and records the hold and the capture on the
// payment, which is what a refund needs later, unless the booking records them
// (RecordedByBooking).
func (p *Payments) CaptureCardPayment(ctx context.Context, in CardCaptureInput) (captureID string, err error) {
	id, err := p.Cards.Capture(ctx, in.AuthorizationID, in.Amount, in.PaymentID+"/capture")
	if err != nil {
		return "", processorError("capture payment "+in.PaymentID, err)
	}
	if in.RecordedByBooking {
		return id, nil
	}
	if err := p.DB.RecordCardCapture(ctx, in.PaymentID, in.AuthorizationID, id); err != nil {
		return "", err
	}
	return id, nil
}

// VoidInput names an authorization that will not be captured.
type VoidInput struct {
	PaymentID       string
	AuthorizationID string
}

// VoidCardAuthorization releases the hold of a payment that will not be captured.
func (p *Payments) VoidCardAuthorization(ctx context.Context, in VoidInput) error {
	if err := p.Cards.Void(ctx, in.AuthorizationID, in.PaymentID+"/void"); err != nil {
		return processorError("void authorization of payment "+in.PaymentID, err)
	}
	return p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationHoldReleased, p.Clock.Now())
}

// OrderInput asks for a PayPal order.
type OrderInput struct {
	PaymentID string
	Amount    billing.Money
}

// CreatePayPalOrder creates the order the buyer approves on PayPal and records it on the
// payment, which then requires the buyer's action at the approval URL.
func (p *Payments) CreatePayPalOrder(ctx context.Context, in OrderInput) (gateway.Order, error) {
	base := strings.TrimRight(p.PublicURL, "/")
	order, err := p.PayPal.CreateOrder(ctx, gateway.OrderRequest{
		Amount:      in.Amount,
		RequestID:   in.PaymentID + "/order",
		ReturnURL:   base + "/v1/paypal/return",
		CancelURL:   base + "/v1/paypal/cancel",
		Description: "PayPortal payment " + in.PaymentID,
	})
	if err != nil {
		return gateway.Order{}, processorError("create paypal order for payment "+in.PaymentID, err)
	}
	if err := p.DB.MarkPaymentRequiresAction(ctx, in.PaymentID, order.ID, order.ApprovalURL); err != nil {
		return gateway.Order{}, err
	}
	return order, nil
}

// MarkPaymentProcessing shows an approved PayPal payment as processing while it is captured.
func (p *Payments) MarkPaymentProcessing(ctx context.Context, paymentID string) error {
	return p.DB.MarkPaymentProcessing(ctx, paymentID)
}

// ApprovalInput names the order a payment waits on again.
type ApprovalInput struct {
	PaymentID   string
	OrderID     string
	ApprovalURL string
}

// ReopenPayPalApproval shows the payment as waiting for the buyer again after a return that
// PayPal did not confirm as approved.
func (p *Payments) ReopenPayPalApproval(ctx context.Context, in ApprovalInput) error {
	return p.DB.MarkPaymentRequiresAction(ctx, in.PaymentID, in.OrderID, in.ApprovalURL)
}

// PayPalOrderRef names a payment's PayPal order.
type PayPalOrderRef struct {
	PaymentID string
	OrderID   string
}

// CapturePayPalOrder takes the money of an approved order and records the capture. An order
// the buyer has not approved declines order_not_approved.
func (p *Payments) CapturePayPalOrder(ctx context.Context, in PayPalOrderRef) (captureID string, err error) {
	id, err := p.PayPal.CaptureOrder(ctx, in.OrderID, in.PaymentID+"/capture")
	if err != nil {
		return "", processorError("capture paypal order of payment "+in.PaymentID, err)
	}
	if err := p.DB.RecordPaymentCapture(ctx, in.PaymentID, id); err != nil {
		return "", err
	}
	return id, nil
}

// VoidPayPalOrder abandons an order that will not be captured (cancelled or expired).
func (p *Payments) VoidPayPalOrder(ctx context.Context, in PayPalOrderRef) error {
	if err := p.PayPal.VoidOrder(ctx, in.OrderID); err != nil {
		return processorError("void paypal order of payment "+in.PaymentID, err)
	}
	return p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationHoldReleased, p.Clock.Now())
}

// ApplyResult is the account after a payment was applied.
type ApplyResult struct {
	BalanceAfter int64
	// CompletedAt is when the payment was booked: the first booking's time on a repeat.
	CompletedAt time.Time `json:",omitzero"`
}

// ApplyPayment books the captured payment: ledger entry, payment succeeded and open invoices
// paid, in one transaction. Running it again changes nothing.
func (p *Payments) ApplyPayment(ctx context.Context, paymentID string) (ApplyResult, error) {
	b, err := p.book(ctx, postgres.Booking{PaymentID: paymentID})
	return ApplyResult{BalanceAfter: b.BalanceAfter, CompletedAt: completedAt(b.Payment)}, err
}

// BookInput asks to book a captured payment, recording the card's hold and capture with it
// when given (an empty id keeps what the payment has).
type BookInput struct {
	PaymentID       string
	AuthorizationID string `json:",omitempty"`
	CaptureID       string `json:",omitempty"`
}

// BookPayment is ApplyPayment that records the card's hold and capture in the booking's
// transaction. The receipt is the caller's to mail.
func (p *Payments) BookPayment(ctx context.Context, in BookInput) (ApplyResult, error) {
	return p.bookAnswer(ctx, in, false)
}

// BookPaymentMailingReceipt is BookPayment that also makes the receipt due in the booking's
// transaction, for the outbox to mail (ReceiptOutbox): one receipt per payment, however often
// the booking's answer is lost, since only the booking that books the payment makes it due.
// A name of its own, not a flag: a worker that predates the outbox fails it as unregistered
// (the booking retries without limit, so a worker that knows it takes it) instead of booking
// and dropping the receipt.
func (p *Payments) BookPaymentMailingReceipt(ctx context.Context, in BookInput) (ApplyResult, error) {
	return p.bookAnswer(ctx, in, true)
}

func (p *Payments) bookAnswer(ctx context.Context, in BookInput, mailReceipt bool) (ApplyResult, error) {
	b, err := p.book(ctx, postgres.Booking{PaymentID: in.PaymentID, AuthorizationID: in.AuthorizationID, CaptureID: in.CaptureID,
		MailReceipt: mailReceipt})
	return ApplyResult{BalanceAfter: b.BalanceAfter, CompletedAt: completedAt(b.Payment)}, err
}

// book books a payment now; a payment that ended another way is refused for good.
func (p *Payments) book(ctx context.Context, b postgres.Booking) (postgres.Booked, error) {
	b.At = p.Clock.Now()
	booked, err := p.DB.BookPayment(ctx, b)
	if errors.Is(err, postgres.ErrPaymentNotApplicable) {
		return postgres.Booked{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNotApplicable, err)
	}
	return booked, err
}

func completedAt(p billing.Payment) time.Time {
	if p.CompletedAt == nil {
		return time.Time{}
	}
	return *p.CompletedAt
}

// RefundInput asks to give a captured payment back.
type RefundInput struct {
	PaymentID string
	Method    billing.PaymentMethodKind
	CaptureID string
	Amount    billing.Money
}

// RefundResult says what the refund did. AlreadyApplied means the payment turned out to be
// on the ledger after all (its apply committed but the answer was lost): nothing was
// refunded, and the payment stands.
type RefundResult struct {
	RefundID       string
	AlreadyApplied bool
}

// RefundPayment is the saga's compensation once money was captured but the payment could not
// be applied: it refunds the capture in full and records the refund on the payment. It reads
// the payment first and never refunds one that is on the ledger, so a lost answer from
// ApplyPayment cannot turn into money both kept and returned.
func (p *Payments) RefundPayment(ctx context.Context, in RefundInput) (RefundResult, error) {
	pay, err := p.DB.PaymentByID(ctx, in.PaymentID)
	if err != nil {
		return RefundResult{}, err
	}
	if pay.Status == billing.PaymentSucceeded {
		return RefundResult{AlreadyApplied: true}, nil
	}
	if pay.RefundID != "" {
		return RefundResult{RefundID: pay.RefundID}, nil
	}
	// A capture the booking was to record (versionBookWithCharge) is on the payment before
	// the money goes back, so the reconciler sees it should the refund never succeed.
	if pay.CaptureID == "" && in.CaptureID != "" {
		if err := p.DB.RecordPaymentCapture(ctx, in.PaymentID, in.CaptureID); err != nil {
			return RefundResult{}, err
		}
	}
	refundID, err := refundCapture(ctx, p.Cards, p.PayPal, in.Method, in.CaptureID, in.Amount, in.PaymentID+"/refund")
	if err != nil {
		err = processorError("refund payment "+in.PaymentID, err)
		if isFinal(err) {
			// The money stays taken: say so on the payment, where the reconciler and the
			// failure mail find it.
			if rerr := p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationRefundRefused, p.Clock.Now()); rerr != nil {
				return RefundResult{}, rerr
			}
		}
		return RefundResult{}, err
	}
	if err := p.DB.RecordPaymentRefund(ctx, in.PaymentID, refundID, p.Clock.Now()); err != nil {
		return RefundResult{}, err
	}
	p.logger().InfoContext(ctx, "payment refunded", "payment_id", in.PaymentID, "refund_id", refundID)
	return RefundResult{RefundID: refundID}, nil
}

// PaymentOutcome is how a payment that did not succeed ended.
type PaymentOutcome struct {
	PaymentID string
	Status    billing.PaymentStatus // failed, canceled or expired
	Failure   *billing.Failure
}

// FinishPayment records a payment's end; a payment already final is left alone.
func (p *Payments) FinishPayment(ctx context.Context, in PaymentOutcome) error {
	return p.DB.FinishPayment(ctx, in.PaymentID, in.Status, in.Failure, p.Clock.Now())
}

// SendPaymentReceipt mails the receipt of a succeeded payment to the account's contact.
func (p *Payments) SendPaymentReceipt(ctx context.Context, paymentID string) error {
	pay, acct, bal, err := p.DB.PaymentAccountBalance(ctx, paymentID) // one round trip, not three
	if err != nil {
		return err
	}
	return p.send(ctx, receiptMail(postgres.PaymentMailFacts{Payment: pay, Account: acct, Balance: bal}, p.Clock.Now()))
}

// SendPaymentFailedMail tells the account's contact that a payment failed and why.
func (p *Payments) SendPaymentFailedMail(ctx context.Context, paymentID string) error {
	pay, acct, err := p.paymentAndAccount(ctx, paymentID)
	if err != nil {
		return err
	}
	d := mail.PaymentFailed{To: acct.ContactEmail, CompanyName: acct.CompanyName, PaymentID: pay.ID,
		Amount: pay.Amount, Method: pay.Method, Brand: pay.CardBrand, Last4: pay.CardLast4}
	if pay.Failure != nil {
		d.FailureCode, d.FailureMessage = pay.Failure.Code, pay.Failure.Message
	} else if pay.Status == billing.PaymentCanceled {
		d.FailureCode = billing.CodePaymentCanceled // stopped by ops, not declined
	}
	d.Money, d.RefundID = p.moneyOutcome(ctx, pay), pay.RefundID
	return p.send(ctx, mail.PaymentFailedMail(acct.MailLanguage, d))
}

func (p *Payments) paymentAndAccount(ctx context.Context, paymentID string) (billing.Payment, billing.Account, error) {
	pay, err := p.DB.PaymentByID(ctx, paymentID)
	if err != nil {
		return billing.Payment{}, billing.Account{}, err
	}
	acct, err := p.DB.Account(ctx, pay.AccountID)
	if err != nil {
		return billing.Payment{}, billing.Account{}, err
	}
	return pay, acct, nil
}

func (p *Payments) send(ctx context.Context, msg mail.Message) error {
	if err := p.Mail.Send(ctx, msg); err != nil {
		return mailError(fmt.Errorf("send %q: %w", msg.Subject, err))
	}
	return nil
}

func (p *Payments) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// processorError turns a processor failure into what Temporal should do with it: a decline is
// final and carries its code as the error type; a transient failure is retried with the type
// processing_error, which the workflow shows if the retries run out; any other permanent
// failure is final too. Unexpected errors (the database, a bug) are retried as they are:
// every call is idempotent.
func processorError(what string, err error) error {
	if d, ok := gateway.AsDecline(err); ok {
		msg := d.Message
		if msg == "" {
			msg = "The payment was declined (" + d.Code + ")."
		}
		return temporal.NewNonRetryableApplicationError(msg, d.Code, fmt.Errorf("%s: %w", what, err))
	}
	if gateway.IsTransient(err) {
		return temporal.NewApplicationErrorWithCause("The payment processor had a temporary problem.",
			ErrTypeProcessingError, fmt.Errorf("%s: %w", what, err))
	}
	if gateway.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError("The payment processor refused the request.",
			ErrTypeProcessorRefused, fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/postgres"
)

// RecurringBilling is the side of monthly billing that is not the invoice itself: preparing
// each charge of the card on file, dunning mails and marking an account past due.
type RecurringBilling struct {
	DB    *postgres.DB
	Mail  mail.Sender
	Clock billing.Clock
}

// RecurringChargeRequest asks to charge what is due on a recurring invoice. PaymentID is
// derived from the invoice and the attempt by the workflow, so a retry or a re-run of the
// same attempt finds the payment it already made instead of making a second one.
type RecurringChargeRequest struct {
	AccountID  string
	InvoiceID  string
	PaymentID  string
	WorkflowID string // the payment saga's workflow ID, recorded on the payment
}

// RecurringChargeReason says what one look at a recurring invoice found, and so what the
// month's workflow does next. Only a paid invoice ends collection.
type RecurringChargeReason string

const (
	// ChargeInvoicePaid: the invoice is paid (or void): collection ends.
	ChargeInvoicePaid RecurringChargeReason = "invoice_paid"
	// ChargePaidByCredit: the account's credit paid what was left on the invoice, which is
	// now marked paid: collection ends.
	ChargePaidByCredit RecurringChargeReason = "paid_by_credit"
	// ChargeInFlight: what is due is covered by the account's payments in flight (a PayPal
	// checkout the customer opened, a charge still processing). Nothing is charged, since
	// that could take more than is owed: wait for them to end and look again.
	ChargeInFlight RecurringChargeReason = "in_flight"
	// ChargeNoCard: something is due and the account has no validated card: dunning.
	ChargeNoCard RecurringChargeReason = "no_card"
	// ChargeCard: Payment is the charge of the card on file: still processing when its saga
	// has to run, already final when an earlier run got that far. It may be for less than
	// AmountDue (capped at the balance owed minus payments in flight); once it succeeds the
	// invoice is looked at again and the rest collected.
	ChargeCard RecurringChargeReason = "charge"
)

// RecurringChargeOutcome says what to do for one attempt: Reason, and the facts the workflow
// and the dunning mail need.
type RecurringChargeOutcome struct {
	Reason RecurringChargeReason
	// NothingDue and NoCard are what workflows started before Reason existed read: NothingDue
	// is set only when the invoice is paid (ChargeInvoicePaid, ChargePaidByCredit), NoCard
	// with ChargeNoCard.
	NothingDue bool
	NoCard     bool
	AmountDue  billing.Money // what the invoice still asks for, for the dunning mail
	InFlight   billing.Money // the account's payments in flight, with ChargeInFlight
	Payment    RecurringPayment
}

// RecurringPayment is the payment of one attempt, as the workflow needs it. CardToken is the
// processor's token; the card number never exists here.
type RecurringPayment struct {
	ID        string
	Status    billing.PaymentStatus
	Amount    billing.Money
	CardToken string
	Brand     string
	Last4     string
	Failure   *billing.Failure
}

// PrepareRecurringCharge looks at what is still due on the invoice and, when the card on file
// can be charged for it, stores the payment of that charge (never for more than the balance
// owed minus the payments in flight). Credit on the account that covers the invoice is
// applied to it. It is idempotent on PaymentID: a payment stored by an earlier run of the
// attempt is the answer, whatever it became.
func (a *RecurringBilling) PrepareRecurringCharge(ctx context.Context, req RecurringChargeRequest) (RecurringChargeOutcome, error) {
	inv, err := a.DB.Invoice(ctx, req.AccountID, req.InvoiceID)
	if billing.KindOf(err) == billing.KindNotFound {
		return RecurringChargeOutcome{}, invoiceNotFound(req, err)
	}
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	out := RecurringChargeOutcome{AmountDue: billing.Money{Amount: inv.AmountDue(), Currency: inv.Currency}}

	// A payment made by an earlier run of this attempt is the answer, whatever it became.
	if p, err := a.DB.Payment(ctx, req.AccountID, req.PaymentID); err == nil {
		out.Reason, out.Payment = ChargeCard, recurringPayment(p)
		return out, nil
	} else if billing.KindOf(err) != billing.KindNotFound {
		return RecurringChargeOutcome{}, err
	}
	pm, err := a.DB.MonthlyPaymentMethod(ctx, req.AccountID)
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	var charge *billing.Payment
	if pm != nil && pm.Status == billing.PMValidated {
		address := pm.BillingAddress
		charge = &billing.Payment{
			ID:             req.PaymentID,
			AccountID:      req.AccountID,
			Status:         billing.PaymentProcessing,
			Method:         billing.MethodCard,
			CardToken:      pm.ProcessorToken,
			CardBrand:      pm.Brand,
			CardLast4:      pm.Last4,
			BillingAddress: &address,
			EUSupported:    pm.EUSupported,
			CreatedAt:      a.Clock.Now(),
			WorkflowID:     req.WorkflowID,
		}
	}
	c, err := a.DB.PrepareInvoiceCharge(ctx, req.AccountID, req.InvoiceID, charge)
	if billing.KindOf(err) == billing.KindNotFound {
		return RecurringChargeOutcome{}, invoiceNotFound(req, err)
	}
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	out.AmountDue, out.InFlight = c.AmountDue, c.InFlight
	log := activity.GetLogger(ctx)
	if c.Credit > 0 {
		log.Info("account credit applied to recurring invoice", "account_id", req.AccountID, "invoice_id", req.InvoiceID,
			"credit", c.Credit, "amount_due", c.AmountDue.Amount)
	}
	switch {
	case c.Outcome == postgres.InvoiceSettled:
		out.Reason, out.NothingDue = ChargeInvoicePaid, true
	case c.Outcome == postgres.InvoicePaidByCredit:
		out.Reason, out.NothingDue = ChargePaidByCredit, true
	case c.Outcome == postgres.InvoiceCoveredInFlight:
		out.Reason = ChargeInFlight
		log.Info("recurring charge waits for payments in flight", "account_id", req.AccountID, "invoice_id", req.InvoiceID,
			"amount_due", c.AmountDue.Amount, "in_flight", c.InFlight.Amount)
	case c.Outcome == postgres.InvoiceChargeable && charge == nil:
		out.Reason, out.NoCard = ChargeNoCard, true
	case c.Outcome == postgres.InvoiceChargeable:
		out.Reason, out.Payment = ChargeCard, recurringPayment(c.Payment)
		log.Info("recurring charge prepared", "account_id", req.AccountID, "invoice_id", req.InvoiceID,
			"payment_id", c.Payment.ID, "amount", c.Payment.Amount.Amount, "amount_due", c.AmountDue.Amount,
			"card_last4", c.Payment.CardLast4, "created", c.Created)
	default:
		return RecurringChargeOutcome{}, fmt.Errorf("prepare the charge of %s: unknown outcome %q", req.InvoiceID, c.Outcome)
	}
	return out, nil
}

func invoiceNotFound(req RecurringChargeRequest, err error) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("invoice %s of %s does not exist", req.InvoiceID, req.AccountID), ErrTypeInvoiceNotFound, err)
}

// RecurringPaymentStatus reads where a payment stands, for a run that finds the payment saga
// of its attempt already started by an earlier run.
func (a *RecurringBilling) RecurringPaymentStatus(ctx context.Context, req RecurringChargeRequest) (RecurringPayment, error) {
	p, err := a.DB.Payment(ctx, req.AccountID, req.PaymentID)
	if err != nil {
		return RecurringPayment{}, err
	}
	return recurringPayment(p), nil
}

// ErrTypeStillInFlight: what a polling activity waits for has not happened yet; its retry
// policy is the polling loop.
const ErrTypeStillInFlight = "still_in_flight"

// AwaitRecurringPayment answers the payment once it is final, and fails (to be retried) while
// it is not: the month waits on a saga an earlier run started.
func (a *RecurringBilling) AwaitRecurringPayment(ctx context.Context, req RecurringChargeRequest) (RecurringPayment, error) {
	p, err := a.RecurringPaymentStatus(ctx, req)
	if err != nil {
		return RecurringPayment{}, err
	}
	if !p.Status.Final() {
		return RecurringPayment{}, temporal.NewApplicationError("payment "+p.ID+" is still "+string(p.Status), ErrTypeStillInFlight)
	}
	return p, nil
}

// AwaitPaymentsSettled returns once the account has no payment in flight, and fails (to be
// retried) while it has: the month waits for a checkout or a charge before charging again.
func (a *RecurringBilling) AwaitPaymentsSettled(ctx context.Context, req RecurringChargeRequest) error {
	n, err := a.DB.PaymentsInFlight(ctx, req.AccountID)
	if err != nil {
		return err
	}
	if n > 0 {
		return temporal.NewApplicationError(fmt.Sprintf("%d payments of %s still in flight", n, req.AccountID), ErrTypeStillInFlight)
	}
	return nil
}

func recurringPayment(p billing.Payment) RecurringPayment {
	return RecurringPayment{ID: p.ID, Status: p.Status, Amount: p.Amount, CardToken: p.CardToken,
		Brand: p.CardBrand, Last4: p.CardLast4, Failure: p.Failure}
}

// DunningNotice is one dunning mail: an attempt to collect a recurring invoice failed.
type DunningNotice struct {
	AccountID       string
	InvoiceID       string
	InvoiceNumber   string
	AmountDue       billing.Money
	Attempt         int
	MaxAttempts     int
	NextAttempt     *time.Time // nil once no retry is left
	PastDue         bool
	NoPaymentMethod bool
	Brand, Last4    string
	Failure         *billing.Failure
}

// SendDunningMail tells the account's contact that a recurring charge failed, when the next
// attempt is, or that the account is now past due. Mail is at-least-once.
func (a *RecurringBilling) SendDunningMail(ctx context.Context, n DunningNotice) error {
	acct, err := a.DB.Account(ctx, n.AccountID)
	if err != nil {
		return err
	}
	d := mail.Dunning{
		To:              acct.ContactEmail,
		CompanyName:     acct.CompanyName,
		InvoiceNumber:   n.InvoiceNumber,
		AmountDue:       n.AmountDue,
		Attempt:         n.Attempt,
		MaxAttempts:     n.MaxAttempts,
		NextAttempt:     n.NextAttempt,
		PastDue:         n.PastDue,
		NoPaymentMethod: n.NoPaymentMethod,
		Brand:           n.Brand,
		Last4:           n.Last4,
	}
	if n.Failure != nil {
		d.FailureCode, d.FailureMessage = n.Failure.Code, n.Failure.Message
	}
	if err := a.Mail.Send(ctx, mail.DunningMail(acct.MailLanguage, d)); err != nil {
		return mailError(fmt.Errorf("mail dunning %d for invoice %s: %w", n.Attempt, n.InvoiceID, err))
	}
	activity.GetLogger(ctx).Info("dunning mailed", "account_id", n.AccountID, "invoice_id", n.InvoiceID,
		"attempt", n.Attempt, "past_due", n.PastDue)
	return nil
}

// MarkAccountPastDue records that dunning ran out of retries on the account.
func (a *RecurringBilling) MarkAccountPastDue(ctx context.Context, accountID string) error {
	if err := a.DB.SetAccountStatus(ctx, accountID, billing.AccountPastDue); err != nil {
		return err
	}
	activity.GetLogger(ctx).Warn("account past due", "account_id", accountID)
	return nil
}

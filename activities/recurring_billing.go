package activities

import (
	"context"
	"errors"
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

// RecurringChargeOutcome says what to do for one attempt. With NothingDue the invoice needs
// no charge (paid meanwhile, or covered by the account's credit); with NoCard the account has
// no validated card. Otherwise Payment is the stored payment: still processing when the saga
// has to run, already final when an earlier run got that far.
type RecurringChargeOutcome struct {
	NothingDue bool
	NoCard     bool
	AmountDue  billing.Money // what the invoice still asks for, for the dunning mail
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

// PrepareRecurringCharge stores the payment of one charge attempt on the account's validated
// monthly card, for what is still due on the invoice (never more than the balance owed). It
// is idempotent on PaymentID.
func (a *RecurringBilling) PrepareRecurringCharge(ctx context.Context, req RecurringChargeRequest) (RecurringChargeOutcome, error) {
	inv, err := a.DB.Invoice(ctx, req.AccountID, req.InvoiceID)
	if billing.KindOf(err) == billing.KindNotFound {
		return RecurringChargeOutcome{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("invoice %s of %s does not exist", req.InvoiceID, req.AccountID), ErrTypeInvoiceNotFound, err)
	}
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	out := RecurringChargeOutcome{AmountDue: billing.Money{Amount: inv.AmountDue(), Currency: inv.Currency}}

	// A payment made by an earlier run of this attempt is the answer, whatever it became.
	if p, err := a.DB.Payment(ctx, req.AccountID, req.PaymentID); err == nil {
		out.Payment = recurringPayment(p)
		return out, nil
	} else if billing.KindOf(err) != billing.KindNotFound {
		return RecurringChargeOutcome{}, err
	}
	if out.AmountDue.Amount <= 0 {
		out.NothingDue = true
		return out, nil
	}
	pm, err := a.DB.MonthlyPaymentMethod(ctx, req.AccountID)
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	if pm == nil || pm.Status != billing.PMValidated {
		out.NoCard = true
		return out, nil
	}
	address := pm.BillingAddress
	p, created, err := a.DB.CreateInvoicePayment(ctx, billing.Payment{
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
	}, req.InvoiceID)
	if errors.Is(err, postgres.ErrNothingDue) {
		out.NothingDue = true
		return out, nil
	}
	if err != nil {
		return RecurringChargeOutcome{}, err
	}
	activity.GetLogger(ctx).Info("recurring charge prepared", "account_id", req.AccountID, "invoice_id", req.InvoiceID,
		"payment_id", p.ID, "amount", p.Amount.Amount, "card_last4", p.CardLast4, "created", created)
	out.Payment = recurringPayment(p)
	return out, nil
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
	if err := a.Mail.Send(ctx, mail.DunningMail(acct.Language, d)); err != nil {
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

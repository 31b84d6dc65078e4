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

// Error types the card-validation activities fail with when retrying cannot help; the
// workflow sees them as the ApplicationError's type. Mails share ErrTypeMailRejected with
// the payment activities.
const (
	ErrTypeCardAlreadyDecided = "card_already_decided"
	ErrTypeCardNotFound       = "card_not_found"
)

// CardValidation records the outcome of a card's validation and tells its contact. It never
// sees a card number: the card was tokenized before its workflow started.
type CardValidation struct {
	DB    *postgres.DB
	Mail  mail.Sender
	Clock billing.Clock
}

// CardDecision is the final status the workflow gives a pending card.
type CardDecision struct {
	PaymentMethodID string
	Status          billing.PaymentMethodStatus // validated, rejected or expired
	Reason          string
	DecidedBy       string // the rep's key id; empty when the deadline passed
}

// RecordedCardDecision is the card as recorded.
type RecordedCardDecision struct {
	Status    billing.PaymentMethodStatus
	DecidedAt time.Time
}

// RecordCardDecision marks a pending card validated (making it the account's monthly
// payment method), rejected or expired. It is idempotent: a retry after a lost answer finds
// the card already in the asked status and reports it. A card that ended otherwise is a
// non-retryable card_already_decided error, since no retry can change it.
func (a *CardValidation) RecordCardDecision(ctx context.Context, d CardDecision) (RecordedCardDecision, error) {
	pm, changed, err := a.DB.DecidePaymentMethod(ctx, postgres.CardDecision{
		PaymentMethodID: d.PaymentMethodID,
		Status:          d.Status,
		Reason:          d.Reason,
		DecidedBy:       d.DecidedBy,
		At:              a.Clock.Now(),
	})
	if billing.KindOf(err) == billing.KindNotFound {
		return RecordedCardDecision{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("payment method %s does not exist", d.PaymentMethodID), ErrTypeCardNotFound, err)
	}
	if err != nil {
		return RecordedCardDecision{}, err
	}
	if !changed && pm.Status != d.Status {
		return RecordedCardDecision{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("payment method %s is already %s, cannot mark it %s", pm.ID, pm.Status, d.Status),
			ErrTypeCardAlreadyDecided, nil)
	}
	activity.GetLogger(ctx).Info("card decision recorded", "payment_method_id", pm.ID,
		"account_id", pm.AccountID, "status", pm.Status, "replayed", !changed)
	rec := RecordedCardDecision{Status: pm.Status}
	if pm.DecidedAt != nil {
		rec.DecidedAt = *pm.DecidedAt
	}
	return rec, nil
}

// CardStatusNotice is one status-change mail about a card: who gets it and the public facts
// of the card.
type CardStatusNotice struct {
	PaymentMethodID string
	To              string
	// Language is the account's mail language when the workflow started; the mail follows
	// the account's as it is when sent (see mailLanguage).
	Language    string
	CompanyName string
	Brand       string
	Last4       string
	Status      billing.PaymentMethodStatus
	Reason      string
	Deadline    time.Time
}

// SendCardStatusMail mails the card's contact that its status changed, in the account's
// mail language. A failure the mail server calls permanent (bad address, 5xx) is not retried;
// anything else is, by the workflow's retry policy. A retry after a lost answer may send the
// mail twice: mail is at-least-once.
func (a *CardValidation) SendCardStatusMail(ctx context.Context, n CardStatusNotice) error {
	lang, err := mailLanguage(ctx, a.DB, n.Language, func(db *postgres.DB) (string, error) {
		return db.CardMailLanguage(ctx, n.PaymentMethodID)
	})
	if err != nil {
		return err
	}
	msg := mail.CardStatusMail(lang, mail.CardStatus{
		To:          n.To,
		CompanyName: n.CompanyName,
		Brand:       n.Brand,
		Last4:       n.Last4,
		Status:      n.Status,
		Reason:      n.Reason,
		Deadline:    n.Deadline,
	})
	if err := a.Mail.Send(ctx, msg); err != nil {
		return mailError(fmt.Errorf("mail %s status of %s: %w", n.Status, n.PaymentMethodID, err))
	}
	activity.GetLogger(ctx).Info("card status mailed", "payment_method_id", n.PaymentMethodID, "status", n.Status, "language", lang)
	return nil
}

// mailLanguage is the account's mail language as it is now, read through lookup, so that a
// customer's change reaches the mails of workflows started before it. started is the
// language the workflow was given: used when the account's record is gone, or when the
// activity runs without the books (workflow unit tests).
func mailLanguage(ctx context.Context, db *postgres.DB, started string, lookup func(*postgres.DB) (string, error)) (string, error) {
	if db == nil {
		return started, nil
	}
	lang, err := lookup(db)
	if billing.KindOf(err) == billing.KindNotFound {
		return started, nil
	}
	if err != nil {
		return "", fmt.Errorf("mail language: %w", err)
	}
	return lang, nil
}

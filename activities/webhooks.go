package activities

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/webhooks"
)

// Webhooks posts events to the endpoints that asked for them.
type Webhooks struct {
	DB     *postgres.DB
	Sender *webhooks.Sender
	// Keys open the endpoints' sealed signing secrets (the payload key ring).
	Keys codec.KeyRing
	// Body is the event's JSON as the API shows it (the api package builds it).
	Body  func(billing.Event) ([]byte, error)
	Mail  mail.Sender
	Clock billing.Clock
	// Dispatch starts the delivery workflows of the outbox's undispatched events and says how
	// many events it handed on (portal.Webhooks.Dispatch).
	Dispatch func(ctx context.Context) (int, error)
	// MailReceipts mails the payment receipts due and says how many it claimed
	// (ReceiptOutbox.MailDue); nil on a worker that mails none.
	MailReceipts func(ctx context.Context) (int, error)
}

// DispatchStretch is how long one DispatchEvents activity dispatches, and DispatchInterval how
// often it looks at the outbox meanwhile.
const (
	DispatchStretch  = time.Minute
	DispatchInterval = 500 * time.Millisecond
)

// DispatchEvents dispatches the outbox every DispatchInterval for DispatchStretch: the events
// to their webhook deliveries, and the payment receipts due to the mail (a full batch of
// either is followed by the next at once), heartbeating. It ends early, successfully, when
// this worker stops: the workflow's next stretch goes to whichever worker polls, and a
// stopping worker is no error to log.
func (w *Webhooks) DispatchEvents(ctx context.Context) error {
	if w.Dispatch == nil {
		return errors.New("webhook dispatch is not wired on this worker")
	}
	end := time.Now().Add(DispatchStretch)
	for time.Now().Before(end) {
		n, err := w.Dispatch(ctx)
		activity.RecordHeartbeat(ctx, n)
		if err != nil && ctx.Err() == nil {
			activity.GetLogger(ctx).Warn("dispatch webhook events", "err", err)
		}
		more := n == maxDispatchBatch && err == nil
		if w.MailReceipts != nil && !stopping(ctx) {
			n, err := w.MailReceipts(ctx)
			activity.RecordHeartbeat(ctx, n)
			if err != nil && ctx.Err() == nil {
				activity.GetLogger(ctx).Warn("mail payment receipts", "err", err)
			}
			more = more || n == receiptBatch && err == nil
		}
		if more && !stopping(ctx) {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-activity.GetWorkerStopChannel(ctx):
			return nil
		case <-time.After(DispatchInterval):
		}
	}
	return nil
}

// stopping reports whether this worker is stopping: a pass begun now might not get to record
// what it did.
func stopping(ctx context.Context) bool {
	select {
	case <-activity.GetWorkerStopChannel(ctx):
		return true
	default:
		return false
	}
}

// maxDispatchBatch is the most events one Dispatch hands on (portal.Webhooks.Dispatch).
const maxDispatchBatch = 100

// WebhookDelivery names one event for one endpoint.
type WebhookDelivery struct {
	EventID    string
	EndpointID string
}

// ErrTypeWebhookNotDelivered is the failure of an attempt the receiver did not accept: the
// retry policy tries again.
const ErrTypeWebhookNotDelivered = "WebhookNotDelivered"

// DeliverWebhook makes one attempt and records it on the event. An endpoint deleted or
// disabled since, or an event gone, is nothing to do. Any answer but a 2xx is an error, so
// the activity's retry policy is the backoff; the attempt is recorded first, so what the
// owner sees on the event is every attempt made.
func (a *Webhooks) DeliverWebhook(ctx context.Context, d WebhookDelivery) error {
	e, err := a.DB.EventByID(ctx, d.EventID)
	if postgres.IsNoEvent(err) {
		return nil
	}
	if err != nil {
		return err
	}
	w, sealed, err := a.DB.LiveWebhookEndpoint(ctx, d.EndpointID)
	if errors.Is(err, postgres.ErrNoWebhookEndpoint) {
		return nil
	}
	if err != nil {
		return err
	}
	if w.AccountID != e.AccountID {
		return temporal.NewNonRetryableApplicationError("endpoint of another account", "WebhookWrongAccount", nil)
	}
	secret, err := a.Keys.Open(sealed)
	if err != nil {
		return fmt.Errorf("open the secret of %s: %w", w.ID, err)
	}
	body, err := a.Body(e)
	if err != nil {
		return err
	}
	now := a.Clock.Now()
	attempt := a.Sender.Post(ctx, w.URL, e.ID, string(secret), body, now)
	if err := a.DB.RecordDelivery(ctx, e.ID, billing.EventDelivery{EndpointID: w.ID, AttemptedAt: now,
		StatusCode: attempt.StatusCode, Duration: attempt.Duration}); err != nil {
		return err
	}
	if attempt.Err != nil {
		cause := attempt.Err
		var ue *url.Error
		if errors.As(cause, &ue) {
			cause = ue.Err // without the URL, which may carry the receiver's own token
		}
		return temporal.NewApplicationError(fmt.Sprintf("%s not delivered to %s: %v", e.ID, w.ID, cause), ErrTypeWebhookNotDelivered)
	}
	return nil
}

// DisableWebhookEndpoint stops deliveries to an endpoint that failed for the whole retry
// window, and mails the account: the mail first, so a retry after a failed send mails again
// rather than never.
func (a *Webhooks) DisableWebhookEndpoint(ctx context.Context, d WebhookDelivery) error {
	w, _, err := a.DB.LiveWebhookEndpoint(ctx, d.EndpointID)
	if errors.Is(err, postgres.ErrNoWebhookEndpoint) {
		return nil // deleted, or disabled by another event's delivery
	}
	if err != nil {
		return err
	}
	acct, err := a.DB.Account(ctx, w.AccountID)
	if err != nil {
		return err
	}
	err = a.Mail.Send(ctx, mail.WebhookDisabledMail(acct.MailLanguage, mail.WebhookDisabled{To: acct.ContactEmail,
		CompanyName: acct.CompanyName, EndpointID: w.ID, URL: w.URL}))
	if err != nil && !mail.Permanent(err) {
		return err
	}
	_, _, err = a.DB.DisableWebhookEndpoint(ctx, w.ID, a.Clock.Now())
	return err
}

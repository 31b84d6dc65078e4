package app

import (
	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/webhooks"
)

// webhookPolicy allows loopback and plain http in development only.
func (a *App) webhookPolicy() webhooks.Policy {
	return webhooks.Policy{AllowLoopback: a.Config.Development()}
}

// webhookKeys seal the signing secrets: the payload key ring (zero when unset outside
// development, which Open refuses; sealing then fails).
func (a *App) webhookKeys() codec.KeyRing {
	if a.Codec == nil {
		return codec.KeyRing{}
	}
	return a.Codec.Keys()
}

// WebhookService is the accounts' endpoints and events, and the outbox's dispatcher.
func (a *App) WebhookService() *portal.Webhooks {
	first, maxInterval, giveUp := a.Config.WebhookRetries()
	return &portal.Webhooks{DB: a.DB, Temporal: a.Temporal, TaskQueue: a.Config.TaskQueue, Clock: a.Clock,
		Logger: a.Log, Keys: a.webhookKeys(), Policy: a.webhookPolicy(),
		RetryFirst: first, RetryMax: maxInterval, GiveUpAfter: giveUp,
		RequestHashKey: []byte(a.Config.IdempotencySecret)}
}

func (a *App) webhookActivities() *activities.Webhooks {
	return &activities.Webhooks{DB: a.DB, Sender: webhooks.NewSender(a.webhookPolicy()), Keys: a.webhookKeys(),
		Body: api.EventBody, Mail: a.Mail, Clock: a.Clock, Dispatch: a.WebhookService().Dispatch,
		MailReceipts: a.receiptOutbox().MailDue}
}

// receiptOutbox mails the payment receipts the books say are due.
func (a *App) receiptOutbox() *activities.ReceiptOutbox {
	return &activities.ReceiptOutbox{DB: a.DB, Mail: a.Mail, Clock: a.Clock, Logger: a.Log}
}

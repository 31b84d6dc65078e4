package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/webhooks"
	"github.com/payportal/payportal/workflows"
)

// Webhooks are an account's webhook endpoints and events, and the dispatcher that hands the
// outbox's events to their delivery workflows.
type Webhooks struct {
	DB        *postgres.DB
	Temporal  client.Client
	TaskQueue string
	Clock     billing.Clock
	Logger    *slog.Logger
	// Keys seal the signing secrets at rest (the payload key ring).
	Keys   codec.KeyRing
	Policy webhooks.Policy
	// Retries are the delivery workflows' retry settings (config.WebhookRetries).
	RetryFirst, RetryMax, GiveUpAfter time.Duration
	// RequestHashKey keys the ids derived from Idempotency-Keys (PAYPORTAL_IDEMPOTENCY_SECRET).
	RequestHashKey []byte
}

// NewWebhookEndpoint is a request to add an endpoint.
type NewWebhookEndpoint struct {
	URL         string
	Events      []billing.EventType
	Description string
}

const maxDescriptionLen = 500

// CreateEndpoint adds an endpoint with a new signing secret, answered in clear this once
// (and to a replay of the same request). A replay under the same Idempotency-Key finds the
// endpoint by the id the key derives (replayed=true); another request with it is a 409.
func (s *Webhooks) CreateEndpoint(ctx context.Context, accountID string, in NewWebhookEndpoint, key string) (_ billing.WebhookEndpoint, replayed bool, err error) {
	if err := s.checkEndpoint(in); err != nil {
		return billing.WebhookEndpoint{}, false, err
	}
	w := billing.WebhookEndpoint{ID: billing.NewID(billing.PrefixWebhook), AccountID: accountID, URL: in.URL,
		Events: in.Events, Description: in.Description, Secret: newSecret(), CreatedAt: s.Clock.Now().UTC()}
	if key != "" {
		w.ID = s.keyedID(billing.PrefixWebhook, accountID, key)
	}
	sealed, err := s.Keys.Seal([]byte(w.Secret))
	if err != nil {
		return billing.WebhookEndpoint{}, false, err
	}
	created, err := s.DB.CreateWebhookEndpoint(ctx, w, sealed)
	if err != nil || created {
		return w, false, err
	}
	stored, sealed, err := s.DB.WebhookEndpointByID(ctx, w.ID)
	if err != nil {
		return billing.WebhookEndpoint{}, false, err
	}
	if stored.AccountID != accountID || stored.URL != w.URL || stored.Description != w.Description || !slices.Equal(stored.Events, w.Events) {
		return billing.WebhookEndpoint{}, false, postgres.IdempotencyKeyReused()
	}
	secret, err := s.Keys.Open(sealed)
	if err != nil {
		return billing.WebhookEndpoint{}, false, err
	}
	stored.Secret = string(secret)
	return stored, true, nil
}

func (s *Webhooks) checkEndpoint(in NewWebhookEndpoint) error {
	if in.URL == "" {
		return billing.Invalid(billing.CodeMissingField, "url", "url is required")
	}
	if len(in.URL) > 2048 {
		return billing.Invalid(billing.CodeInvalidValue, "url", "url is longer than 2048 characters")
	}
	if err := s.Policy.CheckURL(in.URL); err != nil {
		return billing.Invalid(billing.CodeInvalidValue, "url", "%s", err.Error())
	}
	if len(in.Events) == 0 {
		return billing.Invalid(billing.CodeMissingField, "events", "events must name at least one event type")
	}
	for _, t := range in.Events {
		if !t.Valid() {
			return billing.Invalid(billing.CodeInvalidValue, "events", "%q is not an event type", t)
		}
	}
	if len(in.Description) > maxDescriptionLen {
		return billing.Invalid(billing.CodeInvalidValue, "description", "description is longer than %d characters", maxDescriptionLen)
	}
	return nil
}

// keyedID is the id an Idempotency-Key derives, in the scope of the account: the same key
// names the same object, a keyed HMAC so ids tell nothing of keys.
func (s *Webhooks) keyedID(prefix, accountID, key string) string {
	h := hmac.New(sha256.New, s.RequestHashKey)
	h.Write([]byte(prefix + "\x00" + accountID + "\x00" + key))
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:10]))
}

// newSecret is a signing secret: whsec_ and 32 random bytes in hex.
func newSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return "whsec_" + hex.EncodeToString(b[:])
}

// Endpoints lists the account's endpoints, newest first.
func (s *Webhooks) Endpoints(ctx context.Context, accountID string, p billing.ListParams) ([]billing.WebhookEndpoint, bool, error) {
	return s.DB.WebhookEndpoints(ctx, accountID, p)
}

// DeleteEndpoint stops deliveries to an endpoint of the account.
func (s *Webhooks) DeleteEndpoint(ctx context.Context, accountID, id string) error {
	if !billing.HasPrefix(id, billing.PrefixWebhook) {
		return billing.NotFound("webhook endpoint")
	}
	return s.DB.DeleteWebhookEndpoint(ctx, accountID, id, s.Clock.Now())
}

// Events lists the account's events, newest first, of one type when typ is set.
func (s *Webhooks) Events(ctx context.Context, accountID string, typ billing.EventType, p billing.ListParams) ([]billing.Event, bool, error) {
	if typ != "" && !typ.Valid() {
		return nil, false, billing.Invalid(billing.CodeInvalidValue, "type", "%q is not an event type", typ)
	}
	return s.DB.AccountEvents(ctx, accountID, typ, p)
}

// Event is one event of the account with its delivery attempts.
func (s *Webhooks) Event(ctx context.Context, accountID, id string) (billing.Event, error) {
	if !billing.HasPrefix(id, billing.PrefixEvent) {
		return billing.Event{}, billing.NotFound("event")
	}
	return s.DB.Event(ctx, accountID, id)
}

// Redeliver sends the event again to every live endpoint of the account subscribed to its
// type, each by a delivery workflow of its own. The same Idempotency-Key names the same
// workflows, so a retried request sends once.
func (s *Webhooks) Redeliver(ctx context.Context, accountID, id, key string) (billing.Event, error) {
	e, err := s.Event(ctx, accountID, id)
	if err != nil {
		return billing.Event{}, err
	}
	endpoints, err := s.DB.LiveWebhookEndpointsFor(ctx, accountID, e.Type)
	if err != nil {
		return billing.Event{}, err
	}
	suffix := "-redeliver-"
	if key != "" {
		suffix += strings.TrimPrefix(s.keyedID("r_", accountID, key), "r_")
	} else {
		suffix += strings.TrimPrefix(billing.NewID("r_"), "r_")
	}
	for _, we := range endpoints {
		if err := s.start(ctx, workflows.WebhookDeliveryWorkflowID(e.ID, we)+suffix, e.ID, we); err != nil {
			return billing.Event{}, unavailable(err)
		}
	}
	return e, nil
}

func (s *Webhooks) start(ctx context.Context, workflowID, eventID, endpointID string) error {
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                                       workflowID,
		TaskQueue:                                s.TaskQueue,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.TypeWebhookDelivery, workflows.WebhookDeliveryInput{EventID: eventID, EndpointID: endpointID,
		RetryFirst: s.RetryFirst, RetryMax: s.RetryMax, GiveUpAfter: s.GiveUpAfter})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return fmt.Errorf("start %s: %w", workflowID, err)
	}
	return nil
}

// Dispatch starts the delivery workflows of the events not yet dispatched, oldest first,
// and marks the events whose workflows all started, in one statement at the end of the pass.
// A start is idempotent (one workflow id per event and endpoint), so dying between the starts
// and the mark only starts nothing twice. It answers how many events it dispatched.
func (s *Webhooks) Dispatch(ctx context.Context) (int, error) {
	pending, err := s.DB.UndispatchedEvents(ctx, 100)
	if err != nil {
		return 0, err
	}
	done := make([]string, 0, len(pending))
	for _, e := range pending {
		if err = s.startAll(ctx, e); err != nil {
			break // the events before it are dispatched all the same
		}
		done = append(done, e.EventID)
	}
	if markErr := s.DB.MarkEventsDispatched(ctx, done, s.Clock.Now()); markErr != nil {
		return 0, errors.Join(markErr, err)
	}
	return len(done), err
}

// startAll starts the delivery workflow of each of the event's endpoints.
func (s *Webhooks) startAll(ctx context.Context, e postgres.UndispatchedEvent) error {
	for _, we := range e.Endpoints {
		if err := s.start(ctx, workflows.WebhookDeliveryWorkflowID(e.EventID, we), e.EventID, we); err != nil {
			return err
		}
	}
	return nil
}

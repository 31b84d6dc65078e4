package billing

import (
	"encoding/json"
	"strings"
	"time"
)

// EventType names a change a portal caller can be told of.
type EventType string

// The event types, one per state change the books record.
const (
	EventPaymentSucceeded    EventType = "payment.succeeded"
	EventPaymentFailed       EventType = "payment.failed"
	EventPaymentCanceled     EventType = "payment.canceled"
	EventPaymentExpired      EventType = "payment.expired"
	EventPaymentRefunded     EventType = "payment.refunded"
	EventPMPendingValidation EventType = "payment_method.pending_validation"
	EventPMValidated         EventType = "payment_method.validated"
	EventPMRejected          EventType = "payment_method.rejected"
	EventPMExpired           EventType = "payment_method.expired"
	EventInvoiceIssued       EventType = "invoice.issued"
	EventInvoicePaid         EventType = "invoice.paid"
	EventInvoicePastDue      EventType = "invoice.past_due"
	EventCreditIssued        EventType = "credit.issued"
)

// EventTypes is every event type, in the contract's order.
var EventTypes = []EventType{
	EventPaymentSucceeded, EventPaymentFailed, EventPaymentCanceled, EventPaymentExpired, EventPaymentRefunded,
	EventPMPendingValidation, EventPMValidated, EventPMRejected, EventPMExpired,
	EventInvoiceIssued, EventInvoicePaid, EventInvoicePastDue, EventCreditIssued,
}

// Valid reports whether t is one of EventTypes.
func (t EventType) Valid() bool {
	for _, k := range EventTypes {
		if k == t {
			return true
		}
	}
	return false
}

// ObjectKind is what the event's object is: "payment", "payment_method", "invoice" or "credit".
func (t EventType) ObjectKind() string {
	kind, _, _ := strings.Cut(string(t), ".")
	return kind
}

// Event is one recorded change. Object is a snapshot of the object as it was when the
// change was written: the JSON of a Payment, PaymentMethod or Invoice (per ObjectKind).
type Event struct {
	ID         string
	AccountID  string
	Type       EventType
	ObjectID   string
	Object     json.RawMessage
	CreatedAt  time.Time
	Deliveries []EventDelivery
}

// EventDelivery is one attempt to deliver an event to an endpoint. StatusCode is 0 when no
// answer came (refused address, timeout, connection error).
type EventDelivery struct {
	EndpointID  string
	AttemptedAt time.Time
	StatusCode  int
	Duration    time.Duration
}

// WebhookEndpoint is where an account wants its events posted. Secret is the signing
// secret in clear, set only when the endpoint is created or loaded for a delivery.
type WebhookEndpoint struct {
	ID          string
	AccountID   string
	URL         string
	Events      []EventType
	Description string
	Secret      string
	CreatedAt   time.Time
	DisabledAt  *time.Time
}

// Wants reports whether the endpoint subscribed to events of type t.
func (e WebhookEndpoint) Wants(t EventType) bool {
	for _, k := range e.Events {
		if k == t {
			return true
		}
	}
	return false
}

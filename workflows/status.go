package workflows

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"

	"github.com/payportal/payportal/internal/billing"
)

// Every workflow's status query (QueryStatus) answers one shape: a JSON object with
// lower-case snake_case fields and "status" always present, so ops read any workflow the same
// way. The types below are those answers; a workflow's result and its updates' answers keep
// their own encoding, which histories hold.
//
// Workers from before this shape answered PascalCase fields ({"Status","CaptureID"}); each
// answer type decodes both, so the API keeps working while old workers still run.

// PaymentStatusQuery is the payment saga's status: its payment's status and what the buyer
// must do or what the processor gave back.
type PaymentStatusQuery struct {
	Status      billing.PaymentStatus `json:"status"`
	ApprovalURL string                `json:"approval_url,omitempty"`
	RedirectURL string                `json:"redirect_url,omitempty"` // a card's 3-D Secure page
	Failure     *billing.Failure      `json:"failure,omitempty"`
	CaptureID   string                `json:"capture_id,omitempty"`
	RefundID    string                `json:"refund_id,omitempty"`
	CompletedAt *time.Time            `json:"completed_at,omitempty"` // when the books took it
}

func (s PaymentState) statusQuery() PaymentStatusQuery {
	// The same fields under the query's JSON names: a field added to one stops this compiling.
	return PaymentStatusQuery(s)
}

// UnmarshalJSON reads this shape and an older worker's PaymentState.
func (q *PaymentStatusQuery) UnmarshalJSON(b []byte) error {
	type plain PaymentStatusQuery
	return decodeEitherCase(b, (*plain)(q))
}

// CardValidationState (card_validation.go) is the card validation's status as it always was:
// {"status": "pending_validation", "decision_id", "reason", "decided_by"}.

// RecurringBillingStatusQuery is a month's billing: status running until it ends paid,
// past_due or nothing_to_bill; stage says where a running one is.
type RecurringBillingStatusQuery struct {
	Status        string                `json:"status"`
	Stage         RecurringBillingStage `json:"stage"`
	InvoiceID     string                `json:"invoice_id,omitempty"`
	InvoiceNumber string                `json:"invoice_number,omitempty"`
	Total         billing.Money         `json:"total,omitzero"`
	PDFHash       string                `json:"pdf_hash,omitempty"`
	Attempts      int                   `json:"attempts"` // charge attempts made
	PaymentID     string                `json:"payment_id,omitempty"`
	PaymentStatus billing.PaymentStatus `json:"payment_status,omitempty"`
	Failure       *billing.Failure      `json:"failure,omitempty"`
	NextAttemptAt *time.Time            `json:"next_attempt_at,omitempty"`
	AmountDue     billing.Money         `json:"amount_due,omitzero"`
	InFlight      billing.Money         `json:"in_flight,omitzero"`
}

// RecurringBillingRunning is a month's billing status before it ends.
const RecurringBillingRunning = "running"

func (s RecurringBillingState) statusQuery() RecurringBillingStatusQuery {
	return RecurringBillingStatusQuery{Status: recurringBillingStatus(s.Stage), Stage: s.Stage, InvoiceID: s.InvoiceID,
		InvoiceNumber: s.InvoiceNumber, Total: s.Total, PDFHash: s.PDFHash, Attempts: s.Attempts, PaymentID: s.PaymentID,
		PaymentStatus: s.PaymentStatus, Failure: s.Failure, NextAttemptAt: s.NextAttemptAt, AmountDue: s.AmountDue, InFlight: s.InFlight}
}

func recurringBillingStatus(stage RecurringBillingStage) string {
	switch stage {
	case StagePaid, StagePastDue, StageNothingToBill:
		return string(stage)
	}
	return RecurringBillingRunning
}

// UnmarshalJSON reads this shape and an older worker's RecurringBillingState, which had no
// status: it is derived from the stage.
func (q *RecurringBillingStatusQuery) UnmarshalJSON(b []byte) error {
	type plain RecurringBillingStatusQuery
	if err := decodeEitherCase(b, (*plain)(q)); err != nil {
		return err
	}
	if q.Status == "" {
		q.Status = recurringBillingStatus(q.Stage)
	}
	return nil
}

// BillingDayStatusQuery is a billing day's start of the month's billing: status starting,
// started, or already_started (an earlier start billed, or is billing, the month).
type BillingDayStatusQuery struct {
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id,omitempty"` // the month's RecurringBillingWorkflow
}

// The billing day's statuses.
const (
	BillingDayStarting       = "starting"
	BillingDayStarted        = "started"
	BillingDayAlreadyStarted = "already_started"
)

// UnmarshalJSON reads this shape and an older worker's BillingDayResult, whose status is
// known only once it says AlreadyStarted.
func (q *BillingDayStatusQuery) UnmarshalJSON(b []byte) error {
	type plain BillingDayStatusQuery
	old := struct {
		plain
		AlreadyStarted bool `json:"already_started"`
	}{}
	if err := decodeEitherCase(b, &old); err != nil {
		return err
	}
	*q = BillingDayStatusQuery(old.plain)
	if q.Status == "" && old.AlreadyStarted {
		q.Status = BillingDayAlreadyStarted
	} else if q.Status == "" {
		q.Status = BillingDayStarting
	}
	return nil
}

// WebhookDeliveryStatusQuery is one event's delivery to one endpoint. The attempts are the
// activity's retries: the API's event (GET …/events/{id}) lists each with its answer.
type WebhookDeliveryStatusQuery struct {
	Status     string `json:"status"`
	EventID    string `json:"event_id"`
	EndpointID string `json:"endpoint_id"`
}

// A webhook delivery's statuses.
const (
	WebhookDelivering        = "delivering" // posting, and retrying while the receiver fails
	WebhookDelivered         = "delivered"
	WebhookDisablingEndpoint = "disabling_endpoint" // it failed for the whole retry window
	WebhookEndpointDisabled  = "endpoint_disabled"
)

// WebhookDispatcherStatusQuery is the outbox dispatcher: always dispatching, in stretch
// (1 to stretches) of this run before it continues as new.
type WebhookDispatcherStatusQuery struct {
	Status    string `json:"status"`
	Stretch   int    `json:"stretch"`
	Stretches int    `json:"stretches"`
}

// decodeEitherCase decodes a status answer whose top-level keys are snake_case or, from an
// older worker, Go field names ("CaptureID" reads as "capture_id").
func decodeEitherCase(b []byte, v any) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	snake := make(map[string]json.RawMessage, len(fields))
	for k, raw := range fields {
		if s := snakeCase(k); s != k {
			if _, ok := fields[s]; ok {
				continue // both spellings: the new one wins
			}
			k = s
		}
		snake[k] = raw
	}
	b, err := json.Marshal(snake)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// snakeCase spells a Go field name in snake_case, acronyms as one word: "CaptureID" →
// "capture_id", "PDFHash" → "pdf_hash". A snake_case key is unchanged.
func snakeCase(name string) string {
	rs := []rune(name)
	var b strings.Builder
	for i, r := range rs {
		if unicode.IsUpper(r) && i > 0 {
			prev := rs[i-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || unicode.IsUpper(prev) && nextLower {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// RefundStatusQuery is a rep's refund: pending, succeeded or failed, with the processor's
// refund id or why it failed.
type RefundStatusQuery struct {
	Status            billing.RefundStatus `json:"status"`
	ProcessorRefundID string               `json:"processor_refund_id,omitempty"`
	Failure           *billing.Failure     `json:"failure,omitempty"`
}

func (s RefundState) statusQuery() RefundStatusQuery { return RefundStatusQuery(s) }

// CreditStatusQuery is a rep's credit: pending or issued.
type CreditStatusQuery struct {
	Status billing.CreditStatus `json:"status"`
}

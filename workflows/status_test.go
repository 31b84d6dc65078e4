package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/workflows"
)

type querier interface {
	QueryWorkflow(queryType string, args ...any) (converter.EncodedValue, error)
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// statusShape checks one status query answer against the shape every workflow shares
// (lower-case snake_case keys, status present and not empty) and answers it decoded.
func statusShape(t *testing.T, env querier) map[string]any {
	t.Helper()
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatalf("status query: %v", err)
	}
	var raw map[string]any
	if err := v.Get(&raw); err != nil {
		t.Fatalf("status answer: %v", err)
	}
	for k := range raw {
		if !snakeKey.MatchString(k) {
			t.Errorf("status key %q is not lower-case snake_case: %v", k, raw)
		}
	}
	if s, _ := raw["status"].(string); s == "" {
		t.Errorf("status answer %v has no status", raw)
	}
	return raw
}

func keysOf(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

func TestCardValidationStatusShape(t *testing.T) {
	e := newCardEnv(t, nil)
	e.RegisterDelayedCallback(func() {
		got := statusShape(t, e)
		if keysOf(got) != "status" || got["status"] != "pending_validation" {
			t.Errorf("pending card's status %v, want {status: pending_validation}", got)
		}
	}, time.Hour)
	e.signal(2*time.Hour, workflows.RepDecision{DecisionID: "dec_a", Decision: billing.DecisionApprove, Reason: "ok", RepID: "key_rep"})
	e.ExecuteWorkflow(workflows.CardValidationWorkflow, cardInput("en"))
	got := statusShape(t, e)
	if keysOf(got) != "decided_by,decision_id,reason,status" || got["status"] != "validated" {
		t.Errorf("validated card's status %v", got)
	}
}

func TestPaymentStatusShape(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		got := statusShape(t, e)
		if keysOf(got) != "approval_url,status" || got["status"] != "requires_action" {
			t.Errorf("waiting payment's status %v, want status requires_action and approval_url", got)
		}
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, 10*time.Minute)
	e.run(billing.MethodPayPal)
	got := statusShape(t, e)
	if got["status"] != "succeeded" || got["capture_id"] != "PPCAP1" {
		t.Errorf("captured payment's status %v, want succeeded with capture_id", got)
	}
}

func TestRecurringBillingStatusShape(t *testing.T) {
	books := newBooks(0, false)
	env := billingEnv(t, books)
	env.RegisterDelayedCallback(func() {
		got := statusShape(t, env)
		for _, k := range []string{"stage", "attempts", "invoice_id", "invoice_number", "next_attempt_at", "failure", "amount_due"} {
			if _, ok := got[k]; !ok {
				t.Errorf("dunning month's status %v has no %s", got, k)
			}
		}
		if got["status"] != "running" || got["stage"] != "dunning" {
			t.Errorf("dunning month's status %v, want running in stage dunning", got)
		}
	}, 48*time.Hour)
	env.ExecuteWorkflow(workflows.RecurringBillingWorkflow, workflows.RecurringBillingInput{AccountID: "acct_demo", BillingDate: billingDecember})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := statusShape(t, env)
	if got["status"] != got["stage"] || got["status"] == "running" {
		t.Errorf("ended month's status %v, want its final stage", got)
	}
}

func TestBillingDayStatusShape(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.BillingDayWorkflow)
	env.RegisterWorkflow(workflows.RecurringBillingWorkflow)
	env.SetStartTime(billingStart)
	env.OnWorkflow(workflows.RecurringBillingWorkflow, mock.Anything, mock.Anything).Return(
		func(workflow.Context, workflows.RecurringBillingInput) (workflows.RecurringBillingState, error) {
			return workflows.RecurringBillingState{Stage: workflows.StagePaid}, nil
		})
	env.ExecuteWorkflow(workflows.BillingDayWorkflow, workflows.BillingDayInput{AccountID: "acct_demo", BillingDate: billingDecember})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	got := statusShape(t, env)
	if keysOf(got) != "status,workflow_id" || got["status"] != "started" || got["workflow_id"] != "recurring-billing/acct_demo/2026-12" {
		t.Errorf("billing day's status %v, want started with the month's workflow_id", got)
	}
}

// During a rolling deploy an older worker answers the query with its Go field names; the
// answer types read both.
func TestStatusQueriesReadOlderWorkersAnswers(t *testing.T) {
	decode := func(old any, into any) {
		t.Helper()
		raw, err := json.Marshal(old)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, into); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	var p workflows.PaymentStatusQuery
	decode(workflows.PaymentState{Status: billing.PaymentSucceeded, ApprovalURL: "https://paypal.example/a", CaptureID: "cap_1",
		RefundID: "re_1", Failure: &billing.Failure{Code: "x"}}, &p)
	if p.Status != billing.PaymentSucceeded || p.CaptureID != "cap_1" || p.ApprovalURL != "https://paypal.example/a" ||
		p.RefundID != "re_1" || p.Failure == nil || p.Failure.Code != "x" {
		t.Errorf("old payment answer read as %+v", p)
	}
	next := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	var m workflows.RecurringBillingStatusQuery
	decode(workflows.RecurringBillingState{Stage: workflows.StageDunning, InvoiceID: "inv_1", PDFHash: "h", Attempts: 2,
		PaymentID: "pay_1", PaymentStatus: billing.PaymentFailed, NextAttemptAt: &next, AmountDue: billing.Money{Amount: 5, Currency: "USD"}}, &m)
	if m.Status != "running" || m.Stage != workflows.StageDunning || m.InvoiceID != "inv_1" || m.PDFHash != "h" || m.Attempts != 2 ||
		m.PaymentID != "pay_1" || m.PaymentStatus != billing.PaymentFailed || m.NextAttemptAt == nil || m.AmountDue.Amount != 5 {
		t.Errorf("old month answer read as %+v", m)
	}
	var ended workflows.RecurringBillingStatusQuery
	decode(workflows.RecurringBillingState{Stage: workflows.StagePastDue}, &ended)
	if ended.Status != "past_due" {
		t.Errorf("old past-due month read as %+v", ended)
	}
	var d workflows.BillingDayStatusQuery
	decode(workflows.BillingDayResult{WorkflowID: "recurring-billing/a/2026-12", AlreadyStarted: true}, &d)
	if d.Status != workflows.BillingDayAlreadyStarted || d.WorkflowID != "recurring-billing/a/2026-12" {
		t.Errorf("old billing day answer read as %+v", d)
	}
	// And the new shape reads as itself.
	var again workflows.PaymentStatusQuery
	decode(p, &again)
	if again.Status != p.Status || again.CaptureID != p.CaptureID || again.ApprovalURL != p.ApprovalURL {
		t.Errorf("new payment answer read as %+v", again)
	}
}

func TestWebhookDeliveryStatusShape(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WebhookDeliveryWorkflow, workflow.RegisterOptions{Name: workflows.TypeWebhookDelivery})
	env.RegisterActivity(webhookSteps)
	env.OnActivity(webhookSteps.DeliverWebhook, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.WebhookDelivery) error { return errors.New("receiver answered 500") })
	env.OnActivity(webhookSteps.DisableWebhookEndpoint, mock.Anything, mock.Anything).Return(nil)
	env.RegisterDelayedCallback(func() {
		got := statusShape(t, env)
		if keysOf(got) != "endpoint_id,event_id,status" || got["status"] != "delivering" || got["event_id"] != "evt_1" {
			t.Errorf("retrying delivery's status %v, want delivering with event_id and endpoint_id", got)
		}
	}, 2*time.Hour)
	env.ExecuteWorkflow(workflows.TypeWebhookDelivery, deliveryInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := statusShape(t, env); got["status"] != "endpoint_disabled" {
		t.Errorf("given-up delivery's status %v, want endpoint_disabled", got)
	}
}

func TestWebhookDispatcherStatusShape(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.WebhookDispatcher, workflow.RegisterOptions{Name: workflows.TypeWebhookDispatcher})
	env.RegisterActivity(webhookSteps)
	env.OnActivity(webhookSteps.DispatchEvents, mock.Anything).Return(nil)
	env.ExecuteWorkflow(workflows.TypeWebhookDispatcher)
	got := statusShape(t, env)
	if keysOf(got) != "status,stretch,stretches" || got["status"] != "dispatching" || got["stretch"] != float64(60) {
		t.Errorf("dispatcher's status %v, want dispatching in its last stretch of 60", got)
	}
}

func TestRefundStatusShape(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(int) (string, error) { return "re_1", nil })
	e.books(ok)
	e.rest()
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	got := statusShape(t, e)
	if keysOf(got) != "processor_refund_id,status" || got["status"] != "succeeded" {
		t.Errorf("refund's status %v, want {status: succeeded, processor_refund_id}", got)
	}
}

func TestCreditStatusShape(t *testing.T) {
	e := newRefundEnv(t)
	e.OnActivity(refundSteps.IssueCredit, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(refundSteps.SendCreditMail, mock.Anything, mock.Anything).Return(nil)
	e.ExecuteWorkflow(workflows.TypeCredit, workflows.CreditInput{CreditID: "cr_test1", AccountID: "acct_test1",
		Amount: billing.Money{Amount: 1000, Currency: "USD"}})
	got := statusShape(t, e)
	if keysOf(got) != "status" || got["status"] != "issued" {
		t.Errorf("credit's status %v, want {status: issued}", got)
	}
}

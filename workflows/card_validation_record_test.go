package workflows_test

import (
	"context"
	"os"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestRecordCardValidationHistories runs card validations on the real dev server with the
// real activities and saves their histories for TestReplayCorpus: a card a rep rejects and
// one nobody decides before its deadline. It runs only when recording (`make
// record-histories`).
func TestRecordCardValidationHistories(t *testing.T) {
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" || os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS") == "" {
		t.Skip("records histories only with PAYPORTAL_RECORD_HISTORY=1 and PAYPORTAL_TEST_TEMPORAL_ADDRESS set")
	}
	c := testenv.TemporalClient(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		reject  bool
	}{
		{name: "rejected", timeout: time.Hour, reject: true},
		{name: "expired", timeout: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newBillingWorld(t)
			acct := w.newAccount(t, 1)
			queue := w.recordingWorker(t, c, "card-record-")
			pm := w.pendingCard(t, acct.ID, tc.timeout)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: pm.WorkflowID, TaskQueue: queue}, workflows.TypeCardValidation,
				workflows.CardValidationInput{PaymentMethodID: pm.ID, AccountID: acct.ID, CompanyName: acct.CompanyName,
					Brand: pm.Brand, Last4: pm.Last4, ContactEmail: acct.ContactEmail, Language: acct.Language,
					Deadline: pm.ValidationDeadline, Timeout: tc.timeout})
			if err != nil {
				t.Fatal(err)
			}
			if tc.reject {
				if err := c.SignalWorkflow(ctx, pm.WorkflowID, "", workflows.SignalRepDecision, workflows.RepDecision{
					DecisionID: "dec_record", Decision: billing.DecisionReject, Reason: "card holder name does not match", RepID: "key_rep"}); err != nil {
					t.Fatal(err)
				}
			}
			var st workflows.CardValidationState
			if err := run.Get(ctx, &st); err != nil {
				t.Fatal(err)
			}
			testenv.RecordWorkflowHistory(t, c, pm.WorkflowID, "card_validation_"+tc.name+"_v0.json")
		})
	}
}

// pendingCard stores a card waiting for validation, as the API does before it starts the
// workflow.
func (w *billingWorld) pendingCard(t *testing.T, accountID string, timeout time.Duration) billing.PaymentMethod {
	t.Helper()
	addr := billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
	pm := billing.PaymentMethod{ID: billing.NewID(billing.PrefixPaymentMethod), AccountID: accountID,
		Status: billing.PMPendingValidation, ProcessorToken: "tok_record", Brand: "visa", Last4: "4242",
		ExpMonth: 12, ExpYear: 2035, HolderName: "Pat Doe", ContactEmail: "pat@example.com", BillingAddress: addr,
		CreatedAt: w.clock.Now(), ValidationDeadline: w.clock.Now().Add(timeout)}
	pm.WorkflowID = workflows.CardValidationWorkflowID(pm.ID)
	if err := w.db.CreatePaymentMethod(context.Background(), pm); err != nil {
		t.Fatal(err)
	}
	return pm
}

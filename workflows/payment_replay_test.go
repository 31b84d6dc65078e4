package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestPaymentReplay replays histories recorded from the real dev server by the end-to-end
// tests (PAYPORTAL_RECORD_HISTORY=1 go test ./internal/e2e/payments -run 'TestCardPaymentLowers|TestPayPalApprovedByTheBuyer'):
// a card payment and a PayPal payment approved by the buyer. A change to the saga that would
// break the payments in flight when it is deployed fails here with a nondeterminism error;
// such a change needs workflow.GetVersion.
func TestPaymentReplay(t *testing.T) {
	for _, file := range []string{"testdata/payment_card_succeeded.json", "testdata/payment_paypal_succeeded.json"} {
		t.Run(file, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.Payment)
			if err := r.ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

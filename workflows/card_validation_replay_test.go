package workflows_test

import (
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestCardValidationReplay replays a history recorded from the real dev server (a card two
// reps approved at once, recorded by internal/e2e/cards with PAYPORTAL_RECORD_HISTORY=1): a
// change to the workflow that would break the cards already waiting for a rep fails here.
func TestCardValidationReplay(t *testing.T) {
	r := worker.NewWorkflowReplayer()
	r.RegisterWorkflow(workflows.CardValidationWorkflow)
	if err := r.ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), "testdata/card_validation_approved.json"); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

package workflows_test

import (
	"path/filepath"
	"slices"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestCardValidationReplay replays every card validation history recorded from the real dev
// server (testdata/card_validation_*.json; internal/e2e/cards records them with
// PAYPORTAL_RECORD_HISTORY=1): card_validation_approved.json, a card two reps approved at once
// by signal, from before the rep-decision update; card_validation_approved_update_v1.json, the
// same by update. A change to the workflow that would break the cards already waiting for a
// rep fails here.
func TestCardValidationReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/card_validation_*.json")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "testdata/card_validation_approved.json") {
		t.Errorf("testdata/card_validation_approved.json is missing: %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.CardValidationWorkflow)
			if err := r.ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

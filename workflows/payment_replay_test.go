package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestPaymentReplay replays every payment history recorded from the real dev server
// (testdata/payment_*.json; PAYPORTAL_RECORD_HISTORY=1 with the end-to-end tests in
// internal/e2e/payments records them). The _v0 files were recorded before the
// resolve-outcomes change and replay its version-0 path; the _v1 files after it. A change to
// the saga that would break payments in flight when it is deployed fails here with a
// nondeterminism error; such a change needs workflow.GetVersion.
func TestPaymentReplay(t *testing.T) {
	files, err := filepath.Glob("testdata/payment_*.json")
	if err != nil || len(files) < 4 {
		t.Fatalf("payment histories %v (err %v), want at least the v0 and v1 card and PayPal ones", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflow(workflows.Payment)
			if err := r.ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
}

package workflows_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestReplayCorpus replays every history in testdata, recorded from the real dev server
// (`make record-histories`), against the current code, through the worker's real
// registration: a change that would break workflows running when it is deployed fails here
// with a nondeterminism error, and needs workflow.GetVersion (README, "Changing a workflow").
// Files are named <workflow>_<path>_<version>.json: v0 histories come from the code before a
// versioned change and replay its old branch.
func TestReplayCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			types[workflowTypeOf(t, file)]++
			r := worker.NewWorkflowReplayer()
			workflows.RegisterAll(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
		})
	}
	// Every long-lived workflow has recorded paths; the periodic passes run minutes and
	// finish, so a deploy never finds one half way for long.
	for _, typ := range []string{workflows.TypeCardValidation, workflows.TypePayment, workflows.TypeBillingDay, workflows.TypeRecurringBilling} {
		if types[typ] == 0 {
			t.Errorf("no recorded history of %s", typ)
		}
	}
}

// workflowTypeOf reads the workflow type from a history's first event.
func workflowTypeOf(t *testing.T, file string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Events []struct {
			Attrs struct {
				WorkflowType struct{ Name string } `json:"workflowType"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(raw, &h); err != nil || len(h.Events) == 0 {
		t.Fatalf("%s is not a history: %v", file, err)
	}
	return h.Events[0].Attrs.WorkflowType.Name
}

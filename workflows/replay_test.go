package workflows_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/client"
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
//
// The replayer decodes as a worker does, through the payload codec (the development key): the
// corpus holds plain payloads (recorded before encryption, or decoded when recorded), which
// the codec passes through, and each history is replayed a second time with its payloads
// encrypted, as the server stores them now.
func TestReplayCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			types[workflowTypeOf(t, file)]++
			if err := newReplayer().ReplayWorkflowHistoryFromJSONFile(testenv.NopTemporalLogger(), file); err != nil {
				t.Fatalf("replay %s: %v", file, err)
			}
			encrypted := encryptedHistory(t, file)
			if err := newReplayer().ReplayWorkflowHistory(testenv.NopTemporalLogger(), encrypted); err != nil {
				t.Fatalf("replay %s with its payloads encrypted: %v", file, err)
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

// newReplayer replays through the worker's registration and the codec's converters.
func newReplayer() worker.WorkflowReplayer {
	c := testenv.PayloadCodec()
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		DataConverter:    c.DataConverter(),
		FailureConverter: c.FailureConverter(),
	})
	if err != nil {
		panic(err)
	}
	workflows.RegisterAll(r)
	return r
}

// encryptedHistory is the history in file with every payload encrypted by the codec.
func encryptedHistory(t *testing.T, file string) *historypb.History {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("read %s: %v", file, err)
	}
	c, n := testenv.PayloadCodec(), 0
	err = proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			n += len(p)
			return c.Encode(p)
		},
	})
	if err != nil || n == 0 {
		t.Fatalf("encrypt the payloads of %s: %d payloads, %v", file, n, err)
	}
	return h
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

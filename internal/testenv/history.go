package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/devserver"
)

// WorkflowHistoryJSON is a workflow's whole history as indented JSON: what the Web UI
// downloads and the SDK's replayer reads.
func WorkflowHistoryJSON(t testing.TB, c client.Client, workflowID string) []byte {
	t.Helper()
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		t.Fatalf("history of %s as JSON: %v", workflowID, err)
	}
	return raw
}

// RecordWorkflowHistory saves a finished workflow's history as workflows/testdata/<file>, the
// input of the replay tests there, when PAYPORTAL_RECORD_HISTORY=1; otherwise it does nothing.
func RecordWorkflowHistory(t testing.TB, c client.Client, workflowID, file string) {
	t.Helper()
	if os.Getenv("PAYPORTAL_RECORD_HISTORY") != "1" {
		return
	}
	root, err := devserver.RepoRoot()
	if err != nil {
		t.Fatalf("record the history of %s: %v", workflowID, err)
	}
	path := filepath.Join(root, "workflows", "testdata", file)
	if err := os.WriteFile(path, append(WorkflowHistoryJSON(t, c, workflowID), '\n'), 0o644); err != nil {
		t.Fatalf("record the history of %s: %v", workflowID, err)
	}
	t.Logf("recorded the history of %s in %s", workflowID, path)
}

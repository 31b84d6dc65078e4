package testenv

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/devserver"
)

// WorkflowHistoryJSON is a workflow's whole history as indented JSON, with its payloads
// decoded by PayloadCodec: what the Web UI downloads through the codec server and the SDK's
// replayer reads. So tests search the plain text for secrets, and recorded histories stay
// readable without a key. EncryptedWorkflowHistory is the history as the server stores it.
func WorkflowHistoryJSON(t testing.TB, c client.Client, workflowID string) []byte {
	t.Helper()
	h := EncryptedWorkflowHistory(t, c, workflowID)
	if err := DecodeHistoryPayloads(h); err != nil {
		t.Fatalf("decode the history of %s: %v", workflowID, err)
	}
	raw, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatalf("history of %s as JSON: %v", workflowID, err)
	}
	return raw
}

// EncryptedWorkflowHistory is a workflow's whole history as the server stores it and any
// client without the key reads it: its payloads encrypted.
func EncryptedWorkflowHistory(t testing.TB, c client.Client, workflowID string) *historypb.History {
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
	return &h
}

// DecodeHistoryPayloads decrypts, in place, every payload of h that PayloadCodec encrypted,
// failures' encoded messages included; search attributes are plain already.
func DecodeHistoryPayloads(h *historypb.History) error {
	c := PayloadCodec()
	return proxy.VisitPayloads(context.Background(), h, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return c.Decode(p)
		},
	})
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

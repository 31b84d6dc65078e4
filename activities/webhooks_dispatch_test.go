package activities_test

import (
	"context"
	"sync/atomic"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
)

// A worker that stops ends its dispatch stretch at once and without an error (the SDK logs
// an activity's error at ERROR: every Ctrl-C of `payportal dev` did), and mails no receipt
// it might not get to record.
func TestDispatchStretchEndsQuietlyWhenTheWorkerStops(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	stop := make(chan struct{})
	env.SetWorkerStopChannel(stop)
	var passes, receiptPasses atomic.Int32
	w := &activities.Webhooks{Dispatch: func(context.Context) (int, error) {
		if passes.Add(1) == 2 {
			close(stop)
		}
		return 0, nil
	}, MailReceipts: func(context.Context) (int, error) {
		receiptPasses.Add(1)
		return 0, nil
	}}
	env.RegisterActivity(w.DispatchEvents)
	if _, err := env.ExecuteActivity(w.DispatchEvents); err != nil {
		t.Fatalf("a stopping worker's stretch ended with %v, want no error", err)
	}
	if n := passes.Load(); n != 2 {
		t.Errorf("%d dispatch passes, want 2: the stretch goes on after the worker stopped", n)
	}
	if n := receiptPasses.Load(); n != 1 {
		t.Errorf("%d receipt passes, want one with the first dispatch pass and none once the worker stops", n)
	}
}

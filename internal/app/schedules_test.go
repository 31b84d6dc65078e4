package app_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// TestWorkersStartingTogetherSyncOnce: three workers starting one after the other, as a
// rolling deploy does, create the two maintenance schedules and start one sync between them,
// not one each, though each finished before the next start. The test has a namespace of its
// own: schedule IDs are per namespace, and other tests' workers use the default one.
func TestWorkersStartingTogetherSyncOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := "once-" + billing.NewID("")[:12]
	admin := testenv.TemporalClient(t)
	if _, err := admin.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: ns, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)}); err != nil {
		t.Fatalf("register namespace %s: %v", ns, err)
	}
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: testenv.TemporalAddress(t), Namespace: ns,
		Codec: testenv.PayloadCodec(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	// A worker runs the sync passes, over a database with no account: each pass is quick, so
	// every worker starting after it finished would start one more.
	db, _ := testenv.Database(t)
	cfg := config.Config{TaskQueue: "once-" + ns}
	w := worker.New(c, cfg.TaskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(workflows.SyncBillingSchedules, workflow.RegisterOptions{Name: workflows.TypeSyncBillingSchedules})
	w.RegisterActivity(&activities.BillingSchedules{DB: db, Ensure: func(context.Context, billing.Account) error { return nil }})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	h := c.ScheduleClient().GetHandle(ctx, workflows.SyncSchedulesScheduleID)
	for i := range 3 {
		a := &app.App{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Temporal: c}
		for {
			err := a.EnsureSchedules(ctx)
			if err == nil {
				break
			}
			// A new namespace reaches the frontend's cache a few seconds after it is made.
			if i > 0 || ctx.Err() != nil {
				t.Fatalf("worker %d: %v", i+1, err)
			}
			time.Sleep(time.Second)
		}
		for { // the pass this start asked for, if any, is over before the next worker starts
			desc, err := h.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(desc.Info.RunningWorkflows) == 0 && len(desc.Info.RecentActions) > 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the sync pass did not finish: %+v", desc.Info)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The schedule also fires on its own every SyncSchedulesEvery, at times aligned to the
	// epoch: a test crossing such a time sees that pass too, which no worker started.
	started, byInterval := 0, map[string]bool{}
	for _, act := range desc.Info.RecentActions {
		if act.ScheduleTime.Equal(act.ScheduleTime.Truncate(workflows.SyncSchedulesEvery)) {
			byInterval[act.StartWorkflowResult.WorkflowID] = true
			continue
		}
		started++
	}
	if started != 1 {
		t.Errorf("three workers started %d syncs, want 1 (actions: %+v)", started, desc.Info.RecentActions)
	}
	runs, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns,
		Query: "WorkflowType = '" + workflows.TypeSyncBillingSchedules + "'"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, run := range runs.Executions {
		if !byInterval[run.GetExecution().GetWorkflowId()] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d sync workflows started by the workers in the namespace, want 1", n)
	}
	if _, err := c.ScheduleClient().GetHandle(ctx, workflows.ReconcileScheduleID).Describe(ctx); err != nil {
		t.Errorf("the reconcile schedule: %v", err)
	}
}

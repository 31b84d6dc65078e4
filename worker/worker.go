// Package worker wires PayPortal's workflows and activities to a Temporal worker. It is the
// only place that knows every workflow and activity; `payportal worker` and `payportal dev`
// run it.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/workflows"
)

// Config is what a worker needs: where to poll and what its activities work with. The
// workflows' timeouts are not here: they travel in each workflow's input, set by the service
// that starts it, so a replay sees the values its run started with.
type Config struct {
	TaskQueue  string
	Activities activities.Dependencies
	// StopTimeout is how long Stop lets running activities finish before cancelling them
	// (PAYPORTAL_WORKER_STOP_TIMEOUT): a deploy should not cut a capture in half. Zero: the
	// SDK's default, which cancels them at once.
	StopTimeout time.Duration
	// Interceptors wrap workflow and activity calls (tracing); nil: none.
	Interceptors []interceptor.WorkerInterceptor
}

// Register puts every workflow and activity on r.
func Register(r sdkworker.Registry, deps activities.Dependencies) {
	workflows.RegisterAll(r)
	activities.RegisterAll(r, deps)
}

// New builds a worker on the task queue, with everything registered.
func New(c client.Client, cfg Config) sdkworker.Worker {
	w := sdkworker.New(c, cfg.TaskQueue, sdkworker.Options{
		WorkerStopTimeout: cfg.StopTimeout,
		Interceptors:      cfg.Interceptors,
		// Pollers follow the load instead of the fixed two per kind: under twenty
		// concurrent payments, two pollers left new workflow tasks waiting seconds for a
		// worker (issue 10's histories).
		WorkflowTaskPollerBehavior: sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{}),
		ActivityTaskPollerBehavior: sdkworker.NewPollerBehaviorAutoscaling(sdkworker.PollerBehaviorAutoscalingOptions{}),
	})
	Register(w, cfg.Activities)
	return w
}

// Run starts the worker and blocks until ctx is done, then stops it: polling ends at once,
// running activities get StopTimeout to finish.
func Run(ctx context.Context, c client.Client, cfg Config) error {
	w := New(c, cfg)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker on %s: %w", cfg.TaskQueue, err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

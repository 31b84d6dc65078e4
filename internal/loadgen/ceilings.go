package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/worker"
)

// The ceilings' workflow and activity types, on a task queue of the run's own.
const (
	noopWorkflowType       = "LoadgenNoopWorkflow"
	activitiesWorkflowType = "LoadgenNoopActivitiesWorkflow"
	noopActivityType       = "LoadgenNoopActivity"
)

// noopWorkflow is the first ceiling: a workflow that does nothing, so one run costs the
// start, one workflow task and the close.
func noopWorkflow(workflow.Context) error { return nil }

// activitiesWorkflow is the second: n no-op activities in a row, as the card saga runs its
// steps on the happy path; local ones when local is set, as the saga's are.
func activitiesWorkflow(ctx workflow.Context, n int, local bool) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second})
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 30 * time.Second})
	for range n {
		f := workflow.ExecuteActivity(ctx, noopActivityType)
		if local {
			f = workflow.ExecuteLocalActivity(ctx, noopActivityType)
		}
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noopActivity(context.Context) error { return nil }

// startCeilingWorker runs the ceilings' workflows in this process on a worker built by
// PayPortal's own worker.New, so it polls with the product's worker options (pollers, slots,
// sticky cache) whatever they become: a ceiling measured with other settings would compare
// different things. PayPortal's workflows and activities are registered on it too, idle: this
// task queue only ever sees the ceilings'.
func startCeilingWorker(tc client.Client, taskQueue string) (stop func(), err error) {
	w := worker.New(tc, worker.Config{TaskQueue: taskQueue})
	w.RegisterWorkflowWithOptions(noopWorkflow, workflow.RegisterOptions{Name: noopWorkflowType})
	w.RegisterWorkflowWithOptions(activitiesWorkflow, workflow.RegisterOptions{Name: activitiesWorkflowType})
	w.RegisterActivityWithOptions(noopActivity, activity.RegisterOptions{Name: noopActivityType})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start the ceiling worker on %s: %w", taskQueue, err)
	}
	return w.Stop, nil
}

// workflowOp starts one ceiling workflow and waits for its result, as a client of the API
// waits for a payment.
func workflowOp(tc client.Client, taskQueue, runID string, kind Kind, activities int, local bool) func(ctx context.Context, c, seq int) sample {
	var started atomic.Int64 // across rounds: a workflow ID names one run
	return func(ctx context.Context, c, _ int) sample {
		s := sample{kind: kind}
		opts := client.StartWorkflowOptions{ID: fmt.Sprintf("loadgen-%s-%s-%d", runID, ceilingSlug(kind), started.Add(1)), TaskQueue: taskQueue}
		var run client.WorkflowRun
		var err error
		if kind == KindNoopWorkflow {
			run, err = tc.ExecuteWorkflow(ctx, opts, noopWorkflowType)
		} else {
			run, err = tc.ExecuteWorkflow(ctx, opts, activitiesWorkflowType, activities, local)
		}
		if err != nil {
			s.failed("start workflow", err.Error())
			return s
		}
		s.ref, s.run = run.GetID(), run.GetRunID()
		if err := run.Get(ctx, nil); err != nil {
			s.failed("workflow result", err.Error())
		}
		return s
	}
}

func ceilingSlug(k Kind) string {
	if k == KindNoopWorkflow {
		return "noop"
	}
	return "activities"
}

// pageQuery is the bare ceiling's one indexed query: an account's newest 25 invoices, as the
// invoice list's first page reads them (index invoices_account_created).
const pageQuery = `SELECT id, account_id, number, type, status, currency, period_start, period_end,
	subtotal, tax, total, amount_paid, created_at
	FROM invoices WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT 25`

type pageRow struct {
	ID          string     `json:"id"`
	AccountID   string     `json:"account_id"`
	Number      string     `json:"number"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	Currency    string     `json:"currency"`
	PeriodStart *time.Time `json:"period_start"`
	PeriodEnd   *time.Time `json:"period_end"`
	Subtotal    int64      `json:"subtotal"`
	Tax         int64      `json:"tax"`
	Total       int64      `json:"total"`
	AmountPaid  int64      `json:"amount_paid"`
	CreatedAt   time.Time  `json:"created_at"`
}

// bareServer is the third ceiling: Gin with no middleware and one handler running pageQuery
// on a pgx pool of its own (pgx's default size, as PayPortal's), served on a loopback port.
type bareServer struct {
	URL  string
	srv  *http.Server
	pool *pgxpool.Pool
}

func startBareServer(ctx context.Context, databaseURL string) (*bareServer, error) {
	pool, err := pgxpool.New(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("bare ceiling: connect: %w", err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/invoices/:account_id", func(c *gin.Context) {
		rows, err := pool.Query(c.Request.Context(), pageQuery, c.Param("account_id"))
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pageRow])
		if err != nil {
			c.AbortWithStatusJSON(http.StatusInternalServerError, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, gin.H{"data": page, "has_more": len(page) == 25})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bare ceiling: listen: %w", err)
	}
	b := &bareServer{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}, pool: pool}
	go func() { _ = b.srv.Serve(ln) }() // a server that stops early shows as the clients' errors
	return b, nil
}

func (b *bareServer) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
	b.pool.Close()
}

// bareOp GETs the account's page from the bare server with the customers' HTTP client code.
func bareOp(hc *http.Client, base string, accounts []account) func(ctx context.Context, c, seq int) sample {
	return func(ctx context.Context, c, seq int) sample {
		s := sample{kind: KindBarePage}
		status, raw, _, err := send(ctx, hc, http.MethodGet, base+"/invoices/"+accounts[c%len(accounts)].ID, "", nil, nil)
		switch {
		case err != nil:
			s.failed("GET page: "+transportLabel(err), err.Error())
		case status != http.StatusOK:
			s.failed(fmt.Sprintf("GET page: %d", status), fmt.Sprintf("%.300s", raw))
		}
		return s
	}
}

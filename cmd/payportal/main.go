// Command payportal runs PayPortal: `dev` (everything in one process, with a local Temporal
// dev server), `api`, `worker` and `migrate`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/loadgen"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/worker"
)

const usage = `usage: payportal <command>

commands:
  dev        run everything locally: Temporal dev server, migrations, demo data, worker and API
  api        serve the HTTP API
  worker     run the Temporal worker
  reconcile  run one reconciliation pass: settle stranded payments, refund money the books do
             not show, check the ledger; exits 1 when a disagreement remains (see README)
  migrate    create the database if needed and apply migrations
             (--demo also seeds the development accounts and keys: PAYPORTAL_ENV=development only)
  rep        manage account reps: rep add NAME (prints their key once), rep disable NAME|ID,
             rep list
  healthcheck  ask the ops listener (PAYPORTAL_OPS_ADDR) whether this host's api or worker is
             ready; exits 0 if so, 1 if not (for container health checks)
  loadgen    drive a running development PayPortal with concurrent customers, measure the
             ceilings in the same run and check the books (payportal loadgen -h; see BENCHMARKS.md)

Settings come from the environment; see README.md.`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if os.Args[1] == "healthcheck" {
		// Before the other settings: a container health check answers 0 or 1, whatever they say.
		os.Exit(runHealthcheck())
	}
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "payportal:", err)
		os.Exit(2)
	}
	log := newLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch os.Args[1] {
	case "dev":
		// dev runs the sandboxes and seeds the demo keys: it is development by definition.
		cfg.Env = config.EnvDevelopment
		err = runDev(ctx, cfg, log)
	case "api":
		err = runAPI(ctx, cfg, log)
	case "worker":
		err = runWorker(ctx, cfg, log)
	case "reconcile":
		err = runReconcile(ctx, cfg, log)
	case "migrate":
		err = runMigrateCommand(ctx, cfg, os.Args[2:])
	case "rep":
		err = runRep(ctx, cfg, os.Args[2:], os.Stdout)
	case "loadgen":
		err = loadgen.Main(ctx, cfg, log, os.Args[2:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "payportal: unknown command %q\n\n%s\n", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("payportal stopped", "command", os.Args[1], "err", err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func runMigrateCommand(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "also seed the development accounts and keys (trials only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *demo && !cfg.Development() {
		return errors.New("migrate --demo seeds the demo accounts and the API keys printed in the README, which are for development; " +
			"drop --demo (or set PAYPORTAL_ENV=development for a trial)")
	}
	if err := runMigrate(ctx, cfg); err != nil {
		return err
	}
	if !*demo {
		return nil
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	seeded, err := devdata.Seed(ctx, db, billing.SystemClock{}.Now())
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	fmt.Printf("demo data ready (newly seeded: %v); keys %s, %s, %s\n", seeded,
		devdata.DemoCustomerKey, devdata.OtherCustomerKey, devdata.DemoRepKey)
	return nil
}

func runMigrate(ctx context.Context, cfg config.Config) error {
	if err := postgres.CreateDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db); err != nil {
		return err
	}
	fmt.Println("migrations applied")
	return nil
}

func runAPI(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.CheckProductionSafe(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveHTTP(gctx, "api", cfg.HTTPAddr, a.APIServer().Handler(), log) })
	g.Go(func() error { return serveOps(gctx, cfg, a, log) })
	return g.Wait()
}

func runWorker(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.CheckProductionSafe(ctx); err != nil {
		return err
	}
	// Every worker makes sure the periodic passes' schedules exist and asks for a billing
	// schedule sync unless one just ran: several workers starting together do it once. A
	// refusal from Temporal at that moment (a frontend restarting) is retried, not fatal.
	for wait := time.Second; ; wait *= 2 {
		err := a.EnsureSchedules(ctx)
		if err == nil {
			break
		}
		if wait > 16*time.Second || ctx.Err() != nil {
			return err
		}
		log.Warn("ensure schedules; retrying", "err", err, "in", wait.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	log.Info("worker polling", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress, "stop_timeout", cfg.WorkerStopTimeout.String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return worker.Run(gctx, a.Temporal, a.WorkerConfig()) })
	g.Go(func() error { return serveOps(gctx, cfg, a, log) })
	return g.Wait()
}

// runReconcile runs one reconciliation pass in this process and prints every finding. It
// exits non-zero when a disagreement between the books and the processors remains.
func runReconcile(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	// Against production books with the sandbox processors, every lookup would answer "no
	// money taken": the same refusal as the API's and the worker's.
	if err := a.CheckProductionSafe(ctx); err != nil {
		return err
	}
	report, err := a.Reconcile(ctx)
	for _, f := range report.Findings {
		state := "UNRESOLVED"
		if f.Resolved {
			state = "resolved"
		}
		fmt.Printf("%-10s %-18s account=%s payment=%s action=%s: %s\n", state, f.Kind, f.AccountID, f.PaymentID, f.Action, f.Detail)
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	fmt.Printf("reconciled: %d checked, %d findings, %d unresolved\n", report.Checked, len(report.Findings), report.Unresolved)
	if report.Unresolved > 0 {
		return errBooksDisagree
	}
	return nil
}

// errBooksDisagree makes `payportal reconcile` exit 1 without a stack of log lines: the
// findings above say what disagrees.
var errBooksDisagree = errors.New("the books and the processors disagree; see the findings above")

// serveHTTP serves until ctx ends, then drains in-flight requests (up to 15 s).
func serveHTTP(ctx context.Context, name, addr string, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 1 << 20}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info(name+" listening", "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

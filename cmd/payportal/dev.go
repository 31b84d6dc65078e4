package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"go.temporal.io/sdk/contrib/envconfig"
	"golang.org/x/sync/errgroup"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/worker"
	"github.com/payportal/payportal/workflows"
)

// runDev brings the whole system up in one process: a Temporal dev server (started, or reused
// when one already answers), the database with migrations and demo data, the worker and the
// API. Ctrl-C stops all of it, the dev server last.
func runDev(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	temporalServer, err := startOrReuseTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer temporalServer.Stop()
	if temporalServer != nil {
		// Our own dev server speaks plain gRPC: a TLS or API-key profile is for other servers.
		cfg.Temporal = envconfig.ClientConfigProfile{Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace}
	}

	if err := runMigrate(ctx, cfg); err != nil {
		return err
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := temporalclient.EnsureSearchAttributes(ctx, a.Temporal, cfg.TemporalNamespace, workflows.SearchAttributeTypes); err != nil {
		return err
	}
	seeded, err := devdata.Seed(ctx, a.DB, a.Clock.Now())
	if err != nil {
		return fmt.Errorf("seed demo data: %w", err)
	}
	if len(seeded) > 0 {
		log.Info("seeded demo data", "accounts", strings.Join(seeded, ","))
	}
	if err := a.EnsureSchedules(ctx); err != nil {
		return err
	}

	printBanner(cfg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return worker.Run(gctx, a.Temporal, a.WorkerConfig()) })
	g.Go(func() error { return serveHTTP(gctx, "api", cfg.HTTPAddr, a.APIServer().Handler(), log) })
	g.Go(func() error { return serveOps(gctx, cfg, a, log) })
	return g.Wait()
}

func startOrReuseTemporal(ctx context.Context, cfg config.Config, log *slog.Logger) (*devserver.Server, error) {
	if devserver.Reachable(cfg.TemporalAddress) {
		log.Info("reusing the Temporal server already answering; its UI decodes payloads only if it was started with --ui-codec-endpoint "+codecEndpoint(cfg),
			"addr", cfg.TemporalAddress)
		return nil, nil
	}
	cli, err := devserver.FindCLI(ctx, cfg.TemporalCLI)
	if err != nil {
		return nil, err
	}
	stateDir := cfg.DevStateDir
	if !filepath.IsAbs(stateDir) {
		if root, err := devserver.RepoRoot(); err == nil {
			stateDir = filepath.Join(root, stateDir)
		}
	}
	log.Info("starting the Temporal dev server", "addr", cfg.TemporalAddress, "ui_port", cfg.TemporalUIPort, "state", stateDir)
	return devserver.Start(ctx, devserver.Options{
		CLI: cli, Address: cfg.TemporalAddress, UIPort: cfg.TemporalUIPort, Namespace: cfg.TemporalNamespace,
		StateDir: stateDir, SearchAttributes: workflows.SearchAttributeTypes, CodecEndpoint: codecEndpoint(cfg),
	})
}

// codecEndpoint is the ops listener's codec server as the browser showing the Temporal UI
// (on this machine) reaches it.
func codecEndpoint(cfg config.Config) string { return cfg.OpsURL() + "/codec" }

func printBanner(cfg config.Config) {
	fmt.Printf(`
PayPortal is running (Ctrl-C stops everything)

  API          http://%s   (OpenAPI: /openapi.json)
  Temporal UI  http://127.0.0.1:%d   (payloads decoded by the codec server at %s)
  Ops          %s/metrics, /healthz, /readyz
  Temporal     %s, namespace %s, task queue %s
  Mail         %s

Development keys (dev only):
  %-20s customer of %s
  %-20s customer of %s
  %-20s account rep

Try:
  curl -H 'Authorization: Bearer %s' http://%s/v1/accounts/%s/billing-summary

`, cfg.HTTPAddr, cfg.TemporalUIPort, codecEndpoint(cfg), cfg.OpsURL(), cfg.TemporalAddress, cfg.TemporalNamespace, cfg.TaskQueue, mailMode(cfg),
		devdata.DemoCustomerKey, devdata.DemoAccountID, devdata.OtherCustomerKey, devdata.OtherAccountID, devdata.DemoRepKey,
		devdata.DemoCustomerKey, cfg.HTTPAddr, devdata.DemoAccountID)
}

func mailMode(cfg config.Config) string {
	if cfg.SMTPAddr == "" {
		return "logged (PAYPORTAL_SMTP_ADDR unset)"
	}
	return "sent over SMTP to " + cfg.SMTPAddr
}

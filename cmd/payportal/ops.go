package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/config"
)

// serveOps serves the ops listener (PAYPORTAL_OPS_ADDR: /healthz, /readyz, /metrics and the
// codec server) until ctx ends.
func serveOps(ctx context.Context, cfg config.Config, a *app.App, log *slog.Logger) error {
	if cfg.CodecToken == "" && !loopback(cfg.OpsAddr) {
		log.Warn("the ops listener is reachable beyond this host and its codec server decrypts Temporal payloads for anyone who calls it; "+
			"set PAYPORTAL_CODEC_TOKEN (the CLI sends it with --codec-auth) or keep the port behind a firewall", "addr", cfg.OpsAddr)
	}
	return serveHTTP(ctx, "ops", cfg.OpsAddr, a.OpsHandler(), log)
}

// loopback reports whether addr listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// runHealthcheck asks this host's ops listener (PAYPORTAL_OPS_ADDR) for /readyz, prints its
// answer and returns the exit code: 0 ready, 1 not (or not answering). It is the container
// health check of the api and worker images, which have no shell or curl.
func runHealthcheck() int {
	addr := os.Getenv("PAYPORTAL_OPS_ADDR")
	if addr == "" {
		addr = config.DefaultOpsAddr
	}
	url := config.Config{OpsAddr: addr}.OpsURL() + "/readyz"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "payportal healthcheck:", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "payportal healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	fmt.Printf("%s %d %s\n", url, resp.StatusCode, strings.TrimSpace(string(body)))
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

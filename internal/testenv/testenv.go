// Package testenv gives integration tests the real services: a fresh, migrated PostgreSQL
// database and a Temporal dev server. When a service is missing the test fails under CI=true
// and is skipped elsewhere, so CI can never go green by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/codec"
	"github.com/payportal/payportal/internal/devserver"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/temporalclient"
	"github.com/payportal/payportal/workflows"
)

// InCI reports whether the tests run under CI, where a missing service is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable fails the test under CI and skips it elsewhere.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() {
		t.Fatalf("required test service unavailable under CI: %s", msg)
	}
	t.Skipf("test service unavailable (set CI=true to fail instead): %s", msg)
}

// ServerURL is the Postgres server the tests use: $PAYPORTAL_TEST_DATABASE_URL or the local
// default. Each test gets its own database on it.
func ServerURL() string {
	if u := os.Getenv("PAYPORTAL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// Database creates a fresh database, migrates it and drops it when the test ends. It returns
// the open DB and its URL (for a child process such as `payportal worker`).
func Database(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("parse test database url: %v", err)
	}
	admin, err := pgx.Connect(ctx, server.String())
	if err != nil {
		Unavailable(t, "postgres at %s: %v", server.Redacted(), err)
	}
	defer admin.Close(ctx)
	name := "payportal_test_" + randomSuffix()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	dbURL := *server
	dbURL.Path = "/" + name
	db, err := postgres.Open(ctx, dbURL.String())
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server.String())
		if err != nil {
			t.Logf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	if err := postgres.Migrate(ctx, db); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return db, dbURL.String()
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	temporalOnce sync.Once
	temporalAddr string
	temporalErr  error
	temporalDev  *testsuite.DevServer
)

// TemporalAddress is a Temporal frontend with PayPortal's search attributes registered:
// $PAYPORTAL_TEST_TEMPORAL_ADDRESS when set (CI starts one), else a dev server started once
// per test binary from the pinned CLI, stopped by Main (the package's TestMain).
func TemporalAddress(t testing.TB) string {
	t.Helper()
	temporalOnce.Do(func() {
		if addr := os.Getenv("PAYPORTAL_TEST_TEMPORAL_ADDRESS"); addr != "" {
			temporalAddr = addr
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cli, err := devserver.FindCLI(ctx, "")
		if err != nil {
			temporalErr = err
			return
		}
		var args []string
		for _, sa := range workflows.SearchAttributeTypes {
			args = append(args, "--search-attribute", sa)
		}
		temporalDev, temporalErr = testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
			ExistingPath: cli,
			LogLevel:     "error",
			ExtraArgs:    args,
			Stdout:       io.Discard,
			Stderr:       io.Discard,
		})
		if temporalErr == nil {
			temporalAddr = temporalDev.FrontendHostPort()
		}
	})
	if temporalErr != nil {
		Unavailable(t, "temporal dev server: %v", temporalErr)
	}
	return temporalAddr
}

// PayloadCodec is the codec of PayPortal in development, over the development key: what
// TemporalClient encrypts with, and what a `payportal worker` process the tests start (with
// PAYPORTAL_ENV=development and no PAYPORTAL_PAYLOAD_KEYS) uses too.
func PayloadCodec() *codec.Codec { return codec.New(codec.DevelopmentKeyRing()) }

// TemporalClient dials TemporalAddress through PayPortal's own client factory, payload
// encryption included, and closes the client when the test ends.
func TemporalClient(t testing.TB) client.Client {
	t.Helper()
	addr := TemporalAddress(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := temporalclient.Dial(ctx, temporalclient.Options{Address: addr, Namespace: "default", Codec: PayloadCodec(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		Unavailable(t, "dial temporal at %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// Main runs the test binary's tests and then releases what testenv made for them (the dev
// server TemporalAddress started, the binary Payportal built), so nothing outlives `go test`.
// Every package using either has `func TestMain(m *testing.M) { testenv.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	stopTemporal()
	removeBinary()
	os.Exit(code)
}

// stopTemporal stops the dev server TemporalAddress started, if any.
func stopTemporal() {
	if temporalDev != nil {
		_ = temporalDev.Stop()
	}
}

// Logger returns a logger writing to w (tests capture logs to search them for card numbers).
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// BookedWithReceiptDue creates a PayPal payment of amount (USD minor units) on accountID and
// books it as saga version 5 does, its receipt due for the outbox. It returns the payment's ID.
func BookedWithReceiptDue(t testing.TB, db *postgres.DB, accountID string, amount int64, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	id := billing.NewID(billing.PrefixPayment)
	if _, _, err := db.CreatePayment(ctx, billing.Payment{ID: id, AccountID: accountID, Status: billing.PaymentProcessing,
		Method: billing.MethodPayPal, Amount: billing.Money{Amount: amount, Currency: "USD"}, CreatedAt: at,
		WorkflowID: workflows.PaymentWorkflowID(id)}, "key-"+id, []byte("h")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BookPayment(ctx, postgres.Booking{PaymentID: id, At: at, MailReceipt: true}); err != nil {
		t.Fatal(err)
	}
	return id
}

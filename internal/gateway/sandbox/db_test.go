package sandbox

import (
	"context"
	"crypto/rand"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/payportal/payportal/internal/postgres/migrations"
	"github.com/payportal/payportal/internal/testenv"
)

// migrationFile is this package's migration; the tests apply it alone so they do not depend
// on the state of the others.
const migrationFile = "00002_sandbox_processors.sql"

// newTestPool creates a throwaway database, applies the sandbox migration with goose and
// drops the database when the test ends. Without a reachable PostgreSQL the test is skipped,
// except in CI where that is a failure.
func newTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, testenv.ServerURL())
	if err != nil {
		testenv.Unavailable(t, "postgres: %v", err)
	}
	defer admin.Close(ctx)

	name := "payportal_gw_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, testenv.ServerURL())
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	cfg, err := pgxpool.ParseConfig(testenv.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	t.Cleanup(pool.Close)

	sqlText, err := fs.ReadFile(migrations.FS, migrationFile)
	if err != nil {
		t.Fatalf("read %s: %v", migrationFile, err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db,
		fstest.MapFS{migrationFile: &fstest.MapFile{Data: sqlText}})
	if err != nil {
		t.Fatalf("prepare migration: %v", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("apply %s: %v", migrationFile, err)
	}
	// Down must work too: run it and come back up.
	if _, err := provider.Down(ctx); err != nil {
		t.Fatalf("roll back %s: %v", migrationFile, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("reapply %s: %v", migrationFile, err)
	}
	return pool
}

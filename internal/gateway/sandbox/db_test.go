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

// migrationFiles are this package's migrations; the tests apply them alone so they do not depend
// on the state of the others.
var migrationFiles = []string{"00002_sandbox_processors.sql", "00010_card_tokens_3ds.sql"}

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

	files := fstest.MapFS{}
	for _, f := range migrationFiles {
		sqlText, err := fs.ReadFile(migrations.FS, f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		files[f] = &fstest.MapFile{Data: sqlText}
	}
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files)
	if err != nil {
		t.Fatalf("prepare migration: %v", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("apply %v: %v", migrationFiles, err)
	}
	// Down must work too: run it and come back up.
	if _, err := provider.DownTo(ctx, 0); err != nil {
		t.Fatalf("roll back %v: %v", migrationFiles, err)
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("reapply %v: %v", migrationFiles, err)
	}
	return pool
}

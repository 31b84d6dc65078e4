// Package postgres is PayPortal's PostgreSQL storage, through pgx. Each store turns domain
// calls into SQL; the database's own constraints back up every invariant.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres/migrations"
)

// DB is the connection pool every store shares.
type DB struct {
	Pool *pgxpool.Pool
	// Events hears of the business events the stores record (a payment finished, a card
	// decided...), each once: when the statement made the transition, never on a repeat.
	// The app counts them in its metrics; nil: no one listens.
	Events Events
}

// Events are the business events the stores report. Implementations must be quick and safe
// for concurrent use: they are called after the write committed, on the caller's goroutine.
type Events interface {
	PaymentFinished(method billing.PaymentMethodKind, status billing.PaymentStatus)
	CardDecided(status billing.PaymentMethodStatus)
	PaymentCompensated(kind billing.Compensation)
	FindingRecorded(kind string, resolved bool)
	AccountPastDue()
	// ReceiptsSettled counts a receipt mailer's pass: mailed, given up, to retry.
	ReceiptsSettled(mailed, givenUp, retry int)
}

// events is db.Events, or a listener that ignores everything.
func (db *DB) events() Events {
	if db.Events == nil {
		return noEvents{}
	}
	return db.Events
}

type noEvents struct{}

func (noEvents) PaymentFinished(billing.PaymentMethodKind, billing.PaymentStatus) {}
func (noEvents) CardDecided(billing.PaymentMethodStatus)                          {}
func (noEvents) PaymentCompensated(billing.Compensation)                          {}
func (noEvents) FindingRecorded(string, bool)                                     {}
func (noEvents) AccountPastDue()                                                  {}
func (noEvents) ReceiptsSettled(int, int, int)                                    {}

// Open connects to databaseURL and checks the connection.
func Open(ctx context.Context, databaseURL string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnConfig.Tracer = queryTracer{}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping postgres at %s: %w", redactURL(databaseURL), err)
	}
	return &DB{Pool: pool}, nil
}

// Close releases every connection.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that Postgres answers; /readyz calls it.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// CreateDatabase creates the database named in databaseURL when it does not exist yet, by
// connecting to the server's postgres database. `payportal dev` and the tests use it.
func CreateDatabase(ctx context.Context, databaseURL string) error {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("database url names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect to postgres database: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Migrate applies every pending migration. Goose takes a Postgres advisory lock, so several
// processes starting at once migrate once.
func Migrate(ctx context.Context, db *DB) error {
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	return migrateSQL(ctx, sqlDB)
}

func migrateSQL(ctx context.Context, sqlDB *sql.DB) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("prepare migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("prepare migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// isUniqueViolation reports whether err is Postgres refusing a duplicate.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// isUniqueViolationOf reports whether err is Postgres refusing a duplicate in the unique
// index or constraint named constraint.
func isUniqueViolationOf(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == constraint
}

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.Pool, fn)
}

// inOneTrip runs b as one transaction in one round trip: sent between BEGIN and COMMIT, with
// its callbacks run as the answers come back. Go cannot stop that COMMIT: the statements must
// decide in SQL what they write, and a callback's error does not undo it. An error in any
// statement leaves nothing committed: Postgres skips the rest, COMMIT included, and the
// transaction is rolled back here.
func (db *DB) inOneTrip(ctx context.Context, b *pgx.Batch) error {
	return db.withConn(ctx, func(conn *pgxpool.Conn) error {
		tx := &pgx.Batch{}
		tx.Queue("BEGIN")
		tx.QueuedQueries = append(tx.QueuedQueries, b.QueuedQueries...)
		tx.Queue("COMMIT").Exec(committed)
		return conn.SendBatch(ctx, tx).Close()
	})
}

// inTwoTrips runs a transaction in two round trips. first is sent with BEGIN (its callbacks
// run then); last, given what they read, answers the statements to send with COMMIT, or an
// error to roll back. An error in any statement leaves nothing committed: Postgres skips the
// rest of a failed pipeline, COMMIT included, and the transaction is rolled back here.
func (db *DB) inTwoTrips(ctx context.Context, first *pgx.Batch, last func() (*pgx.Batch, error)) error {
	return db.withConn(ctx, func(conn *pgxpool.Conn) error {
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.QueuedQueries = append(b.QueuedQueries, first.QueuedQueries...)
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		b, err := last()
		if err != nil {
			return err
		}
		if b == nil {
			b = &pgx.Batch{}
		}
		b.Queue("COMMIT").Exec(committed)
		return conn.SendBatch(ctx, b).Close()
	})
}

// withConn runs fn on a connection of the pool, rolling back whatever transaction fn leaves
// open on it.
func (db *DB) withConn(ctx context.Context, fn func(*pgxpool.Conn) error) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// Should the rollback fail too (a cancelled context), the pool closes a connection given
	// back inside a transaction rather than lend it again.
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()
	return fn(conn)
}

// committed checks COMMIT's answer: ROLLBACK when the transaction had already failed.
func committed(tag pgconn.CommandTag) error {
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// queryTracer makes an OpenTelemetry span of each query run inside a traced operation (an
// HTTP request, an activity), as a child of that operation's span; queries outside any trace
// (pool upkeep, the first ping) make none. It takes the tracer from the global provider the
// app installs, so without tracing configured it costs a context lookup.
type queryTracer struct{}

type querySpanKey struct{}

const tracerName = "github.com/payportal/payportal/internal/postgres"

func (queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op, _, _ := strings.Cut(strings.TrimSpace(data.SQL), " ")
	op = strings.ToUpper(op)
	// The statement's text holds no values: pgx sends them apart, as parameters.
	ctx, span := otel.Tracer(tracerName).Start(ctx, "postgres "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", op),
			attribute.String("db.query.text", data.SQL)))
	return context.WithValue(ctx, querySpanKey{}, span)
}

func (queryTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	endQuerySpan(ctx, data.Err)
}

// A batch is one round trip, so one span: "postgres BATCH", its statements counted.
func (queryTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	ctx, span := otel.Tracer(tracerName).Start(ctx, "postgres BATCH", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.operation.name", "BATCH"),
			attribute.Int("db.operation.batch.size", data.Batch.Len())))
	return context.WithValue(ctx, querySpanKey{}, span)
}

func (queryTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if span, ok := ctx.Value(querySpanKey{}).(trace.Span); ok && data.Err != nil && !errors.Is(data.Err, pgx.ErrNoRows) {
		span.RecordError(data.Err)
	}
}

func (queryTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	endQuerySpan(ctx, data.Err)
}

func endQuerySpan(ctx context.Context, err error) {
	span, ok := ctx.Value(querySpanKey{}).(trace.Span)
	if !ok {
		return
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		span.RecordError(err)
		span.SetStatus(codes.Error, "query failed")
	}
	span.End()
}

package testenv

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// IdleConnPID answers the backend pid of the connection pool lends next, failing the test
// unless it is outside any transaction: what a pool of one connection must be given back in
// after a transaction, committed or not.
func IdleConnPID(t testing.TB, pool *pgxpool.Pool) uint32 {
	t.Helper()
	conn, err := pool.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if s := conn.Conn().PgConn().TxStatus(); s != 'I' {
		t.Errorf("the pool lends a connection in transaction status %q, want idle", s)
	}
	return conn.Conn().PgConn().PID()
}

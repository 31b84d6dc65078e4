package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Committed is committed, for the tests of postgres_test.
var Committed = committed

// InTwoTrips is inTwoTrips.
func (db *DB) InTwoTrips(ctx context.Context, first *pgx.Batch, last func() (*pgx.Batch, error)) error {
	return db.inTwoTrips(ctx, first, last)
}

// InOneTrip is inOneTrip.
func (db *DB) InOneTrip(ctx context.Context, b *pgx.Batch) error { return db.inOneTrip(ctx, b) }

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// Lists are keyset pages: newest (or oldest) first by (created_at, id), starting after the
// row the cursor names, never OFFSET.

// cursorCreatedAt is the created_at of the row a page starts after, read by query (which
// selects created_at where its conditions hold). A cursor the query does not find is a 422 on
// starting_after saying it names no such row: what is the kind of row it should name.
func (db *DB) cursorCreatedAt(ctx context.Context, what, query string, args ...any) (time.Time, error) {
	var at time.Time
	err := db.Pool.QueryRow(ctx, query, args...).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, billing.Invalid(billing.CodeInvalidCursor, "starting_after", "starting_after names no %s", what)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("load the cursor (%s): %w", what, err)
	}
	return at, nil
}

// collectPage collects the rows of a page queried with LIMIT limit+1: the extra row is dropped
// and says that another page follows.
func collectPage[T any](rows pgx.Rows, limit int, scan func(pgx.Row) (T, error)) (page []T, hasMore bool, err error) {
	page, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, false, err
	}
	if len(page) > limit {
		return page[:limit], true, nil
	}
	return page, false, nil
}

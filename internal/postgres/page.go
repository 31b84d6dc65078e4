package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

// Lists are keyset pages: newest (or oldest) first by (created_at, id), starting after (or
// ending before) the row the cursor names, never OFFSET.

// cursorCreatedAt is the created_at of the row a page starts after (or ends before), read by
// query (which selects created_at where its conditions hold). A cursor the query does not
// find is a 422 on param saying it names no such row: what is the kind of row it should name.
func (db *DB) cursorCreatedAt(ctx context.Context, param, what, query string, args ...any) (time.Time, error) {
	var at time.Time
	err := db.Pool.QueryRow(ctx, query, args...).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		code := billing.CodeInvalidCursor
		if param == "ending_before" {
			code = billing.CodeInvalidEndingBefore
		}
		return time.Time{}, billing.Invalid(code, param, "%s names no %s", param, what)
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

// keysetList describes one list: which rows, in which order, and what its cursor must name.
type keysetList struct {
	name        string // for errors: "invoices"
	from        string // table and alias: "payment_methods pm"
	col         string // column prefix matching the alias: "pm." or ""
	columns     string
	scope       string // condition every row and the cursor meet, placeholders from $1
	scopeArgs   []any
	filter      string // optional condition on the listed rows only (not the cursor), numbered after scope's
	filterArgs  []any
	oldestFirst bool
	cursorNames string // what starting_after must name, for its 422
}

// listPage reads one keyset page of l: rows ordered by (created_at, id) starting after the
// row the cursor names, with LIMIT limit+1 to learn whether another page follows. With
// ending_before, the rows just before the cursor are read walking the other way (the same
// index, scanned backwards) and turned back into the list's order; has_more then says that
// rows come before them.
func listPage[T any](ctx context.Context, db *DB, l keysetList, p billing.ListParams, scan func(pgx.Row) (T, error)) ([]T, bool, error) {
	where, args := l.scope, append([]any{}, l.scopeArgs...)
	if l.filter != "" {
		where += " AND " + l.filter
		args = append(args, l.filterArgs...)
	}
	if !p.Created.GTE.IsZero() {
		args = append(args, p.Created.GTE)
		where += fmt.Sprintf(" AND %screated_at >= $%d", l.col, len(args))
	}
	if !p.Created.LT.IsZero() {
		args = append(args, p.Created.LT)
		where += fmt.Sprintf(" AND %screated_at < $%d", l.col, len(args))
	}
	backwards := p.EndingBefore != ""
	direction, after := "DESC", "<"
	if l.oldestFirst != backwards {
		direction, after = "ASC", ">"
	}
	cursor, param := p.StartingAfter, "starting_after"
	if backwards {
		cursor, param = p.EndingBefore, "ending_before"
	}
	if cursor != "" {
		cursorArgs := append(append([]any{}, l.scopeArgs...), cursor)
		at, err := db.cursorCreatedAt(ctx, param, l.cursorNames, fmt.Sprintf(`SELECT %[1]screated_at FROM %[2]s WHERE %[3]s AND %[1]sid = $%[4]d`,
			l.col, l.from, l.scope, len(cursorArgs)), cursorArgs...)
		if err != nil {
			return nil, false, err
		}
		args = append(args, at, cursor)
		where += fmt.Sprintf(" AND (%[1]screated_at, %[1]sid) %[2]s ($%[3]d, $%[4]d)", l.col, after, len(args)-1, len(args))
	}
	args = append(args, p.Limit+1)
	q := fmt.Sprintf(`SELECT %[1]s FROM %[2]s WHERE %[3]s ORDER BY %[4]screated_at %[5]s, %[4]sid %[5]s LIMIT $%[6]d`,
		l.columns, l.from, where, l.col, direction, len(args))
	rows, err := db.Pool.Query(ctx, q, args...)
	if err != nil {
		return nil, false, fmt.Errorf("list %s: %w", l.name, err)
	}
	page, hasMore, err := collectPage(rows, p.Limit, scan)
	if err != nil {
		return nil, false, fmt.Errorf("list %s: %w", l.name, err)
	}
	if backwards {
		slices.Reverse(page)
	}
	return page, hasMore, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
)

// Rep is an account rep: a named rep key.
type Rep struct {
	KeyID      string
	Name       string
	CreatedAt  time.Time
	DisabledAt *time.Time
}

// AddRep stores the digest of key as the key of a new rep called name; a name already taken
// is a conflict (rep_exists).
func (db *DB) AddRep(ctx context.Context, name, key string) (Rep, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return Rep{}, billing.Invalid(billing.CodeInvalidValue, "name", "a rep's name is 1 to 100 printable characters")
	}
	r := Rep{KeyID: billing.NewID(billing.PrefixAPIKey), Name: name}
	err := db.Pool.QueryRow(ctx, `INSERT INTO api_keys (id, key_hash, label, role) VALUES ($1, $2, $3, 'rep')
		RETURNING created_at`, r.KeyID, HashAPIKey(key), name).Scan(&r.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return Rep{}, billing.Conflict("rep_exists", "a rep called %q already exists", name)
	}
	if err != nil {
		return Rep{}, fmt.Errorf("add rep %q: %w", name, err)
	}
	return r, nil
}

// DisableRep revokes the key of the rep named (or whose key id is) nameOrID and ends its
// console sessions; every request looks the key up, so it stops working at once.
func (db *DB) DisableRep(ctx context.Context, nameOrID string) (Rep, error) {
	var r Rep
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
			WHERE role = 'rep' AND (id = $1 OR label = $1) RETURNING id, label, created_at, revoked_at`,
			nameOrID).Scan(&r.KeyID, &r.Name, &r.CreatedAt, &r.DisabledAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.NotFound("rep")
		}
		if err != nil {
			return fmt.Errorf("disable rep %q: %w", nameOrID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM rep_sessions WHERE key_id = $1`, r.KeyID); err != nil {
			return fmt.Errorf("end the sessions of rep %q: %w", nameOrID, err)
		}
		return nil
	})
	return r, err
}

// Reps lists every rep, by name.
func (db *DB) Reps(ctx context.Context) ([]Rep, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, label, created_at, revoked_at FROM api_keys WHERE role = 'rep' ORDER BY label`)
	if err != nil {
		return nil, fmt.Errorf("list reps: %w", err)
	}
	reps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rep, error) {
		var r Rep
		err := row.Scan(&r.KeyID, &r.Name, &r.CreatedAt, &r.DisabledAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list reps: %w", err)
	}
	return reps, nil
}

// RepSession is a rep signed in to the console.
type RepSession struct {
	KeyID     string
	Name      string
	CSRFToken string
	ExpiresAt time.Time
}

// CreateRepSession stores a console session under the digest of its id.
func (db *DB) CreateRepSession(ctx context.Context, id string, s RepSession) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO rep_sessions (id_hash, key_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)`,
		HashAPIKey(id), s.KeyID, s.CSRFToken, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create rep session: %w", err)
	}
	return nil
}

// RepSessionByID is the live session with that id: not expired at now, its rep's key not
// revoked. Anything else is unauthenticated.
func (db *DB) RepSessionByID(ctx context.Context, id string, now time.Time) (RepSession, error) {
	var s RepSession
	err := db.Pool.QueryRow(ctx, `SELECT s.key_id, k.label, s.csrf_token, s.expires_at
		FROM rep_sessions s JOIN api_keys k ON k.id = s.key_id
		WHERE s.id_hash = $1 AND s.expires_at > $2 AND k.revoked_at IS NULL AND k.role = 'rep'`,
		HashAPIKey(id), now).Scan(&s.KeyID, &s.Name, &s.CSRFToken, &s.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return RepSession{}, billing.Errorf(billing.KindUnauthenticated, billing.CodeInvalidKey, "no such session")
	}
	if err != nil {
		return RepSession{}, fmt.Errorf("look up rep session: %w", err)
	}
	return s, nil
}

// DeleteRepSession ends a session (sign out), and forgets the expired ones on the way.
func (db *DB) DeleteRepSession(ctx context.Context, id string, now time.Time) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM rep_sessions WHERE id_hash = $1 OR expires_at <= $2`, HashAPIKey(id), now)
	if err != nil {
		return fmt.Errorf("delete rep session: %w", err)
	}
	return nil
}

// DecisionFilter narrows the decision history.
type DecisionFilter struct {
	RepKeyID string                      // "": every rep
	Status   billing.PaymentMethodStatus // validated, rejected or expired; "": every outcome
	Limit    int
}

// Decisions lists decided cards, newest decision first.
func (db *DB) Decisions(ctx context.Context, f DecisionFilter) ([]billing.PaymentMethod, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 100
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+paymentMethodColumns+` FROM payment_methods pm
		WHERE pm.decided_at IS NOT NULL AND ($1 = '' OR pm.decided_by = $1) AND ($2 = '' OR pm.status = $2)
		ORDER BY pm.decided_at DESC, pm.id DESC LIMIT $3`, f.RepKeyID, string(f.Status), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	pms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.PaymentMethod, error) { return scanPaymentMethod(r) })
	if err != nil {
		return nil, fmt.Errorf("list decisions: %w", err)
	}
	return pms, nil
}

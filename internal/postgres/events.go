package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
)

type execer interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}

// recordEvent writes an event into the outbox, in the caller's transaction: the event exists
// exactly when the change it describes does. object is the Payment, PaymentMethod or Invoice
// as the change left it.
func recordEvent(ctx context.Context, tx execer, accountID string, typ billing.EventType, objectID string, object any) error {
	args, err := eventArgs(accountID, typ, objectID, object)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, insertEventSQL, args...); err != nil {
		return fmt.Errorf("record event %s of %s: %w", typ, objectID, err)
	}
	return nil
}

// queueEvent is recordEvent as one statement of a batch sent in the caller's transaction.
func queueEvent(b *pgx.Batch, accountID string, typ billing.EventType, objectID string, object any) error {
	args, err := eventArgs(accountID, typ, objectID, object)
	if err != nil {
		return err
	}
	b.Queue(insertEventSQL, args...)
	return nil
}

const insertEventSQL = `INSERT INTO events (id, account_id, type, object_id, object) VALUES ($1, $2, $3, $4, $5)`

func eventArgs(accountID string, typ billing.EventType, objectID string, object any) ([]any, error) {
	snapshot, err := json.Marshal(object)
	if err != nil {
		return nil, fmt.Errorf("event %s of %s: %w", typ, objectID, err)
	}
	return []any{billing.NewID(billing.PrefixEvent), accountID, typ, objectID, snapshot}, nil
}

// recordPaymentEvent records typ with the payment as it now is in tx.
func recordPaymentEvent(ctx context.Context, tx pgx.Tx, paymentID string, typ billing.EventType) error {
	p, err := scanPayment(tx.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, paymentID))
	if err != nil {
		return fmt.Errorf("load payment %s for its event: %w", paymentID, err)
	}
	return recordEvent(ctx, tx, p.AccountID, typ, p.ID, p)
}

// recordInvoiceEvent records typ with the invoice as it now is in tx (without its items).
func recordInvoiceEvent(ctx context.Context, tx pgx.Tx, invoiceID string, typ billing.EventType) error {
	inv, err := scanInvoice(tx.QueryRow(ctx, `SELECT `+invoiceColumns+` FROM invoices WHERE id = $1`, invoiceID))
	if err != nil {
		return fmt.Errorf("load invoice %s for its event: %w", invoiceID, err)
	}
	return recordEvent(ctx, tx, inv.AccountID, typ, inv.ID, inv)
}

const eventColumns = `e.id, e.account_id, e.type, e.object_id, e.object, e.created_at`

func scanEvent(row pgx.Row) (billing.Event, error) {
	var e billing.Event
	err := row.Scan(&e.ID, &e.AccountID, &e.Type, &e.ObjectID, &e.Object, &e.CreatedAt)
	return e, err
}

// AccountEvents lists the account's events newest first, one keyset page at a time, of one type
// when typ is set.
func (db *DB) AccountEvents(ctx context.Context, accountID string, typ billing.EventType, p billing.ListParams) ([]billing.Event, bool, error) {
	l := keysetList{name: "events", from: "events e", col: "e.", columns: eventColumns,
		scope: "e.account_id = $1", scopeArgs: []any{accountID}, cursorNames: "event of this account"}
	if typ != "" {
		l.filter, l.filterArgs = "e.type = $2", []any{typ}
	}
	events, hasMore, err := listPage(ctx, db, l, p, scanEvent)
	if err != nil {
		return nil, false, err
	}
	for i := range events {
		if events[i].Deliveries, err = db.eventDeliveries(ctx, events[i].ID); err != nil {
			return nil, false, err
		}
	}
	return events, hasMore, nil
}

// Event is one event of the account with its delivery attempts, or not_found.
func (db *DB) Event(ctx context.Context, accountID, id string) (billing.Event, error) {
	e, err := db.EventByID(ctx, id)
	if err != nil || e.AccountID != accountID {
		if err == nil || errors.Is(err, errNoEvent) {
			return billing.Event{}, billing.NotFound("event")
		}
		return billing.Event{}, err
	}
	return e, nil
}

var errNoEvent = errors.New("no such event")

// EventByID is an event with its delivery attempts, whoever's it is.
func (db *DB) EventByID(ctx context.Context, id string) (billing.Event, error) {
	e, err := scanEvent(db.Pool.QueryRow(ctx, `SELECT `+eventColumns+` FROM events e WHERE e.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Event{}, fmt.Errorf("event %s: %w", id, errNoEvent)
	}
	if err != nil {
		return billing.Event{}, fmt.Errorf("load event %s: %w", id, err)
	}
	e.Deliveries, err = db.eventDeliveries(ctx, id)
	return e, err
}

// IsNoEvent reports an event that does not exist (any more).
func IsNoEvent(err error) bool { return errors.Is(err, errNoEvent) }

func (db *DB) eventDeliveries(ctx context.Context, eventID string) ([]billing.EventDelivery, error) {
	rows, err := db.Pool.Query(ctx, `SELECT endpoint_id, attempted_at, status_code, duration_ms FROM event_deliveries
		WHERE event_id = $1 ORDER BY attempted_at, id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of %s: %w", eventID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.EventDelivery, error) {
		var (
			d  billing.EventDelivery
			ms int64
		)
		err := r.Scan(&d.EndpointID, &d.AttemptedAt, &d.StatusCode, &ms)
		d.Duration = time.Duration(ms) * time.Millisecond
		return d, err
	})
}

// RecordDelivery keeps one delivery attempt, shown on the event.
func (db *DB) RecordDelivery(ctx context.Context, eventID string, d billing.EventDelivery) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO event_deliveries (event_id, endpoint_id, attempted_at, status_code, duration_ms)
		VALUES ($1, $2, $3, $4, $5)`, eventID, d.EndpointID, d.AttemptedAt, d.StatusCode, d.Duration.Milliseconds())
	if err != nil {
		return fmt.Errorf("record delivery of %s: %w", eventID, err)
	}
	return nil
}

// UndispatchedEvent is an outbox row not yet handed to its delivery workflows, with the
// endpoints that want it.
type UndispatchedEvent struct {
	EventID   string
	Endpoints []string
}

// UndispatchedEvents is up to limit of the oldest events not yet dispatched, each with the
// live endpoints of its account that subscribed to its type.
func (db *DB) UndispatchedEvents(ctx context.Context, limit int) ([]UndispatchedEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT e.id, coalesce(array_agg(w.id ORDER BY w.id) FILTER (WHERE w.id IS NOT NULL), '{}')
		FROM (SELECT id, account_id, type, created_at FROM events WHERE dispatched_at IS NULL ORDER BY created_at LIMIT $1) e
		LEFT JOIN webhook_endpoints w ON w.account_id = e.account_id AND e.type = ANY (w.events)
			AND w.deleted_at IS NULL AND w.disabled_at IS NULL
		GROUP BY e.id, e.created_at ORDER BY e.created_at`, limit)
	if err != nil {
		return nil, fmt.Errorf("list undispatched events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UndispatchedEvent, error) {
		var u UndispatchedEvent
		err := r.Scan(&u.EventID, &u.Endpoints)
		return u, err
	})
}

// MarkEventsDispatched says every delivery workflow of each event was started: one statement
// for a dispatcher's whole pass, not a commit per event.
func (db *DB) MarkEventsDispatched(ctx context.Context, eventIDs []string, at time.Time) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE events SET dispatched_at = $2 WHERE id = ANY ($1)`, eventIDs, at); err != nil {
		return fmt.Errorf("mark %d events dispatched: %w", len(eventIDs), err)
	}
	return nil
}

const webhookColumns = `id, account_id, url, events, description, created_at, disabled_at`

// scanWebhook reads webhookColumns, then into extra whatever the query selects after them.
func scanWebhook(row pgx.Row, extra ...any) (billing.WebhookEndpoint, error) {
	var (
		w      billing.WebhookEndpoint
		events []string
	)
	err := row.Scan(append([]any{&w.ID, &w.AccountID, &w.URL, &events, &w.Description, &w.CreatedAt, &w.DisabledAt}, extra...)...)
	for _, t := range events {
		w.Events = append(w.Events, billing.EventType(t))
	}
	return w, err
}

// CreateWebhookEndpoint stores an endpoint with its sealed secret (see codec.KeyRing.Seal);
// created is false when an endpoint with its id exists already (a replayed request: the
// caller compares and answers it).
func (db *DB) CreateWebhookEndpoint(ctx context.Context, w billing.WebhookEndpoint, sealedSecret []byte) (created bool, err error) {
	events := make([]string, len(w.Events))
	for i, t := range w.Events {
		events[i] = string(t)
	}
	tag, err := db.Pool.Exec(ctx, `INSERT INTO webhook_endpoints (id, account_id, url, events, description, secret, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		w.ID, w.AccountID, w.URL, events, w.Description, sealedSecret, w.CreatedAt)
	if err != nil {
		return false, fmt.Errorf("create webhook endpoint for %s: %w", w.AccountID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// WebhookEndpointByID is an endpoint in any state with its sealed secret; not_found when
// there is none.
func (db *DB) WebhookEndpointByID(ctx context.Context, id string) (billing.WebhookEndpoint, []byte, error) {
	var sealed []byte
	w, err := scanWebhook(db.Pool.QueryRow(ctx, `SELECT `+webhookColumns+`, secret FROM webhook_endpoints WHERE id = $1`, id), &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.WebhookEndpoint{}, nil, billing.NotFound("webhook endpoint")
	}
	if err != nil {
		return billing.WebhookEndpoint{}, nil, fmt.Errorf("load webhook endpoint %s: %w", id, err)
	}
	return w, sealed, nil
}

// WebhookEndpoints lists the account's endpoints (not deleted), newest first, one keyset
// page at a time.
func (db *DB) WebhookEndpoints(ctx context.Context, accountID string, p billing.ListParams) ([]billing.WebhookEndpoint, bool, error) {
	return listPage(ctx, db, keysetList{name: "webhook endpoints", from: "webhook_endpoints", columns: webhookColumns,
		scope: "account_id = $1 AND deleted_at IS NULL", scopeArgs: []any{accountID},
		cursorNames: "webhook endpoint of this account"}, p, func(r pgx.Row) (billing.WebhookEndpoint, error) { return scanWebhook(r) })
}

// DeleteWebhookEndpoint stops deliveries to an endpoint of the account; not_found when it
// has none such. Its past deliveries stay on the events.
func (db *DB) DeleteWebhookEndpoint(ctx context.Context, accountID, id string, at time.Time) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE webhook_endpoints SET deleted_at = $3
		WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL`, id, accountID, at)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return billing.NotFound("webhook endpoint")
	}
	return nil
}

// ErrNoWebhookEndpoint says the endpoint was deleted or disabled: nothing to deliver to.
var ErrNoWebhookEndpoint = errors.New("webhook endpoint deleted or disabled")

// LiveWebhookEndpoint is an endpoint to deliver to with its sealed secret, or
// ErrNoWebhookEndpoint.
func (db *DB) LiveWebhookEndpoint(ctx context.Context, id string) (billing.WebhookEndpoint, []byte, error) {
	var sealed []byte
	row := db.Pool.QueryRow(ctx, `SELECT `+webhookColumns+`, secret FROM webhook_endpoints
		WHERE id = $1 AND deleted_at IS NULL AND disabled_at IS NULL`, id)
	w, err := scanWebhook(row, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.WebhookEndpoint{}, nil, ErrNoWebhookEndpoint
	}
	if err != nil {
		return billing.WebhookEndpoint{}, nil, fmt.Errorf("load webhook endpoint %s: %w", id, err)
	}
	return w, sealed, nil
}

// LiveWebhookEndpointsFor lists the account's live endpoints that want events of typ.
func (db *DB) LiveWebhookEndpointsFor(ctx context.Context, accountID string, typ billing.EventType) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id FROM webhook_endpoints WHERE account_id = $1 AND $2 = ANY (events)
		AND deleted_at IS NULL AND disabled_at IS NULL ORDER BY id`, accountID, typ)
	if err != nil {
		return nil, fmt.Errorf("endpoints of %s: %w", accountID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DisableWebhookEndpoint stops deliveries to an endpoint that kept failing; changed is false
// when it already was disabled or deleted. It answers the endpoint for the owner's mail.
func (db *DB) DisableWebhookEndpoint(ctx context.Context, id string, at time.Time) (w billing.WebhookEndpoint, changed bool, err error) {
	w, err = scanWebhook(db.Pool.QueryRow(ctx, `UPDATE webhook_endpoints SET disabled_at = $2
		WHERE id = $1 AND disabled_at IS NULL AND deleted_at IS NULL RETURNING `+webhookColumns, id, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.WebhookEndpoint{}, false, nil
	}
	if err != nil {
		return billing.WebhookEndpoint{}, false, fmt.Errorf("disable webhook endpoint %s: %w", id, err)
	}
	return w, true, nil
}

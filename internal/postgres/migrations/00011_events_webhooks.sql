-- Events and webhook endpoints.
--
-- events is an outbox: each row is written in the same transaction as the change it
-- describes, with a snapshot of the object as it was then (the domain object's JSON; the API
-- renders it as it renders the object). dispatched_at is set once a delivery workflow was
-- started for every endpoint that wanted it; a row left NULL is picked up again, so a crash
-- between the commit and the start loses nothing.
--
-- A webhook secret is stored encrypted with the payload key ring (see internal/codec): a
-- database reader cannot sign events.

-- +goose Up
CREATE TABLE events (
    id            text PRIMARY KEY,
    account_id    text NOT NULL REFERENCES accounts (id),
    type          text NOT NULL,
    object_id     text NOT NULL,
    object        jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    dispatched_at timestamptz
);
CREATE INDEX events_account_created ON events (account_id, created_at, id);
CREATE INDEX events_undispatched ON events (created_at) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    url         text NOT NULL,
    events      text[] NOT NULL,
    description text NOT NULL DEFAULT '',
    secret      bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    disabled_at timestamptz,
    deleted_at  timestamptz
);
CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, created_at, id);

CREATE TABLE event_deliveries (
    id           bigserial PRIMARY KEY,
    event_id     text NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    endpoint_id  text NOT NULL REFERENCES webhook_endpoints (id),
    attempted_at timestamptz NOT NULL,
    status_code  integer NOT NULL,
    duration_ms  integer NOT NULL
);
CREATE INDEX event_deliveries_event ON event_deliveries (event_id, attempted_at);

-- +goose Down
DROP TABLE event_deliveries;
DROP TABLE webhook_endpoints;
DROP TABLE events;

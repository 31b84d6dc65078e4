-- The sandbox card processor and sandbox PayPal (internal/gateway/sandbox) keep their state
-- here, so it survives worker restarts and is shared by separate API and worker processes.
-- Like a real processor, they never see the card number again after tokenization: a card is
-- its token, public facts and the sandbox behaviour its number selected.

-- +goose Up
CREATE TABLE sandbox_cards (
    token      text PRIMARY KEY,
    brand      text NOT NULL,
    last4      text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month  integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year   integer NOT NULL,
    -- ok | decline:<code> (Verify and Authorize) | charge_decline:<code> (Authorize only)
    -- | transient:<n> (Authorize fails n times per idempotency key, then succeeds)
    behaviour  text NOT NULL CHECK (behaviour ~ '^(ok|decline:[a-z_]+|charge_decline:[a-z_]+|transient:[0-9]+)$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Authorize attempts per idempotency key, for the transient:<n> behaviour.
CREATE TABLE sandbox_charge_attempts (
    idempotency_key text PRIMARY KEY,
    attempts        integer NOT NULL CHECK (attempts > 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_authorizations (
    id              text PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    token           text NOT NULL REFERENCES sandbox_cards (token),
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description     text NOT NULL DEFAULT '',
    status          text NOT NULL CHECK (status IN ('authorized', 'captured', 'voided')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    voided_at       timestamptz
);

CREATE TABLE sandbox_captures (
    id               text PRIMARY KEY,
    -- exactly one capture per authorization, whatever the key
    authorization_id text NOT NULL UNIQUE REFERENCES sandbox_authorizations (id),
    idempotency_key  text NOT NULL UNIQUE,
    amount           bigint NOT NULL CHECK (amount > 0),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_refunds (
    id              text PRIMARY KEY,
    capture_id      text NOT NULL REFERENCES sandbox_captures (id),
    idempotency_key text NOT NULL UNIQUE,
    amount          bigint NOT NULL CHECK (amount > 0),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_refunds_capture_id_idx ON sandbox_refunds (capture_id);

CREATE TABLE sandbox_paypal_orders (
    id           text PRIMARY KEY,
    request_id   text NOT NULL UNIQUE,
    amount       bigint NOT NULL CHECK (amount > 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description  text NOT NULL DEFAULT '',
    return_url   text NOT NULL DEFAULT '',
    cancel_url   text NOT NULL DEFAULT '',
    approval_url text NOT NULL,
    status       text NOT NULL CHECK (status IN ('created', 'approved', 'canceled', 'captured', 'voided')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_paypal_captures (
    id         text PRIMARY KEY,
    -- an order is captured at most once
    order_id   text NOT NULL UNIQUE REFERENCES sandbox_paypal_orders (id),
    request_id text NOT NULL,
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sandbox_paypal_refunds (
    id         text PRIMARY KEY,
    capture_id text NOT NULL REFERENCES sandbox_paypal_captures (id),
    request_id text NOT NULL UNIQUE,
    amount     bigint NOT NULL CHECK (amount > 0),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_paypal_refunds_capture_id_idx ON sandbox_paypal_refunds (capture_id);

-- +goose Down
DROP TABLE sandbox_paypal_refunds;
DROP TABLE sandbox_paypal_captures;
DROP TABLE sandbox_paypal_orders;
DROP TABLE sandbox_refunds;
DROP TABLE sandbox_captures;
DROP TABLE sandbox_authorizations;
DROP TABLE sandbox_charge_attempts;
DROP TABLE sandbox_cards;

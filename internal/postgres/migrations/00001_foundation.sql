-- +goose Up
-- The foundation schema. Money is bigint minor units; the database enforces what must always
-- hold, so a bug in the application cannot write an impossible invoice or a second ledger
-- entry for one payment.

CREATE TABLE accounts (
    id              text PRIMARY KEY CHECK (id ~ '^acct_[a-z0-9_]+$'),
    company_name    text NOT NULL CHECK (company_name <> ''),
    address_line1   text NOT NULL,
    address_line2   text NOT NULL DEFAULT '',
    city            text NOT NULL,
    state           text NOT NULL DEFAULT '',
    postal_code     text NOT NULL,
    country         text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    billing_day     smallint NOT NULL CHECK (billing_day BETWEEN 1 AND 28),
    language        text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'fr')),
    contact_email   text NOT NULL,
    tax_rate_bps    bigint NOT NULL DEFAULT 0 CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'past_due')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Keys are stored as SHA-256 digests: a leaked table does not leak usable keys.
CREATE TABLE api_keys (
    id          text PRIMARY KEY CHECK (id ~ '^key_[a-z0-9_]+$'),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    label       text NOT NULL,
    role        text NOT NULL CHECK (role IN ('customer', 'rep')),
    account_id  text REFERENCES accounts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'customer') = (account_id IS NOT NULL))
);

CREATE TABLE invoices (
    id            text PRIMARY KEY CHECK (id ~ '^inv_[a-z0-9_]+$'),
    account_id    text NOT NULL REFERENCES accounts (id),
    number        text NOT NULL UNIQUE,
    type          text NOT NULL CHECK (type IN ('new', 'recurring', 'one_time', 'credit', 'refund')),
    status        text NOT NULL CHECK (status IN ('open', 'paid', 'void')),
    currency      text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    period_start  date,
    period_end    date,
    subtotal      bigint NOT NULL,
    tax           bigint NOT NULL,
    total         bigint NOT NULL,
    amount_paid   bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    CHECK (total = subtotal + tax),
    -- Credits and refunds give money back; every other type bills.
    CHECK (CASE WHEN type IN ('credit', 'refund') THEN total < 0 ELSE total >= 0 END),
    CHECK (amount_paid >= 0 AND amount_paid <= greatest(total, 0)),
    CHECK (period_end IS NULL OR period_start <= period_end),
    CHECK (type <> 'recurring' OR period_start IS NOT NULL)
);
-- Keyset pagination walks (created_at, id) newest first.
CREATE INDEX invoices_account_created ON invoices (account_id, created_at DESC, id DESC);
CREATE INDEX invoices_account_type_created ON invoices (account_id, type, created_at DESC, id DESC);
-- One recurring invoice per account and period, whatever is re-run.
CREATE UNIQUE INDEX invoices_one_recurring_per_period ON invoices (account_id, period_start) WHERE type = 'recurring';

CREATE TABLE invoice_items (
    id            text PRIMARY KEY CHECK (id ~ '^ii_[a-z0-9_]+$'),
    invoice_id    text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position      int NOT NULL,
    description   text NOT NULL CHECK (description <> ''),
    category      text NOT NULL,
    quantity      bigint NOT NULL CHECK (quantity > 0),
    unit_amount   bigint NOT NULL,
    amount        bigint NOT NULL,
    period_start  date,
    period_end    date,
    CHECK (amount = quantity * unit_amount),
    UNIQUE (invoice_id, position)
);

CREATE TABLE invoice_item_details (
    id             text PRIMARY KEY CHECK (id ~ '^iid_[a-z0-9_]+$'),
    item_id        text NOT NULL REFERENCES invoice_items (id) ON DELETE CASCADE,
    position       int NOT NULL,
    description    text NOT NULL,
    resource_name  text NOT NULL DEFAULT '',
    quantity       bigint NOT NULL CHECK (quantity >= 0),
    unit           text NOT NULL DEFAULT '',
    unit_amount    bigint NOT NULL,
    amount         bigint NOT NULL,
    CHECK (amount = quantity * unit_amount),
    UNIQUE (item_id, position)
);

-- Charges billed every month on the account's billing day; the recurring invoice and the
-- billing summary's estimate are both computed from this table.
CREATE TABLE recurring_charges (
    id           text PRIMARY KEY,
    account_id   text NOT NULL REFERENCES accounts (id),
    description  text NOT NULL,
    category     text NOT NULL,
    quantity     bigint NOT NULL CHECK (quantity > 0),
    unit_amount  bigint NOT NULL CHECK (unit_amount >= 0),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recurring_charges_account ON recurring_charges (account_id) WHERE active;

CREATE TABLE payment_methods (
    id                   text PRIMARY KEY CHECK (id ~ '^pm_[a-z0-9_]+$'),
    account_id           text NOT NULL REFERENCES accounts (id),
    status               text NOT NULL CHECK (status IN ('pending_validation', 'validated', 'rejected', 'expired')),
    processor_token      text NOT NULL,
    brand                text NOT NULL,
    last4                text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month            smallint NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year             smallint NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
    holder_name          text NOT NULL,
    eu_supported         boolean NOT NULL DEFAULT false,
    contact_email        text NOT NULL,
    address_line1        text NOT NULL,
    address_line2        text NOT NULL DEFAULT '',
    city                 text NOT NULL,
    state                text NOT NULL DEFAULT '',
    postal_code          text NOT NULL,
    country              text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    created_at           timestamptz NOT NULL,
    validation_deadline  timestamptz NOT NULL,
    decided_at           timestamptz,
    decision_reason      text NOT NULL DEFAULT '',
    decided_by           text NOT NULL DEFAULT '',
    workflow_id          text NOT NULL,
    CHECK ((status = 'pending_validation') = (decided_at IS NULL))
);
CREATE INDEX payment_methods_account_created ON payment_methods (account_id, created_at DESC, id DESC);
CREATE INDEX payment_methods_pending ON payment_methods (created_at, id) WHERE status = 'pending_validation';

-- The account's monthly payment method: at most one per account, always a validated card of
-- that account.
CREATE TABLE monthly_payment_methods (
    account_id         text PRIMARY KEY REFERENCES accounts (id),
    payment_method_id  text NOT NULL UNIQUE REFERENCES payment_methods (id),
    since              timestamptz NOT NULL
);

CREATE TABLE payments (
    id                text PRIMARY KEY CHECK (id ~ '^pay_[a-z0-9_]+$'),
    account_id        text NOT NULL REFERENCES accounts (id),
    status            text NOT NULL CHECK (status IN ('processing', 'requires_action', 'succeeded', 'failed', 'canceled', 'expired')),
    method            text NOT NULL CHECK (method IN ('card', 'paypal')),
    amount            bigint NOT NULL CHECK (amount > 0),
    currency          text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    card_token        text NOT NULL DEFAULT '',
    card_brand        text NOT NULL DEFAULT '',
    card_last4        text NOT NULL DEFAULT '',
    billing_address   jsonb,
    eu_supported      boolean NOT NULL DEFAULT false,
    paypal_order_id   text UNIQUE,
    approval_url      text NOT NULL DEFAULT '',
    return_url        text NOT NULL DEFAULT '',
    capture_id        text NOT NULL DEFAULT '',
    refund_id         text NOT NULL DEFAULT '',
    failure_code      text NOT NULL DEFAULT '',
    failure_message   text NOT NULL DEFAULT '',
    invoice_id        text REFERENCES invoices (id),
    created_at        timestamptz NOT NULL,
    completed_at      timestamptz,
    workflow_id       text NOT NULL,
    CHECK (method <> 'card' OR card_token <> ''),
    CHECK ((status IN ('succeeded', 'failed', 'canceled', 'expired')) = (completed_at IS NOT NULL))
);
CREATE INDEX payments_account_created ON payments (account_id, created_at DESC, id DESC);

-- An Idempotency-Key belongs to one account; the request hash tells a replay from a reuse.
CREATE TABLE idempotency_keys (
    account_id    text NOT NULL REFERENCES accounts (id),
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    payment_id    text NOT NULL REFERENCES payments (id),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);

-- The balance ledger is append-only; the current balance is the sum of an account's entries.
-- Positive amounts are owed by the customer (invoices), negative ones lower the balance
-- (payments, credits, refunds). (kind, reference) is unique: a payment is applied once.
CREATE TABLE ledger_entries (
    id          bigserial PRIMARY KEY,
    account_id  text NOT NULL REFERENCES accounts (id),
    kind        text NOT NULL CHECK (kind IN ('invoice', 'payment', 'payment_refund', 'adjustment')),
    reference   text NOT NULL,
    amount      bigint NOT NULL CHECK (amount <> 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL,
    UNIQUE (kind, reference)
);
CREATE INDEX ledger_entries_account ON ledger_entries (account_id);

-- +goose StatementBegin
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_entries_no_update_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

-- +goose Down
DROP TABLE ledger_entries;
DROP FUNCTION ledger_entries_append_only();
DROP TABLE idempotency_keys;
DROP TABLE payments;
DROP TABLE monthly_payment_methods;
DROP TABLE payment_methods;
DROP TABLE recurring_charges;
DROP TABLE invoice_item_details;
DROP TABLE invoice_items;
DROP TABLE invoices;
DROP TABLE api_keys;
DROP TABLE accounts;

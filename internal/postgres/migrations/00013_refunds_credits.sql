-- Refunds and credits by reps. A refund gives back part or all of a succeeded payment through
-- its processor; a credit lowers what an account owes. Each names the rep (their key) and why.
--
-- The database holds the refund limit: payments.amount_refunded is kept by a trigger as the
-- sum of the payment's refunds that did not fail (pending ones count: their money may be on
-- its way), and a CHECK keeps it within the payment's amount. Two refunds racing for the same
-- money cannot both commit, whatever the application does.
--
-- Books: a refund puts the money back on what the customer owes (ledger kind payment_refund,
-- reference the refund's id, +amount) and is shown to them as a Refund invoice (total
-- -amount) that documents it; that invoice is not booked as an invoice (the reconciler leaves
-- invoices named by a refund out of its invoice sum). A credit is a Credit invoice (total
-- -amount), booked as every invoice is.

-- +goose Up
ALTER TABLE payments
    ADD COLUMN amount_refunded bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT payments_refunds_within_amount CHECK (amount_refunded >= 0 AND amount_refunded <= amount),
    ADD CONSTRAINT payments_refunds_of_succeeded CHECK (amount_refunded = 0 OR status = 'succeeded');

CREATE TABLE refunds (
    id                  text PRIMARY KEY CHECK (id ~ '^rf_[a-z0-9_]+$'),
    payment_id          text NOT NULL REFERENCES payments (id),
    account_id          text NOT NULL REFERENCES accounts (id),
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by          text NOT NULL REFERENCES api_keys (id),
    processor_refund_id text NOT NULL DEFAULT '',
    failure_code        text NOT NULL DEFAULT '',
    failure_message     text NOT NULL DEFAULT '',
    invoice_id          text UNIQUE REFERENCES invoices (id),
    workflow_id         text NOT NULL,
    created_at          timestamptz NOT NULL,
    completed_at        timestamptz,
    CHECK ((status = 'pending') = (completed_at IS NULL)),
    CHECK ((status = 'succeeded') = (invoice_id IS NOT NULL)),
    CHECK (status <> 'succeeded' OR processor_refund_id <> '')
);
CREATE INDEX refunds_payment ON refunds (payment_id, created_at, id);
CREATE INDEX refunds_account_created ON refunds (account_id, created_at DESC, id DESC);

-- +goose StatementBegin
CREATE FUNCTION refunds_keep_amount_refunded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.payment_id <> OLD.payment_id OR NEW.amount <> OLD.amount OR NEW.currency <> OLD.currency THEN
            RAISE EXCEPTION 'a refund''s payment and amount never change';
        END IF;
        IF OLD.status <> 'pending' AND NEW.status <> OLD.status THEN
            RAISE EXCEPTION 'refund % is % and stays so', OLD.id, OLD.status;
        END IF;
        IF NEW.status = 'failed' AND OLD.status <> 'failed' THEN
            UPDATE payments SET amount_refunded = amount_refunded - OLD.amount WHERE id = OLD.payment_id;
        END IF;
    ELSIF NEW.status <> 'failed' THEN
        UPDATE payments SET amount_refunded = amount_refunded + NEW.amount WHERE id = NEW.payment_id;
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER refunds_keep_amount_refunded AFTER INSERT OR UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION refunds_keep_amount_refunded();

CREATE TABLE credits (
    id          text PRIMARY KEY CHECK (id ~ '^cr_[a-z0-9_]+$'),
    account_id  text NOT NULL REFERENCES accounts (id),
    status      text NOT NULL CHECK (status IN ('pending', 'issued')),
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason      text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by  text NOT NULL REFERENCES api_keys (id),
    invoice_id  text UNIQUE REFERENCES invoices (id),
    workflow_id text NOT NULL,
    created_at  timestamptz NOT NULL,
    issued_at   timestamptz,
    CHECK ((status = 'issued') = (invoice_id IS NOT NULL)),
    CHECK ((status = 'issued') = (issued_at IS NOT NULL))
);
CREATE INDEX credits_account_created ON credits (account_id, created_at DESC, id DESC);

-- A rep's refund and credit honour Idempotency-Key as a decision does (scoped to the rep's key).
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_route_check,
    DROP CONSTRAINT idempotency_keys_check,
    DROP CONSTRAINT idempotency_keys_check1,
    ADD COLUMN refund_id text REFERENCES refunds (id),
    ADD COLUMN credit_id text REFERENCES credits (id),
    ADD CONSTRAINT idempotency_keys_route_check CHECK (route IN ('create_payment', 'cancel_payment',
        'add_payment_method', 'decide_payment_method', 'refund_payment', 'issue_credit')),
    ADD CONSTRAINT idempotency_keys_one_resource CHECK (num_nonnulls(payment_id, payment_method_id, credit_id) = 1),
    ADD CONSTRAINT idempotency_keys_refund CHECK ((route = 'refund_payment') = (refund_id IS NOT NULL)),
    ADD CONSTRAINT idempotency_keys_credit CHECK ((route = 'issue_credit') = (credit_id IS NOT NULL)),
    ADD CONSTRAINT idempotency_keys_rep_routes CHECK (
        (route IN ('decide_payment_method', 'refund_payment', 'issue_credit')) = (rep_key_id IS NOT NULL));

-- +goose Down
DELETE FROM idempotency_keys WHERE route IN ('refund_payment', 'issue_credit');
ALTER TABLE idempotency_keys
    DROP CONSTRAINT idempotency_keys_rep_routes,
    DROP CONSTRAINT idempotency_keys_credit,
    DROP CONSTRAINT idempotency_keys_refund,
    DROP CONSTRAINT idempotency_keys_one_resource,
    DROP CONSTRAINT idempotency_keys_route_check,
    DROP COLUMN credit_id,
    DROP COLUMN refund_id,
    ADD CONSTRAINT idempotency_keys_route_check
        CHECK (route IN ('create_payment', 'cancel_payment', 'add_payment_method', 'decide_payment_method')),
    ADD CONSTRAINT idempotency_keys_check CHECK ((payment_id IS NULL) <> (payment_method_id IS NULL)),
    ADD CONSTRAINT idempotency_keys_check1 CHECK ((route = 'decide_payment_method') = (rep_key_id IS NOT NULL));
DROP TABLE credits;
DROP TABLE refunds;
DROP FUNCTION refunds_keep_amount_refunded();
ALTER TABLE payments DROP COLUMN amount_refunded;

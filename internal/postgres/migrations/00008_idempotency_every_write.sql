-- Idempotency-Key on every write, not only on payment creation. A key now says which route it
-- was sent to and records the resource that route made or acted on (a payment or a card) and
-- the status of its first answer, which replays repeat. Customers' keys stay scoped per account;
-- a rep's keys (card decisions) are scoped per rep key, with account_id the card's account.
-- Every row from before is a payment creation, whose first answer was 202 Accepted.

-- +goose Up
ALTER TABLE idempotency_keys
    ADD COLUMN route text NOT NULL DEFAULT 'create_payment'
        CHECK (route IN ('create_payment', 'cancel_payment', 'add_payment_method', 'decide_payment_method')),
    ADD COLUMN rep_key_id text REFERENCES api_keys (id),
    ADD COLUMN payment_method_id text REFERENCES payment_methods (id),
    ADD COLUMN status_code integer NOT NULL DEFAULT 202 CHECK (status_code BETWEEN 200 AND 299),
    ALTER COLUMN payment_id DROP NOT NULL,
    ADD CHECK ((payment_id IS NULL) <> (payment_method_id IS NULL)),
    ADD CHECK ((route = 'decide_payment_method') = (rep_key_id IS NOT NULL));
ALTER TABLE idempotency_keys ALTER COLUMN route DROP DEFAULT, ALTER COLUMN status_code DROP DEFAULT;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
CREATE UNIQUE INDEX idempotency_keys_customer ON idempotency_keys (account_id, key) WHERE rep_key_id IS NULL;
CREATE UNIQUE INDEX idempotency_keys_rep ON idempotency_keys (rep_key_id, key) WHERE rep_key_id IS NOT NULL;

-- +goose Down
DELETE FROM idempotency_keys WHERE route <> 'create_payment';
DROP INDEX idempotency_keys_rep;
DROP INDEX idempotency_keys_customer;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (account_id, key);
ALTER TABLE idempotency_keys
    DROP COLUMN status_code,
    DROP COLUMN payment_method_id,
    DROP COLUMN rep_key_id,
    DROP COLUMN route,
    ALTER COLUMN payment_id SET NOT NULL;

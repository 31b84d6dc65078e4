-- Money under faults: what a saga's compensation did is recorded on the payment, and the
-- reconciler records every disagreement it finds between the books and the processors.

-- +goose Up
ALTER TABLE payments
    -- the card authorization the saga holds; what a void or a lookup needs
    ADD COLUMN authorization_id text NOT NULL DEFAULT '',
    -- what undoing the payment did: the hold released, the capture refunded, or a refund the
    -- processor refused (money still taken: the reconciler reports it until a person acts)
    ADD COLUMN compensation text NOT NULL DEFAULT ''
        CHECK (compensation IN ('', 'hold_released', 'refunded', 'refund_refused')),
    ADD COLUMN compensated_at timestamptz,
    ADD CHECK ((compensation = '') = (compensated_at IS NULL));

-- The reconciler pages through payments that are not final yet, oldest first.
CREATE INDEX payments_unfinished ON payments (created_at, id) WHERE status IN ('processing', 'requires_action');

CREATE TABLE reconciliation_findings (
    id          bigserial PRIMARY KEY,
    run_id      text NOT NULL,
    found_at    timestamptz NOT NULL,
    -- what disagreed: stranded_payment, unbooked_capture, ledger_mismatch, ...
    kind        text NOT NULL CHECK (kind ~ '^[a-z_]+$'),
    account_id  text NOT NULL DEFAULT '',
    payment_id  text NOT NULL DEFAULT '',
    detail      text NOT NULL,
    -- what the reconciler did about it; '' when it needs a person
    action      text NOT NULL DEFAULT '',
    -- the books and the processor agree again
    resolved    boolean NOT NULL
);
CREATE INDEX reconciliation_findings_found ON reconciliation_findings (found_at DESC, id DESC);
CREATE INDEX reconciliation_findings_payment ON reconciliation_findings (payment_id) WHERE payment_id <> '';

-- +goose Down
DROP TABLE reconciliation_findings;
DROP INDEX payments_unfinished;
ALTER TABLE payments DROP COLUMN compensated_at, DROP COLUMN compensation, DROP COLUMN authorization_id;

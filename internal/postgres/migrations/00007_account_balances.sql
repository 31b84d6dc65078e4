-- The balance is kept per account beside the ledger, so reading it costs one row however long
-- the ledger grows. The database keeps it: every ledger entry adds its amount in the same
-- transaction (trigger), and the reconciler checks it against the ledger's sum.

-- +goose Up
CREATE TABLE account_balances (
    account_id text PRIMARY KEY REFERENCES accounts (id),
    balance    bigint NOT NULL
);

INSERT INTO account_balances (account_id, balance)
SELECT id, coalesce((SELECT sum(amount) FROM ledger_entries l WHERE l.account_id = a.id), 0) FROM accounts a;

-- +goose StatementBegin
CREATE FUNCTION ledger_entries_keep_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_balances (account_id, balance) VALUES (NEW.account_id, NEW.amount)
    ON CONFLICT (account_id) DO UPDATE SET balance = account_balances.balance + EXCLUDED.balance;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER ledger_entries_keep_balance AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_keep_balance();

-- +goose Down
DROP TRIGGER ledger_entries_keep_balance ON ledger_entries;
DROP FUNCTION ledger_entries_keep_balance();
DROP TABLE account_balances;

-- The balance is kept once per statement instead of once per ledger row. A row trigger
-- updates the account's balance row once for every entry, so a statement writing many
-- entries leaves as many versions of that row (100,000 entries in one INSERT: 368 heap pages
-- for one balance, read on every summary until a vacuum). A statement trigger adds each
-- account's sum once, in the same transaction as before, so the books keep the same balance.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION ledger_entries_keep_balances() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Accounts in a fixed order, so two statements touching the same accounts lock them
    -- alike.
    INSERT INTO account_balances (account_id, balance)
    SELECT account_id, sum(amount) FROM new_entries GROUP BY account_id ORDER BY account_id
    ON CONFLICT (account_id) DO UPDATE SET balance = account_balances.balance + EXCLUDED.balance;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

DROP TRIGGER ledger_entries_keep_balance ON ledger_entries;
DROP FUNCTION ledger_entries_keep_balance();
CREATE TRIGGER ledger_entries_keep_balances AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_keep_balances();

-- +goose Down
-- +goose StatementBegin
CREATE FUNCTION ledger_entries_keep_balance() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_balances (account_id, balance) VALUES (NEW.account_id, NEW.amount)
    ON CONFLICT (account_id) DO UPDATE SET balance = account_balances.balance + EXCLUDED.balance;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

DROP TRIGGER ledger_entries_keep_balances ON ledger_entries;
DROP FUNCTION ledger_entries_keep_balances();
CREATE TRIGGER ledger_entries_keep_balance AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_keep_balance();

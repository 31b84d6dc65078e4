-- One recurring invoice per account and billing month. The period used to come from the day
-- the billing was started, so a start on another day of a month already billed (a manual
-- trigger of the schedule, an operator's start with another date, a changed billing day) made
-- a second period_start and a second invoice. billing_month is the month of the billing date
-- (the day after the period ends), computed by the database, so no writer can forget it.

-- +goose Up
ALTER TABLE invoices
    ADD COLUMN billing_month date GENERATED ALWAYS AS (
        CASE WHEN type = 'recurring' THEN
            date_trunc('month', coalesce(period_end + 1, (period_start + interval '1 month')::date)::timestamp)::date
        END) STORED,
    -- Set only here, on the later invoices of a month billed twice before this migration: they
    -- stay as the record of what was billed (and paid), outside the one-per-month rule, and
    -- name the month's first invoice so ops can find and settle them.
    ADD COLUMN duplicate_of text REFERENCES invoices (id);

UPDATE invoices d SET duplicate_of = f.first_id
FROM (
    SELECT id, first_value(id) OVER (PARTITION BY account_id, billing_month ORDER BY created_at, id) AS first_id
    FROM invoices WHERE type = 'recurring'
) f
WHERE d.id = f.id AND f.first_id <> f.id;

CREATE UNIQUE INDEX invoices_one_recurring_per_month ON invoices (account_id, billing_month)
    WHERE type = 'recurring' AND duplicate_of IS NULL;
DROP INDEX invoices_one_recurring_per_period;

-- +goose Down
CREATE UNIQUE INDEX invoices_one_recurring_per_period ON invoices (account_id, period_start) WHERE type = 'recurring';
DROP INDEX invoices_one_recurring_per_month;
ALTER TABLE invoices DROP COLUMN duplicate_of, DROP COLUMN billing_month;

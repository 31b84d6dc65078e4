-- Metadata: the customer's own key-value pairs on payments and cards on file, a JSON object of
-- strings (the API checks its limits). The default makes adding the column a catalog change,
-- not a rewrite; the checks are NOT VALID because every existing row holds the default, and
-- new rows are checked all the same.
--
-- payments.invoice_id has been set on every recurring charge since that charge existed; the
-- backfill below only covers a row that would lack it, from the payment ID, which names the
-- invoice (workflows.RecurringPaymentID: pay_rb_<invoice without inv_>_<attempt>).

-- +goose Up
ALTER TABLE payments ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE payments ADD CONSTRAINT payments_metadata_object CHECK (jsonb_typeof(metadata) = 'object') NOT VALID;
ALTER TABLE payment_methods ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE payment_methods ADD CONSTRAINT payment_methods_metadata_object CHECK (jsonb_typeof(metadata) = 'object') NOT VALID;

UPDATE payments p SET invoice_id = i.id
FROM invoices i
WHERE p.invoice_id IS NULL
  AND p.id LIKE 'pay\_rb\_%'
  AND i.id = 'inv_' || substring(p.id FROM '^pay_rb_(.+)_[0-9]+$')
  AND i.account_id = p.account_id;

-- +goose Down
ALTER TABLE payment_methods DROP COLUMN metadata;
ALTER TABLE payments DROP COLUMN metadata;

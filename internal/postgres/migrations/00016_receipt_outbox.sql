-- A payment's receipt is mailed from the books, not from the saga's history: the booking sets
-- receipt_due_at in its own transaction (saga version 5, and the reconciler), so however often
-- the booking is retried, one receipt is due. The outbox dispatcher claims due receipts by
-- moving receipt_due_at a lease ahead, mails them, and clears it; a receipt whose mailing
-- failed is due again a minute later. NULL: nothing to mail (and every payment before this).

-- +goose Up
ALTER TABLE payments ADD COLUMN receipt_due_at timestamptz;
CREATE INDEX payments_receipt_due ON payments (receipt_due_at) WHERE receipt_due_at IS NOT NULL;

-- +goose Down
DROP INDEX payments_receipt_due;
ALTER TABLE payments DROP COLUMN receipt_due_at;

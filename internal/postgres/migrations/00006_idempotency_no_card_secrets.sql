-- No card secret in any form at rest. The fingerprints behind Idempotency-Key used to be an
-- HMAC over the card number and CVC; PCI DSS forbids keeping the CVC in any form after
-- authorization, and a keyed hash is a form. New fingerprints cover only the card's brand,
-- last4, expiry and holder. The old ones of card payments cannot be recomputed without the
-- card, so they are cleared: an empty request_hash means "fingerprint unknown", and a request
-- with such a key answers the key's payment (see portal.Payments.RequestHashKey). The column
-- is bytea NOT NULL without a CHECK, so the empty value needs no schema change. PayPal
-- payments' fingerprints never covered a card and stay.

-- +goose Up
UPDATE idempotency_keys ik SET request_hash = ''::bytea
FROM payments p
WHERE p.id = ik.payment_id AND p.method = 'card' AND ik.request_hash <> ''::bytea;

-- +goose Down
-- The cleared fingerprints are gone for good, which is the point: nothing to undo.
SELECT 1;

-- Reps are people: a rep is a named rep key (api_keys.label, unique among reps), made by
-- `payportal rep add NAME` and disabled (revoked_at) by `payportal rep disable`. A card's
-- decided_by keeps the key's id; answers name the rep by its label.
--
-- The rep console signs a rep in with that key and keeps the session here: only the
-- SHA-256 digest of the session id is stored, as for keys, with the form token (CSRF) and
-- an expiry. A disabled key ends its sessions: every request joins on revoked_at.

-- +goose Up
-- Rep keys from before got their labels freely; two alike are told apart by their id.
UPDATE api_keys k SET label = k.label || ' (' || k.id || ')'
WHERE k.role = 'rep' AND EXISTS (
    SELECT 1 FROM api_keys o WHERE o.role = 'rep' AND o.label = k.label AND o.id < k.id);
-- The development rep key becomes the named demo rep.
UPDATE api_keys SET label = 'Demo Rep' WHERE role = 'rep' AND label = 'demo rep (dev)'
    AND NOT EXISTS (SELECT 1 FROM api_keys WHERE role = 'rep' AND label = 'Demo Rep');
CREATE UNIQUE INDEX api_keys_rep_name ON api_keys (label) WHERE role = 'rep';

CREATE TABLE rep_sessions (
    id_hash     bytea PRIMARY KEY CHECK (length(id_hash) = 32),
    key_id      text NOT NULL REFERENCES api_keys (id),
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX rep_sessions_expires ON rep_sessions (expires_at);
-- The decision history, newest first.
CREATE INDEX payment_methods_decided ON payment_methods (decided_at DESC, id DESC) WHERE decided_at IS NOT NULL;

-- +goose Down
DROP INDEX payment_methods_decided;
DROP TABLE rep_sessions;
DROP INDEX api_keys_rep_name;

-- Rendered invoice PDFs, content-addressed: a file is keyed by invoicepdf.ContentHash of
-- what it shows (the invoice, its items and details, the account's address, the language and
-- the renderer's version). A changed invoice hashes differently, so a stored file can never be
-- served stale; older files stay as the record of what was sent.

-- +goose Up
CREATE TABLE invoice_pdfs (
    invoice_id    text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    language      text NOT NULL CHECK (language IN ('en', 'fr')),
    content_hash  text NOT NULL CHECK (content_hash ~ '^[0-9a-f]{64}$'),
    pdf           bytea NOT NULL CHECK (substring(pdf from 1 for 5) = '\x255044462d'::bytea), -- "%PDF-"
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (invoice_id, language, content_hash)
);

-- +goose Down
DROP TABLE invoice_pdfs;

-- Each account has a mail language, which every mail to it follows and its customer can
-- change (PATCH /v1/accounts/{id}). It starts as the account's language: acct_other, French,
-- keeps getting French mails. An account created without one gets its language, here rather
-- than in the application, so no insert can leave it unset.

-- +goose Up
ALTER TABLE accounts ADD COLUMN mail_language text CHECK (mail_language IN ('en', 'fr'));
UPDATE accounts SET mail_language = language;
ALTER TABLE accounts ALTER COLUMN mail_language SET NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION accounts_default_mail_language() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.mail_language := coalesce(NEW.mail_language, NEW.language);
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER accounts_default_mail_language BEFORE INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION accounts_default_mail_language();

-- +goose Down
DROP TRIGGER accounts_default_mail_language ON accounts;
DROP FUNCTION accounts_default_mail_language();
ALTER TABLE accounts DROP COLUMN mail_language;

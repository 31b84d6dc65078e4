package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
)

// accountInsertColumns are those CreateAccount always writes; mail_language (migration
// 00014) only when given, so the database's default applies (and older schemas, in the
// migration tests, still take the insert).
const (
	accountInsertColumns = `id, company_name, address_line1, address_line2, city, state, postal_code, country,
	currency, billing_day, language, contact_email, tax_rate_bps, status, created_at`
	accountColumns = accountInsertColumns + `, mail_language`
)

func scanAccount(row pgx.Row) (billing.Account, error) {
	var a billing.Account
	err := row.Scan(&a.ID, &a.CompanyName, &a.Address.Line1, &a.Address.Line2, &a.Address.City,
		&a.Address.State, &a.Address.PostalCode, &a.Address.Country, &a.Currency, &a.BillingDay,
		&a.Language, &a.ContactEmail, &a.TaxRateBps, &a.Status, &a.CreatedAt, &a.MailLanguage)
	return a, err
}

const accountSQL = `SELECT ` + accountColumns + ` FROM accounts WHERE id = $1`

// Account returns one account, or a not_found error.
func (db *DB) Account(ctx context.Context, id string) (billing.Account, error) {
	a, err := scanAccount(db.Pool.QueryRow(ctx, accountSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Account{}, billing.NotFound("account")
	}
	if err != nil {
		return billing.Account{}, fmt.Errorf("load account %s: %w", id, err)
	}
	return a, nil
}

// SetMailLanguage sets the language of the account's mails and returns the account as it now
// is; the mails sent from then on follow it, those of workflows already running included.
func (db *DB) SetMailLanguage(ctx context.Context, id, lang string) (billing.Account, error) {
	a, err := scanAccount(db.Pool.QueryRow(ctx, `UPDATE accounts SET mail_language = $2 WHERE id = $1
		RETURNING `+accountColumns, id, lang))
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Account{}, billing.NotFound("account")
	}
	if err != nil {
		return billing.Account{}, fmt.Errorf("set mail language of %s: %w", id, err)
	}
	return a, nil
}

// CardMailLanguage and InvoiceMailLanguage are the mail language, now, of the account that
// owns a payment method or an invoice: mail activities ask at send time, so a change
// reaches workflows started before it. Not found: a not_found error.
func (db *DB) CardMailLanguage(ctx context.Context, paymentMethodID string) (string, error) {
	return db.mailLanguage(ctx, `SELECT account_id FROM payment_methods WHERE id = $1`, paymentMethodID)
}

// InvoiceMailLanguage: see CardMailLanguage.
func (db *DB) InvoiceMailLanguage(ctx context.Context, invoiceID string) (string, error) {
	return db.mailLanguage(ctx, `SELECT account_id FROM invoices WHERE id = $1`, invoiceID)
}

func (db *DB) mailLanguage(ctx context.Context, accountOf, id string) (string, error) {
	var lang string
	err := db.Pool.QueryRow(ctx, `SELECT mail_language FROM accounts WHERE id = (`+accountOf+`)`, id).Scan(&lang)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", billing.NotFound("account")
	}
	if err != nil {
		return "", fmt.Errorf("mail language of the account of %s: %w", id, err)
	}
	return lang, nil
}

// Accounts lists every account; the recurring-billing schedules are made one per account.
func (db *DB) Accounts(ctx context.Context) ([]billing.Account, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	accounts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (billing.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return accounts, nil
}

// SetAccountStatus marks an account active or past due.
func (db *DB) SetAccountStatus(ctx context.Context, id string, status billing.AccountStatus) error {
	var tag pgconn.CommandTag
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		tag, err = tx.Exec(ctx, `UPDATE accounts SET status = $2 WHERE id = $1 AND status <> $2`, id, status)
		if err != nil || tag.RowsAffected() == 0 || status != billing.AccountPastDue {
			return err
		}
		// The account is past due for its open invoices: each of them says so.
		rows, err := tx.Query(ctx, `SELECT id FROM invoices WHERE account_id = $1 AND status = 'open' AND total > amount_paid
			ORDER BY created_at, id`, id)
		if err != nil {
			return err
		}
		open, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, inv := range open {
			if err := recordInvoiceEvent(ctx, tx, inv, billing.EventInvoicePastDue); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set account %s status: %w", id, err)
	}
	if tag.RowsAffected() == 1 && status == billing.AccountPastDue {
		db.events().AccountPastDue()
	}
	return nil
}

// HashAPIKey is how keys are stored and looked up: only the digest reaches the database.
func HashAPIKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// CallerByAPIKey resolves a bearer key to its caller; unknown or revoked keys are
// unauthenticated.
func (db *DB) CallerByAPIKey(ctx context.Context, key string) (billing.Caller, error) {
	var (
		c         billing.Caller
		role      string
		accountID *string
		label     string
	)
	err := db.Pool.QueryRow(ctx,
		`SELECT id, role, account_id, label FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL`,
		HashAPIKey(key)).Scan(&c.KeyID, &role, &accountID, &label)
	if errors.Is(err, pgx.ErrNoRows) {
		return billing.Caller{}, billing.Errorf(billing.KindUnauthenticated, billing.CodeInvalidKey, "unknown or revoked API key")
	}
	if err != nil {
		return billing.Caller{}, fmt.Errorf("look up api key: %w", err)
	}
	c.Rep = role == "rep"
	if c.Rep {
		c.RepName = label
	}
	if accountID != nil {
		c.AccountID = *accountID
	}
	return c, nil
}

// Balance is the sum of the account's ledger entries, in the account's currency, as the
// ledger keeps it.
func (db *DB) Balance(ctx context.Context, accountID string) (int64, error) {
	return balance(ctx, db.Pool, accountID)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// balanceSQL reads the balance the ledger keeps per account (account_balances, maintained by
// a trigger on every ledger entry): one row, however long the ledger.
const (
	balanceExpr = `coalesce((SELECT balance FROM account_balances WHERE account_id = $1), 0)`
	balanceSQL  = `SELECT ` + balanceExpr + `::bigint`
)

func balance(ctx context.Context, q querier, accountID string) (int64, error) {
	var b int64
	err := q.QueryRow(ctx, balanceSQL, accountID).Scan(&b)
	if err != nil {
		return 0, fmt.Errorf("sum ledger of %s: %w", accountID, err)
	}
	return b, nil
}

// CreateAccount inserts an account; it reports false when one with that ID already exists.
// Without a MailLanguage, the account's mails follow its Language (the database sets it).
func (db *DB) CreateAccount(ctx context.Context, a billing.Account) (bool, error) {
	cols, values := accountInsertColumns, `$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15`
	args := []any{a.ID, a.CompanyName, a.Address.Line1, a.Address.Line2, a.Address.City, a.Address.State,
		a.Address.PostalCode, a.Address.Country, a.Currency, a.BillingDay, a.Language, a.ContactEmail,
		a.TaxRateBps, a.Status, a.CreatedAt}
	if a.MailLanguage != "" {
		cols, values, args = cols+`, mail_language`, values+`,$16`, append(args, a.MailLanguage)
	}
	tag, err := db.Pool.Exec(ctx, `INSERT INTO accounts (`+cols+`) VALUES (`+values+`) ON CONFLICT (id) DO NOTHING`, args...)
	if err != nil {
		return false, fmt.Errorf("create account %s: %w", a.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// CreateAPIKey stores the digest of key for a customer of accountID, or for a rep when
// accountID is empty. It does nothing when the key is already stored.
func (db *DB) CreateAPIKey(ctx context.Context, key, label, accountID string) error {
	role, account := "rep", (*string)(nil)
	if accountID != "" {
		role, account = "customer", &accountID
	}
	_, err := db.Pool.Exec(ctx, `INSERT INTO api_keys (id, key_hash, label, role, account_id)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_hash) DO NOTHING`,
		billing.NewID(billing.PrefixAPIKey), HashAPIKey(key), label, role, account)
	if err != nil {
		return fmt.Errorf("create api key %q: %w", label, err)
	}
	return nil
}

// AddRecurringCharge adds an active monthly charge to an account.
func (db *DB) AddRecurringCharge(ctx context.Context, c billing.RecurringCharge) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO recurring_charges (id, account_id, description, category, quantity, unit_amount)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.AccountID, c.Description, c.Category, c.Quantity, c.UnitAmount)
	if err != nil {
		return fmt.Errorf("add recurring charge to %s: %w", c.AccountID, err)
	}
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
)

const paymentMethodColumns = `pm.id, pm.account_id, pm.status, pm.processor_token, pm.brand, pm.last4, pm.exp_month,
	pm.exp_year, pm.holder_name, pm.eu_supported, pm.contact_email, pm.address_line1, pm.address_line2, pm.city,
	pm.state, pm.postal_code, pm.country, pm.created_at, pm.validation_deadline, pm.decided_at,
	pm.decision_reason, pm.decided_by, pm.workflow_id, pm.metadata,
	coalesce((SELECT k.label FROM api_keys k WHERE k.id = pm.decided_by AND k.role = 'rep'), pm.decided_by)`

func scanPaymentMethod(row pgx.Row) (billing.PaymentMethod, error) {
	var pm billing.PaymentMethod
	a := &pm.BillingAddress
	err := row.Scan(&pm.ID, &pm.AccountID, &pm.Status, &pm.ProcessorToken, &pm.Brand, &pm.Last4, &pm.ExpMonth,
		&pm.ExpYear, &pm.HolderName, &pm.EUSupported, &pm.ContactEmail, &a.Line1, &a.Line2, &a.City,
		&a.State, &a.PostalCode, &a.Country, &pm.CreatedAt, &pm.ValidationDeadline, &pm.DecidedAt,
		&pm.DecisionReason, &pm.DecidedBy, &pm.WorkflowID, &pm.Metadata, &pm.DecidedByName)
	return pm, err
}

const monthlyPaymentMethodSQL = `SELECT ` + paymentMethodColumns + `
	FROM monthly_payment_methods m JOIN payment_methods pm ON pm.id = m.payment_method_id
	WHERE m.account_id = $1`

// MonthlyPaymentMethod returns the account's validated monthly card, or nil when it has none.
func (db *DB) MonthlyPaymentMethod(ctx context.Context, accountID string) (*billing.PaymentMethod, error) {
	pm, err := scanPaymentMethod(db.Pool.QueryRow(ctx, monthlyPaymentMethodSQL, accountID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load monthly payment method of %s: %w", accountID, err)
	}
	return &pm, nil
}

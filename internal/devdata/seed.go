// Package devdata seeds the contract's development data: acct_demo, acct_other and their keys.
// Only `payportal dev` and tests call it; production never does.
package devdata

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

// The contract's development keys.
const (
	DemoCustomerKey  = "demo_customer_key"
	OtherCustomerKey = "other_customer_key"
	DemoRepKey       = "demo_rep_key"
	DemoRepName      = "Demo Rep" // the rep the demo rep key belongs to

	DemoAccountID  = "acct_demo"
	OtherAccountID = "acct_other"
)

// Seed writes the demo accounts, keys, recurring charges and invoices. An account that
// already exists is left alone, so running it again seeds nothing twice. It reports which
// accounts it created.
func Seed(ctx context.Context, db *postgres.DB, now time.Time) ([]string, error) {
	var created []string
	for _, s := range []accountSeed{demoAccount(now), otherAccount(now)} {
		ok, err := db.CreateAccount(ctx, s.account)
		if err != nil {
			return created, err
		}
		if err := db.CreateAPIKey(ctx, s.key, s.account.ID+" customer (dev)", s.account.ID); err != nil {
			return created, err
		}
		if !ok {
			continue
		}
		for _, c := range s.charges {
			if err := db.AddRecurringCharge(ctx, c); err != nil {
				return created, err
			}
		}
		for _, inv := range s.invoices {
			if _, _, err := db.CreateInvoice(ctx, inv); err != nil {
				return created, fmt.Errorf("seed invoice for %s: %w", s.account.ID, err)
			}
		}
		created = append(created, s.account.ID)
	}
	if err := db.CreateAPIKey(ctx, DemoRepKey, DemoRepName, ""); err != nil {
		return created, err
	}
	return created, nil
}

type accountSeed struct {
	account  billing.Account
	key      string
	charges  []billing.RecurringCharge
	invoices []billing.Invoice
}

func demoAccount(now time.Time) accountSeed {
	acct := billing.Account{
		ID:          DemoAccountID,
		CompanyName: "Demo Corp",
		Address: billing.Address{Line1: "100 Market Street", Line2: "Suite 300", City: "San Francisco",
			State: "CA", PostalCode: "94105", Country: "US"},
		Currency:     "USD",
		BillingDay:   1,
		Language:     "en",
		ContactEmail: "billing@demo-corp.example",
		TaxRateBps:   800,
		Status:       billing.AccountActive,
		CreatedAt:    now.AddDate(0, -8, 0),
	}
	charges := []billing.RecurringCharge{
		{ID: "rc_demo_servers", AccountID: acct.ID, Description: "Virtual server c2.medium", Category: "compute", Quantity: 2, UnitAmount: 4320},
		{ID: "rc_demo_storage", AccountID: acct.ID, Description: "Block storage (GB-month)", Category: "storage", Quantity: 500, UnitAmount: 10},
		{ID: "rc_demo_support", AccountID: acct.ID, Description: "Premium support", Category: "support", Quantity: 1, UnitAmount: 9900},
	}
	return accountSeed{account: acct, key: DemoCustomerKey, charges: charges, invoices: historyOf(acct, charges, now)}
}

func otherAccount(now time.Time) accountSeed {
	acct := billing.Account{
		ID:          OtherAccountID,
		CompanyName: "Société Exemple SARL",
		Address: billing.Address{Line1: "12 rue de la Paix", City: "Paris",
			PostalCode: "75002", Country: "FR"},
		Currency:     "EUR",
		BillingDay:   15,
		Language:     "fr",
		ContactEmail: "compta@societe-exemple.example",
		TaxRateBps:   2000,
		Status:       billing.AccountActive,
		CreatedAt:    now.AddDate(0, -4, 0),
	}
	charges := []billing.RecurringCharge{
		{ID: "rc_other_servers", AccountID: acct.ID, Description: "Serveur virtuel c1.small", Category: "compute", Quantity: 1, UnitAmount: 2160},
		{ID: "rc_other_backup", AccountID: acct.ID, Description: "Sauvegarde gérée", Category: "storage", Quantity: 1, UnitAmount: 1500},
	}
	return accountSeed{account: acct, key: OtherCustomerKey, charges: charges, invoices: historyOf(acct, charges, now)}
}

// historyOf builds an account's past: the first ("new") invoice, six monthly recurring
// invoices (all paid but the latest), a one-time charge, a credit and a refund.
func historyOf(acct billing.Account, charges []billing.RecurringCharge, now time.Time) []billing.Invoice {
	last := billing.PreviousBillingDate(acct.BillingDay, now)
	first := last.AddDate(0, -6, 0)
	var invoices []billing.Invoice

	setup := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceNew, Status: billing.InvoicePaid,
		Currency: acct.Currency, CreatedAt: first.Add(-72 * time.Hour)}
	addItem(&setup, "Account setup", "setup", 1, 4900, nil)
	addItem(&setup, "Onboarding session", "support", 2, 7500, nil)
	invoices = append(invoices, finish(setup, acct, true))

	for k := 5; k >= 0; k-- {
		billedOn := last.AddDate(0, -k, 0)
		start, end := billing.BillingPeriod(billedOn)
		inv := billing.RecurringInvoiceDraft(acct, charges, start, end)
		inv.CreatedAt = billedOn.Add(6 * time.Hour)
		for i := range inv.Items {
			inv.Items[i].Details = detailsFor(inv.Items[i])
		}
		if k > 0 {
			inv.Status, inv.AmountPaid = billing.InvoicePaid, inv.Total
		}
		invoices = append(invoices, inv)
	}

	oneTime := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceOneTime, Status: billing.InvoiceOpen,
		Currency: acct.Currency, CreatedAt: last.AddDate(0, 0, -10)}
	addItem(&oneTime, "Data migration service", "professional_services", 3, 12500, []billing.ItemDetail{
		{Description: "Migration engineer", ResourceName: "db-migration-1", Quantity: 3, Unit: "hours", UnitAmount: 12500, Amount: 37500},
	})
	invoices = append(invoices, finish(oneTime, acct, false))

	credit := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceCredit, Status: billing.InvoicePaid,
		Currency: acct.Currency, CreatedAt: last.AddDate(0, 0, -20)}
	addItem(&credit, "Service credit: network incident", "credit", 1, -2500, nil)
	invoices = append(invoices, finish(credit, acct, false))

	refund := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceRefund, Status: billing.InvoicePaid,
		Currency: acct.Currency, CreatedAt: last.AddDate(0, -2, 5)}
	addItem(&refund, "Refund: duplicate storage charge", "refund", 1, -1000, nil)
	invoices = append(invoices, finish(refund, acct, false))
	// Numbers follow issue dates, as they would have been assigned at the time.
	slices.SortStableFunc(invoices, func(a, b billing.Invoice) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return invoices
}

func addItem(inv *billing.Invoice, description, category string, qty, unit int64, details []billing.ItemDetail) {
	inv.Items = append(inv.Items, billing.InvoiceItem{Description: description, Category: category,
		Quantity: qty, UnitAmount: unit, Amount: qty * unit, Details: details})
	inv.Subtotal += qty * unit
}

// finish adds tax and, for paid bills, settles them.
func finish(inv billing.Invoice, acct billing.Account, paid bool) billing.Invoice {
	inv.Tax = billing.TaxOn(inv.Subtotal, acct.TaxRateBps)
	inv.Total = inv.Subtotal + inv.Tax
	if paid {
		inv.AmountPaid = inv.Total
	}
	return inv
}

// detailsFor explains a recurring item: which resources, how many hours at what price.
func detailsFor(it billing.InvoiceItem) []billing.ItemDetail {
	switch it.Category {
	case "compute":
		var ds []billing.ItemDetail
		perHour := it.UnitAmount / 720
		for i := int64(1); i <= it.Quantity; i++ {
			ds = append(ds, billing.ItemDetail{Description: "Instance hours", ResourceName: fmt.Sprintf("web-%02d", i),
				Quantity: 720, Unit: "hours", UnitAmount: perHour, Amount: 720 * perHour})
		}
		return ds
	case "storage":
		return []billing.ItemDetail{{Description: "Provisioned storage", ResourceName: "vol-data-01",
			Quantity: it.Quantity, Unit: "GB-month", UnitAmount: it.UnitAmount, Amount: it.Amount}}
	default:
		return []billing.ItemDetail{{Description: it.Description, ResourceName: "", Quantity: it.Quantity,
			Unit: "month", UnitAmount: it.UnitAmount, Amount: it.Amount}}
	}
}

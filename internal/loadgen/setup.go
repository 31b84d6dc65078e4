package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
)

// throwawayPrefixes name databases made to be dropped: the load scripts' and the tests'.
var throwawayPrefixes = []string{"payportal_bench", "payportal_loadgen", "payportal_test_"}

// checkDevelopment refuses to write accounts and keys anywhere but a development system or a
// throwaway database: the keys it creates (and the demo rep key) are no secret.
func checkDevelopment(cfg config.Config, databaseURL string) error {
	if cfg.Development() {
		return nil
	}
	name := databaseName(databaseURL)
	for _, p := range throwawayPrefixes {
		if strings.HasPrefix(name, p) {
			return nil
		}
	}
	return fmt.Errorf("loadgen creates accounts, API keys (the demo rep key among them) and invoices in database %q, "+
		"which is for development only: set PAYPORTAL_ENV=development, or point -database at a throwaway database "+
		"(a name starting with %s)", name, strings.Join(throwawayPrefixes, ", "))
}

func databaseName(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// account is one account the customers use, with its key and the invoice whose PDF they read.
type account struct {
	ID         string
	Key        string
	PDFInvoice string // a paid invoice: its PDF does not change while payments go in
}

// balancePerAccount is the open invoice each account pays from: far more than a run's
// 1-99 cent payments add up to.
const balancePerAccount = 100_000_000 // 1,000,000.00 USD

// createAccounts writes n accounts for this run, each with a customer key and invoices (one
// open with the balance, the others paid, so the invoice page is full), through the store
// functions devdata seeds with; and makes sure the demo rep key exists.
func createAccounts(ctx context.Context, db *postgres.DB, runID string, n, invoices int, now time.Time) ([]account, error) {
	if err := db.CreateAPIKey(ctx, devdata.DemoRepKey, devdata.DemoRepName, ""); err != nil {
		return nil, err
	}
	accounts := make([]account, n)
	for i := range accounts {
		a := billing.Account{
			ID:          fmt.Sprintf("%sload_%s_%d", billing.PrefixAccount, runID, i),
			CompanyName: fmt.Sprintf("Load Test %s %d", runID, i),
			Address: billing.Address{Line1: "1 Load Street", City: "San Francisco", State: "CA",
				PostalCode: "94105", Country: "US"},
			Currency:     "USD",
			BillingDay:   1,
			Language:     "en",
			ContactEmail: fmt.Sprintf("billing+%s-%d@load.example", runID, i),
			Status:       billing.AccountActive,
			CreatedAt:    now.Add(-time.Duration(invoices+1) * time.Hour),
		}
		if _, err := db.CreateAccount(ctx, a); err != nil {
			return nil, err
		}
		key := "loadgen_" + runID + "_" + randomHex(16)
		if err := db.CreateAPIKey(ctx, key, fmt.Sprintf("loadgen %s customer %d", runID, i), a.ID); err != nil {
			return nil, err
		}
		accounts[i] = account{ID: a.ID, Key: key}
		// Oldest first, one hour apart: the paid ones, then the open one on top of the page.
		for k := invoices - 1; k >= 0; k-- {
			inv := billing.Invoice{AccountID: a.ID, Type: billing.InvoiceOneTime, Status: billing.InvoicePaid,
				Currency: a.Currency, CreatedAt: now.Add(-time.Duration(k) * time.Hour)}
			amount := int64(1000 + 100*k)
			desc := fmt.Sprintf("Load test service %d", invoices-k)
			if k == 0 {
				inv.Status, amount, desc = billing.InvoiceOpen, balancePerAccount, "Load test balance"
			}
			inv.Items = []billing.InvoiceItem{{Description: desc, Category: "professional_services", Quantity: 1,
				UnitAmount: amount, Amount: amount}}
			inv.Subtotal, inv.Total = amount, amount
			if inv.Status == billing.InvoicePaid {
				inv.AmountPaid = amount
			}
			stored, _, err := db.CreateInvoice(ctx, inv)
			if err != nil {
				return nil, fmt.Errorf("invoice for %s: %w", a.ID, err)
			}
			// The newest paid invoice; with -invoices 1, the open one.
			if inv.Status == billing.InvoicePaid || accounts[i].PDFInvoice == "" {
				accounts[i].PDFInvoice = stored.ID
			}
		}
	}
	return accounts, nil
}

// newRunID names one run: its accounts, keys, idempotency keys and workflow IDs.
func newRunID() string { return randomHex(4) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

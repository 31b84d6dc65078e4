package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/postgres/migrations"
	"github.com/payportal/payportal/internal/testenv"
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// freshAccount adds an account without history, in USD without tax, billed on billingDay.
func freshAccount(t *testing.T, db *postgres.DB, billingDay int) billing.Account {
	t.Helper()
	acct := billing.Account{ID: billing.NewID(billing.PrefixAccount), CompanyName: "Fresh Co", Currency: "USD",
		Address:    billing.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		BillingDay: billingDay, Language: "en", ContactEmail: "ap@fresh.example", Status: billing.AccountActive,
		CreatedAt: paymentsNow.AddDate(0, -2, 0)}
	if _, err := db.CreateAccount(context.Background(), acct); err != nil {
		t.Fatal(err)
	}
	return acct
}

// recurringDraft is the account's recurring invoice of amount for the period billed on
// billingDate.
func recurringDraft(acct billing.Account, billingDate time.Time, amount int64) billing.Invoice {
	start, end := billing.BillingPeriod(billingDate)
	inv := billing.RecurringInvoiceDraft(acct, []billing.RecurringCharge{{Description: "Managed database",
		Category: "compute", Quantity: 1, UnitAmount: amount}}, start, end)
	inv.CreatedAt = billingDate.Add(6 * time.Hour)
	return inv
}

// Scenario (d) of issue 8 in the database: a recurring invoice for another period of the same
// billing month (started on another day: a manual trigger, an operator's date, a changed
// billing day) is not a second invoice; the one already issued comes back. Concurrent tries
// issue one.
func TestOneRecurringInvoicePerAccountAndBillingMonth(t *testing.T) {
	db, _ := testenv.Database(t)
	ctx := context.Background()
	acct := freshAccount(t, db, 15)

	first, created, err := db.CreateInvoice(ctx, recurringDraft(acct, date(2026, 12, 15), 20000))
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	// Periods derived from other days of December, issued concurrently.
	days := []time.Time{date(2026, 12, 1), date(2026, 12, 22), date(2026, 12, 31), date(2026, 12, 15)}
	results := make([]billing.Invoice, len(days))
	createdAgain := make([]bool, len(days))
	var wg sync.WaitGroup
	for i, d := range days {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inv, c, err := db.CreateInvoice(ctx, recurringDraft(acct, d, 20000))
			if err != nil {
				t.Errorf("%s: %v", d.Format(time.DateOnly), err)
			}
			results[i], createdAgain[i] = inv, c
		}()
	}
	wg.Wait()
	for i, inv := range results {
		if createdAgain[i] || inv.ID != first.ID {
			t.Errorf("billed on %s: %s (created %v), want %s back", days[i].Format(time.DateOnly), inv.ID, createdAgain[i], first.ID)
		}
	}
	// A writer that skips the application meets the same rule.
	_, err = db.Pool.Exec(ctx, `INSERT INTO invoices (id, account_id, number, type, status, currency, period_start,
		period_end, subtotal, tax, total, created_at) VALUES ('inv_raw_dup', $1, 'RAW-1', 'recurring', 'open', 'USD',
		'2026-11-20', '2026-12-19', 100, 0, 100, now())`, acct.ID)
	if err == nil {
		t.Error("a second recurring invoice for December was inserted directly")
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM invoices WHERE account_id = $1`, acct.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if balance, _ := db.Balance(ctx, acct.ID); n != 1 || balance != 20000 {
		t.Errorf("invoices %d, balance %d; want 1 and 20000", n, balance)
	}
	// January and November are months of their own.
	for _, d := range []time.Time{date(2027, 1, 15), date(2026, 11, 15)} {
		if _, created, err := db.CreateInvoice(ctx, recurringDraft(acct, d, 20000)); err != nil || !created {
			t.Errorf("billed on %s: created %v, %v; want a new invoice", d.Format(time.DateOnly), created, err)
		}
	}
}

// pendingInvoice issues the account's December invoice of 20000 and returns it.
func pendingInvoice(t *testing.T, db *postgres.DB, acct billing.Account) billing.Invoice {
	t.Helper()
	inv, _, err := db.CreateInvoice(context.Background(), recurringDraft(acct, date(2026, 12, 1), 20000))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func cardCharge(accountID string) *billing.Payment {
	id := billing.NewID(billing.PrefixPayment)
	return &billing.Payment{ID: id, AccountID: accountID, Status: billing.PaymentProcessing, Method: billing.MethodCard,
		CardToken: "tok_test", CardBrand: "visa", CardLast4: "4242", CreatedAt: paymentsNow, WorkflowID: "payment/" + id}
}

func checkout(t *testing.T, db *postgres.DB, accountID string, amount int64) billing.Payment {
	t.Helper()
	p := newTestPayment(amount)
	p.AccountID = accountID
	p, _, err := db.CreatePayment(context.Background(), p, "key-"+p.ID, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// PrepareInvoiceCharge tells apart what ends collection (a paid invoice, credit that pays
// it), what is waited for (money in flight) and what is charged (never more than owed).
func TestPrepareInvoiceChargeSaysWhy(t *testing.T) {
	db, _ := testenv.Database(t)
	ctx := context.Background()

	t.Run("charge needed", func(t *testing.T) {
		acct := freshAccount(t, db, 1)
		inv := pendingInvoice(t, db, acct)
		c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, nil)
		if err != nil || c.Outcome != postgres.InvoiceChargeable || c.Amount != 20000 || c.Payment.ID != "" {
			t.Fatalf("without a card: %+v, %v; want chargeable 20000, nothing stored", c, err)
		}
		charge := cardCharge(acct.ID)
		for range 2 { // a retry finds the payment
			c, err = db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, charge)
			if err != nil || c.Outcome != postgres.InvoiceChargeable || c.Payment.ID != charge.ID || c.Payment.Amount.Amount != 20000 {
				t.Fatalf("with a card: %+v, %v", c, err)
			}
		}
		// Our own charge is now in flight: another look waits for it.
		c, err = db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceCoveredInFlight || c.InFlight.Amount != 20000 || c.Payment.ID != "" {
			t.Fatalf("with the charge in flight: %+v, %v; want in_flight", c, err)
		}
		if _, err := db.ApplyPayment(ctx, charge.ID, paymentsNow); err != nil {
			t.Fatal(err)
		}
		c, err = db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceSettled || c.AmountDue.Amount != 0 {
			t.Fatalf("once paid: %+v, %v; want settled", c, err)
		}
	})

	t.Run("in flight and partial", func(t *testing.T) {
		acct := freshAccount(t, db, 1)
		inv := pendingInvoice(t, db, acct)
		part := checkout(t, db, acct.ID, 6000)
		charge := cardCharge(acct.ID)
		c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, charge)
		if err != nil || c.Outcome != postgres.InvoiceChargeable || c.Payment.Amount.Amount != 14000 || c.AmountDue.Amount != 20000 {
			t.Fatalf("with 6000 in flight: %+v, %v; want a charge of 14000", c, err)
		}
		if _, err := db.ApplyPayment(ctx, charge.ID, paymentsNow); err != nil {
			t.Fatal(err)
		}
		c, err = db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceCoveredInFlight || c.AmountDue.Amount != 6000 {
			t.Fatalf("after the partial charge: %+v, %v; want in_flight with 6000 due", c, err)
		}
		if err := db.FinishPayment(ctx, part.ID, billing.PaymentExpired, nil, paymentsNow); err != nil {
			t.Fatal(err)
		}
		c, err = db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceChargeable || c.Payment.Amount.Amount != 6000 {
			t.Fatalf("once the checkout expired: %+v, %v; want the remaining 6000 charged", c, err)
		}
	})

	t.Run("credit", func(t *testing.T) {
		acct := freshAccount(t, db, 1)
		credit := billing.Invoice{AccountID: acct.ID, Type: billing.InvoiceCredit, Status: billing.InvoicePaid, Currency: "USD",
			Subtotal: -8000, Total: -8000, CreatedAt: paymentsNow, Items: []billing.InvoiceItem{{Description: "Goodwill credit",
				Category: "credit", Quantity: 1, UnitAmount: -8000, Amount: -8000}}}
		if _, _, err := db.CreateInvoice(ctx, credit); err != nil {
			t.Fatal(err)
		}
		inv := pendingInvoice(t, db, acct)
		// The balance owes 12000 of the 20000: the rest is credit, applied to the invoice;
		// the card pays what is owed.
		c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceChargeable || c.Credit != 8000 || c.AmountDue.Amount != 12000 ||
			c.Payment.Amount.Amount != 12000 {
			t.Fatalf("with 8000 credit: %+v, %v; want 8000 applied, 12000 charged", c, err)
		}
		got, _ := db.Invoice(ctx, acct.ID, inv.ID)
		if got.Status != billing.InvoiceOpen || got.AmountPaid != 8000 {
			t.Errorf("invoice %s with %d paid, want open with 8000 paid", got.Status, got.AmountPaid)
		}
		if balance, _ := db.Balance(ctx, acct.ID); balance != 12000 {
			t.Errorf("balance %d, want 12000: applying credit moves nothing on the ledger", balance)
		}

		// More credit than the invoice: paid by credit.
		acct2 := freshAccount(t, db, 1)
		credit.AccountID, credit.ID, credit.Number = acct2.ID, "", ""
		credit.Subtotal, credit.Total = -30000, -30000
		credit.Items = []billing.InvoiceItem{{Description: "Goodwill credit", Category: "credit", Quantity: 1, UnitAmount: -30000, Amount: -30000}}
		if _, _, err := db.CreateInvoice(ctx, credit); err != nil {
			t.Fatal(err)
		}
		inv2 := pendingInvoice(t, db, acct2)
		c, err = db.PrepareInvoiceCharge(ctx, acct2.ID, inv2.ID, cardCharge(acct2.ID))
		if err != nil || c.Outcome != postgres.InvoicePaidByCredit || c.Credit != 20000 || c.Payment.ID != "" {
			t.Fatalf("with 30000 credit: %+v, %v; want paid_by_credit", c, err)
		}
		if got, _ := db.Invoice(ctx, acct2.ID, inv2.ID); got.Status != billing.InvoicePaid || got.AmountPaid != 20000 {
			t.Errorf("invoice %s with %d paid, want paid", got.Status, got.AmountPaid)
		}
	})

	t.Run("void", func(t *testing.T) {
		acct := freshAccount(t, db, 1)
		draft := recurringDraft(acct, date(2026, 12, 1), 20000)
		draft.Status = billing.InvoiceVoid
		inv, _, err := db.CreateInvoice(ctx, draft)
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, cardCharge(acct.ID))
		if err != nil || c.Outcome != postgres.InvoiceSettled {
			t.Fatalf("void invoice: %+v, %v; want settled", c, err)
		}
	})

	t.Run("not found", func(t *testing.T) {
		acct := freshAccount(t, db, 1)
		if _, err := db.PrepareInvoiceCharge(ctx, acct.ID, "inv_missing", nil); billing.KindOf(err) != billing.KindNotFound {
			t.Errorf("missing invoice: %v, want not found", err)
		}
	})
}

// Migration 00005 on a database that already billed a month twice (the bug it closes): the
// month's later invoice is kept, marked as a duplicate of the first, and the rule holds from
// then on.
func TestMigrationKeepsMonthsBilledTwiceAndEnforcesOnePerMonth(t *testing.T) {
	ctx := context.Background()
	server, err := url.Parse(testenv.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, server.String())
	if err != nil {
		testenv.Unavailable(t, "postgres: %v", err)
	}
	defer admin.Close(ctx)
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	name := "payportal_test_migration_" + hex.EncodeToString(suffix[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	dbURL := *server
	dbURL.Path = "/" + name
	db, err := postgres.Open(ctx, dbURL.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.UpTo(ctx, 4); err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}
	// Today's CreateInvoice writes its event to the outbox of migration 00011; a stand-in
	// lets it run on this older schema.
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE events (id text, account_id text, type text, object_id text,
		object jsonb, created_at timestamptz DEFAULT now())`); err != nil {
		t.Fatal(err)
	}

	acct := freshAccount(t, db, 1)
	// December billed on the 1st, then again on the 20th; November once.
	for _, inv := range []billing.Invoice{recurringDraft(acct, date(2026, 12, 1), 20000),
		recurringDraft(acct, date(2026, 12, 20), 20000), recurringDraft(acct, date(2026, 11, 1), 20000)} {
		if _, _, err := db.CreateInvoice(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := provider.UpTo(ctx, 5); err != nil {
		t.Fatalf("migrate to 5: %v", err)
	}

	rows, err := db.Pool.Query(ctx, `SELECT period_start, billing_month, coalesce(duplicate_of, '') <> ''
		FROM invoices WHERE account_id = $1 ORDER BY created_at`, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Start, Month time.Time
		Dup          bool
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	want := []row{{date(2026, 10, 1), date(2026, 11, 1), false}, {date(2026, 11, 1), date(2026, 12, 1), false},
		{date(2026, 11, 20), date(2026, 12, 1), true}}
	if len(got) != len(want) {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || !got[i].Month.Equal(want[i].Month) || got[i].Dup != want[i].Dup {
			t.Errorf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// From now on December is taken.
	_, created, err := db.CreateInvoice(ctx, recurringDraft(acct, date(2026, 12, 9), 20000))
	if err != nil || created {
		t.Errorf("December again: created %v, %v; want the existing invoice", created, err)
	}
	if _, err := provider.DownTo(ctx, 4); err != nil {
		t.Errorf("migrate down to 4: %v", err)
	}
}

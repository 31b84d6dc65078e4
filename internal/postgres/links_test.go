package postgres_test

import (
	"context"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres/migrations"
	"github.com/payportal/payportal/workflows"
)

// TestRecurringChargeNamesItsInvoice: the payment PrepareInvoiceCharge makes for a recurring
// invoice carries the invoice's id, read back by every way of loading a payment; a payment of
// the balance carries none. Its metadata, and a one-time payment's, come back as stored.
func TestRecurringChargeNamesItsInvoice(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	acct := freshAccount(t, db, 1)
	inv, _, err := db.CreateInvoice(ctx, recurringDraft(acct, date(2026, 3, 1), 20000))
	if err != nil {
		t.Fatal(err)
	}
	charge := cardCharge(acct.ID)
	charge.ID = workflows.RecurringPaymentID(inv.ID, 1)
	c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, charge)
	if err != nil || !c.Created {
		t.Fatalf("prepare the charge: created=%v err=%v", c.Created, err)
	}
	if c.Payment.InvoiceID != inv.ID {
		t.Errorf("the prepared charge names invoice %q, want %s", c.Payment.InvoiceID, inv.ID)
	}
	got, err := db.Payment(ctx, acct.ID, charge.ID)
	if err != nil || got.InvoiceID != inv.ID || len(got.Metadata) != 0 {
		t.Errorf("the stored charge: invoice %q metadata %v (%v), want %s and none", got.InvoiceID, got.Metadata, err, inv.ID)
	}
	page, _, err := db.Payments(ctx, acct.ID, billing.ListParams{Limit: 10})
	if err != nil || len(page) != 1 || page[0].InvoiceID != inv.ID {
		t.Errorf("the list: %+v (%v), want the charge naming %s", page, err, inv.ID)
	}

	oneTime := newTestPayment(100)
	oneTime.Metadata = map[string]string{"order": "A-1001", "Order": "case matters", "note": "Grüße, 東京\nline two"}
	stored, _, err := db.CreatePayment(ctx, oneTime, "key-"+oneTime.ID, []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := db.PaymentByID(ctx, stored.ID)
	if err != nil || back.InvoiceID != "" || !maps.Equal(back.Metadata, oneTime.Metadata) {
		t.Errorf("one-time payment: invoice %q metadata %v (%v), want none and %v", back.InvoiceID, back.Metadata, err, oneTime.Metadata)
	}
}

// TestMigration00009LinksRecurringChargesToTheirInvoices: a recurring charge stored without
// its invoice gets it from its ID when 00009 runs; another payment keeps none, and an ID
// naming another account's invoice links nothing.
func TestMigration00009LinksRecurringChargesToTheirInvoices(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	acct, stranger := freshAccount(t, db, 1), freshAccount(t, db, 2)
	inv, _, err := db.CreateInvoice(ctx, recurringDraft(acct, date(2026, 3, 1), 20000))
	if err != nil {
		t.Fatal(err)
	}
	theirs, _, err := db.CreateInvoice(ctx, recurringDraft(stranger, date(2026, 3, 2), 20000))
	if err != nil {
		t.Fatal(err)
	}
	// A charge whose ID names the stranger's invoice, but is this account's.
	forged := newTestPayment(100)
	forged.AccountID, forged.Amount.Currency = acct.ID, "USD"
	forged.ID = workflows.RecurringPaymentID(theirs.ID, 1)
	plain := newTestPayment(100)
	for _, p := range []billing.Payment{forged, plain} {
		if _, _, err := db.CreatePayment(ctx, p, "key-"+p.ID, []byte("hash")); err != nil {
			t.Fatal(err)
		}
	}
	linked := cardCharge(acct.ID)
	linked.ID = workflows.RecurringPaymentID(inv.ID, 2)
	if c, err := db.PrepareInvoiceCharge(ctx, acct.ID, inv.ID, linked); err != nil || !c.Created {
		t.Fatalf("prepare the charge: created=%v err=%v", c.Created, err)
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE payments SET invoice_id = NULL`); err != nil {
		t.Fatal(err)
	}

	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.ApplyVersion(ctx, 9, false); err != nil {
		t.Fatalf("00009 down: %v", err)
	}
	if _, err := provider.ApplyVersion(ctx, 9, true); err != nil {
		t.Fatalf("00009 up: %v", err)
	}
	for id, want := range map[string]string{linked.ID: inv.ID, forged.ID: "", plain.ID: ""} {
		p, err := db.PaymentByID(ctx, id)
		if err != nil || p.InvoiceID != want {
			t.Errorf("payment %s after 00009: invoice %q (%v), want %q", id, p.InvoiceID, err, want)
		}
	}
}

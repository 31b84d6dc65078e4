package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres/migrations"
	"github.com/payportal/payportal/internal/testenv"
)

// An account's mail language starts as its language: the accounts migration 00014 finds
// (acct_other is French), and those created after it without one; the database refuses a
// language PayPortal does not write.
func TestMailLanguage(t *testing.T) {
	db, _ := testenv.Database(t)
	ctx := context.Background()
	if _, err := devdata.Seed(ctx, db, time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	// Migration 00014 again, over accounts made before it.
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provider.ApplyVersion(ctx, 14, false); err != nil {
		t.Fatalf("00014 down: %v", err)
	}
	if _, err := provider.ApplyVersion(ctx, 14, true); err != nil {
		t.Fatalf("00014 up: %v", err)
	}
	for id, want := range map[string]string{devdata.DemoAccountID: "en", devdata.OtherAccountID: "fr"} {
		if a, err := db.Account(ctx, id); err != nil || a.MailLanguage != want {
			t.Errorf("%s after 00014: mail language %q (%v), want %q", id, a.MailLanguage, err, want)
		}
	}

	base := billing.Account{CompanyName: "Exemple SA", Address: billing.Address{Line1: "1 rue", City: "Paris", PostalCode: "75001", Country: "FR"},
		Currency: "EUR", BillingDay: 5, ContactEmail: "compta@exemple.example", Status: billing.AccountActive, CreatedAt: time.Now()}
	for _, tc := range []struct{ id, lang, mail, want string }{
		{"acct_ml_fr", "fr", "", "fr"},
		{"acct_ml_en", "en", "", "en"},
		{"acct_ml_chosen", "fr", "en", "en"},
	} {
		a := base
		a.ID, a.Language, a.MailLanguage = tc.id, tc.lang, tc.mail
		if created, err := db.CreateAccount(ctx, a); err != nil || !created {
			t.Fatalf("create %s: %v %v", tc.id, created, err)
		}
		if got, err := db.Account(ctx, tc.id); err != nil || got.MailLanguage != tc.want {
			t.Errorf("%s: mail language %q (%v), want %q", tc.id, got.MailLanguage, err, tc.want)
		}
	}

	got, err := db.SetMailLanguage(ctx, "acct_ml_fr", "en")
	if err != nil || got.MailLanguage != "en" || got.Language != "fr" || got.ID != "acct_ml_fr" {
		t.Errorf("SetMailLanguage = %+v, %v; want mail language en, language fr", got, err)
	}
	if _, err := db.SetMailLanguage(ctx, "acct_nope", "en"); billing.KindOf(err) != billing.KindNotFound {
		t.Errorf("SetMailLanguage of no account: %v, want not_found", err)
	}
	// The books refuse what the API would (422) if it ever let one through.
	if _, err := db.SetMailLanguage(ctx, "acct_ml_fr", "de"); err == nil {
		t.Error("mail language de stored")
	}
	if _, err := db.Pool.Exec(ctx, `UPDATE accounts SET mail_language = NULL WHERE id = 'acct_ml_fr'`); err == nil {
		t.Error("mail language NULL stored")
	}
}

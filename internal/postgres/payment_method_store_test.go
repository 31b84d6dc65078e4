package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

func newCard(t *testing.T, db *postgres.DB, accountID, id string, at time.Time) billing.PaymentMethod {
	t.Helper()
	pm := billing.PaymentMethod{
		ID: id, AccountID: accountID, Status: billing.PMPendingValidation, ProcessorToken: "tok_" + id,
		Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Ada", ContactEmail: "a@example.com",
		BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
		CreatedAt:      at, ValidationDeadline: at.Add(24 * time.Hour), WorkflowID: "card-validation/" + id,
	}
	if err := db.CreatePaymentMethod(context.Background(), pm); err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestValidatedCardReplacesTheMonthlyOne(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	first := newCard(t, db, devdata.DemoAccountID, "pm_first", now)
	second := newCard(t, db, devdata.DemoAccountID, "pm_second", now.Add(time.Minute))
	decide := func(id string, status billing.PaymentMethodStatus) (billing.PaymentMethod, bool) {
		t.Helper()
		pm, changed, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: id, Status: status,
			Reason: "because", DecidedBy: "key_rep", At: now.Add(time.Hour)})
		if err != nil {
			t.Fatalf("decide %s %s: %v", id, status, err)
		}
		return pm, changed
	}
	monthly := func() string {
		t.Helper()
		pm, err := db.MonthlyPaymentMethod(ctx, devdata.DemoAccountID)
		if err != nil {
			t.Fatal(err)
		}
		if pm == nil {
			return ""
		}
		return pm.ID
	}

	if pm, changed := decide(first.ID, billing.PMValidated); !changed || pm.Status != billing.PMValidated || pm.DecidedAt == nil || pm.DecidedBy != "key_rep" {
		t.Fatalf("validating the first card: changed=%v %+v", changed, pm)
	}
	if got := monthly(); got != first.ID {
		t.Fatalf("monthly card = %q, want %s", got, first.ID)
	}
	if _, changed := decide(first.ID, billing.PMValidated); changed {
		t.Error("validating twice changed the card again")
	}
	if pm, changed := decide(first.ID, billing.PMRejected); changed || pm.Status != billing.PMValidated {
		t.Errorf("rejecting a validated card: changed=%v status %s, want it left validated", changed, pm.Status)
	}
	decide(second.ID, billing.PMValidated)
	if got := monthly(); got != second.ID {
		t.Errorf("monthly card after validating another = %q, want %s", got, second.ID)
	}
	third := newCard(t, db, devdata.DemoAccountID, "pm_third", now.Add(2*time.Minute))
	decide(third.ID, billing.PMExpired)
	if got := monthly(); got != second.ID {
		t.Errorf("an expired card changed the monthly card to %q", got)
	}
}

func TestPaymentMethodPages(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	ids := []string{"pm_a", "pm_b", "pm_c", "pm_d"}
	for i, id := range ids {
		acct := devdata.DemoAccountID
		if i == 2 {
			acct = devdata.OtherAccountID
		}
		newCard(t, db, acct, id, now.Add(time.Duration(i)*time.Minute))
	}
	if _, _, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: "pm_b", Status: billing.PMRejected, At: now}); err != nil {
		t.Fatal(err)
	}

	walk := func(list func(billing.ListParams) ([]billing.PaymentMethod, bool, error)) []string {
		t.Helper()
		var got []string
		p := billing.ListParams{Limit: 1}
		for {
			page, more, err := list(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, pm := range page {
				got = append(got, pm.ID)
			}
			if !more {
				return got
			}
			p.StartingAfter = page[len(page)-1].ID
		}
	}
	mine := walk(func(p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
		return db.PaymentMethods(ctx, devdata.DemoAccountID, p)
	})
	if want := "pm_d pm_b pm_a"; strings.Join(mine, " ") != want {
		t.Errorf("acct_demo's cards: %q, want newest first %q", strings.Join(mine, " "), want)
	}
	pending := walk(func(p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
		return db.PendingPaymentMethods(ctx, p)
	})
	if want := "pm_a pm_c pm_d"; strings.Join(pending, " ") != want {
		t.Errorf("pending cards: %q, want oldest first across accounts %q", strings.Join(pending, " "), want)
	}
	if _, _, err := db.PaymentMethods(ctx, devdata.DemoAccountID, billing.ListParams{Limit: 5, StartingAfter: "pm_c"}); billing.KindOf(err) != billing.KindInvalid {
		t.Errorf("another account's card as cursor: %v, want invalid", err)
	}
	if _, err := db.PaymentMethod(ctx, devdata.DemoAccountID, "pm_c"); billing.KindOf(err) != billing.KindNotFound {
		t.Errorf("another account's card: %v, want not found", err)
	}
	if err := db.DeletePendingPaymentMethod(ctx, "pm_b"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PaymentMethodByID(ctx, "pm_b"); err != nil {
		t.Errorf("a decided card was deleted: %v", err)
	}
}

package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
)

// A decision reason with a NUL (the API refuses one, but the rep-decision signal can be sent
// by hand) is recorded without it: failing the write would fail every retry of the
// workflow's activity and leave the card pending for good.
func TestDecisionReasonWithANulIsRecorded(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	pm := billing.PaymentMethod{
		ID: "pm_nul", AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation, ProcessorToken: "tok_nul",
		Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, HolderName: "Ada", ContactEmail: "a@example.com",
		BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
		CreatedAt:      now, ValidationDeadline: now.Add(24 * time.Hour), WorkflowID: "card-validation/pm_nul",
	}
	if err := db.CreatePaymentMethod(ctx, pm); err != nil {
		t.Fatal(err)
	}
	got, changed, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMRejected,
		Reason: "stolen\x00 card", DecidedBy: "key_rep", At: now.Add(time.Hour)})
	if err != nil || !changed || got.Status != billing.PMRejected || got.DecisionReason != "stolen card" {
		t.Fatalf("DecidePaymentMethod = %+v, changed %v, %v; want rejected with reason %q", got, changed, err, "stolen card")
	}
}

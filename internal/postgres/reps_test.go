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

// TestRepsAreNamedAndDisabledAtOnce: a rep's key names them as caller and on the cards they
// decide; a second rep of the same name is refused; disabling the rep (by name) refuses their
// key and ends their console session on the next lookup.
func TestRepsAreNamedAndDisabledAtOnce(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	now := time.Now()
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatal(err)
	}
	demo, err := db.CallerByAPIKey(ctx, devdata.DemoRepKey)
	if err != nil || !demo.Rep || demo.RepName != devdata.DemoRepName {
		t.Fatalf("demo rep key: %+v %v, want the rep %q", demo, err, devdata.DemoRepName)
	}
	alice, err := db.AddRep(ctx, "Alice Martin", "rk_alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AddRep(ctx, "Alice Martin", "rk_alice2"); billing.KindOf(err) != billing.KindConflict {
		t.Fatalf("second Alice Martin: %v, want rep_exists", err)
	}
	c, err := db.CallerByAPIKey(ctx, "rk_alice")
	if err != nil || !c.Rep || c.RepName != "Alice Martin" || c.KeyID != alice.KeyID {
		t.Fatalf("alice's key: %+v %v", c, err)
	}

	pm := billing.PaymentMethod{ID: "pm_named", AccountID: devdata.DemoAccountID, Status: billing.PMPendingValidation,
		ProcessorToken: "tok_named", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030, ContactEmail: "a@example.com",
		BillingAddress: billing.Address{Line1: "1 Main", City: "Springfield", PostalCode: "1", Country: "US"},
		CreatedAt:      now, ValidationDeadline: now.Add(24 * time.Hour), WorkflowID: "card-validation/pm_named"}
	if err := db.CreatePaymentMethod(ctx, pm); err != nil {
		t.Fatal(err)
	}
	decided, _, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMRejected,
		Reason: "stolen", DecidedBy: alice.KeyID, At: now})
	if err != nil || decided.DecidedByName != "Alice Martin" {
		t.Fatalf("decided: %q %v, want decided by Alice Martin", decided.DecidedByName, err)
	}
	hist, err := db.Decisions(ctx, postgres.DecisionFilter{RepKeyID: alice.KeyID, Status: billing.PMRejected})
	if err != nil || len(hist) != 1 || hist[0].ID != pm.ID {
		t.Fatalf("alice's rejections: %v %v", hist, err)
	}
	if hist, _ := db.Decisions(ctx, postgres.DecisionFilter{Status: billing.PMValidated}); len(hist) != 0 {
		t.Fatalf("approvals: %v, want none", hist)
	}

	if err := db.CreateRepSession(ctx, "sess_alice", postgres.RepSession{KeyID: alice.KeyID, CSRFToken: "t", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if s, err := db.RepSessionByID(ctx, "sess_alice", now); err != nil || s.Name != "Alice Martin" {
		t.Fatalf("session: %+v %v", s, err)
	}
	if s, err := db.RepSessionByID(ctx, "sess_alice", now.Add(2*time.Hour)); billing.KindOf(err) != billing.KindUnauthenticated {
		t.Fatalf("expired session: %+v %v, want unauthenticated", s, err)
	}
	if _, err := db.DisableRep(ctx, "Alice Martin"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CallerByAPIKey(ctx, "rk_alice"); billing.KindOf(err) != billing.KindUnauthenticated {
		t.Fatalf("disabled rep's key: %v, want unauthenticated", err)
	}
	if _, err := db.RepSessionByID(ctx, "sess_alice", now); billing.KindOf(err) != billing.KindUnauthenticated {
		t.Fatalf("disabled rep's session: %v, want unauthenticated", err)
	}
	if cur, err := db.PaymentMethodByID(ctx, pm.ID); err != nil || cur.DecidedByName != "Alice Martin" {
		t.Fatalf("a disabled rep's decisions keep their name: %q %v", cur.DecidedByName, err)
	}
}

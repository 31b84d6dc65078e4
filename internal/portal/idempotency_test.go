package portal_test

import (
	"context"
	"testing"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

func count(t *testing.T, db *postgres.DB, sql string) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Temporal is down when a card is added with a key: the answer is a 503 and the card stays
// recorded with its key; the retry with the key starts its workflow and answers that card,
// without calling the processor again. Without a key the card is taken back, as before.
func TestCardAddedWhileTemporalIsDownIsStartedByTheRetryWithItsKey(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	clock := &billing.FixedClock{T: portalNow}
	down := true
	tc := &scriptedTemporal{start: func() error {
		if down {
			return serviceerror.NewUnavailable("connection refused")
		}
		return nil
	}}
	s := cardsWith(t, db, tc)
	s.Processor = sandbox.NewCardProcessor(db.Pool, clock)
	s.RequestHashKey = []byte("a test secret of thirty-two bytes!")
	in := portal.NewCard{IdempotencyKey: "add-while-down", Card: gateway.Card{Number: "4242424242424242", ExpMonth: 12,
		ExpYear: 2030, CVC: "123", HolderName: "Ada"}, ContactEmail: "ap@example.com"}

	_, _, err := s.Add(ctx, devdata.DemoAccountID, in)
	if e := billing.ErrorOf(err); e == nil || e.Kind != billing.KindUnavailable {
		t.Fatalf("add while Temporal is down: %v, want 503", err)
	}
	if n := count(t, db, `SELECT count(*)::int FROM payment_methods`); n != 1 {
		t.Fatalf("%d cards stored after the 503, want the 1 recorded with its key", n)
	}
	tokenized := count(t, db, `SELECT count(*)::int FROM sandbox_cards`)

	down = false
	pm, replayed, err := s.Add(ctx, devdata.DemoAccountID, in)
	if err != nil || !replayed || pm.Status != billing.PMPendingValidation {
		t.Fatalf("retry: %+v replayed=%v err=%v, want the recorded card, replayed", pm, replayed, err)
	}
	if n := count(t, db, `SELECT count(*)::int FROM payment_methods`); n != 1 {
		t.Errorf("%d cards after the retry, want 1", n)
	}
	if n := count(t, db, `SELECT count(*)::int FROM sandbox_cards`); n != tokenized {
		t.Errorf("the retry tokenized the card again (%d cards at the processor, want %d)", n, tokenized)
	}
	if n := tc.called("start"); n != 2 {
		t.Errorf("%d workflow starts, want 2 (the failed one, the retry's)", n)
	}

	down = true
	in.IdempotencyKey = ""
	if _, _, err := s.Add(ctx, devdata.DemoAccountID, in); billing.ErrorOf(err) == nil {
		t.Fatalf("add without a key while Temporal is down: %v, want 503", err)
	}
	if n := count(t, db, `SELECT count(*)::int FROM payment_methods`); n != 1 {
		t.Errorf("%d cards, want the keyless one taken back", n)
	}
}

// A decision that failed with a 503 after the workflow recorded it (Temporal's answer lost):
// the key stays claimed, and the retry with it is answered the card, replayed, sending the
// workflow nothing. A refused decision gives its key back.
func TestDecisionRetriedAfterA503IsAnsweredTheCard(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	var rep string // the demo rep's key id: a rep's Idempotency-Keys are scoped to it
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM api_keys WHERE role = 'rep'`).Scan(&rep); err != nil {
		t.Fatal(err)
	}
	pm := pendingCard(t, db)
	tc := &scriptedTemporal{update: func(opts client.UpdateWorkflowOptions) (any, error) {
		// The workflow records the decision; its answer never reaches the API.
		decideInDB(t, db, pm.ID, opts.Args[0].(workflows.RepDecision))
		return nil, serviceerror.NewUnavailable("connection reset")
	}}
	s := cardsWith(t, db, tc)

	_, _, err := s.Decide(ctx, rep, pm.ID, billing.DecisionApprove, "ok", "decide-once")
	if e := billing.ErrorOf(err); e == nil || e.Kind != billing.KindUnavailable {
		t.Fatalf("decision: %v, want 503", err)
	}
	got, replayed, err := s.Decide(ctx, rep, pm.ID, billing.DecisionApprove, "ok", "decide-once")
	if err != nil || !replayed || got.Status != billing.PMValidated {
		t.Fatalf("retry: %+v replayed=%v err=%v, want the validated card, replayed", got, replayed, err)
	}
	if n := tc.called("update " + workflows.UpdateRepDecision); n != 1 {
		t.Errorf("%d updates sent, want 1: the retry sends nothing", n)
	}
	tc.update = func(client.UpdateWorkflowOptions) (any, error) {
		return nil, temporal.NewApplicationError("already decided", workflows.ErrTypeAlreadyDecided)
	}
	_, _, err = s.Decide(ctx, rep, pm.ID, billing.DecisionApprove, "ok", "decide-once-more")
	if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeAlreadyDecided {
		t.Fatalf("a new key: %v, want 409 already_decided", err)
	}
	if n := count(t, db, `SELECT count(*)::int FROM idempotency_keys WHERE key = 'decide-once-more'`); n != 0 {
		t.Errorf("the refused decision's key is still recorded")
	}
}

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

// A decision whose answer was lost: the workflow recorded it, and the retry with the key is
// refused by the workflow as already decided. The card decided as asked, by this rep, is the
// answer, and the key is recorded: a third request is a replay that sends nothing.
func TestDecisionRetriedAfterALostAnswerIsAnsweredTheCard(t *testing.T) {
	ctx := context.Background()
	db := seededDB(t)
	var rep string // the demo rep's key id: a rep's Idempotency-Keys are scoped to it
	if err := db.Pool.QueryRow(ctx, `SELECT id FROM api_keys WHERE role = 'rep'`).Scan(&rep); err != nil {
		t.Fatal(err)
	}
	pm := pendingCard(t, db)
	decideInDB(t, db, pm.ID, workflows.RepDecision{Decision: billing.DecisionApprove, Reason: "ok", RepID: rep})
	tc := &scriptedTemporal{update: func(client.UpdateWorkflowOptions) (any, error) {
		return nil, temporal.NewApplicationError("already decided", workflows.ErrTypeAlreadyDecided)
	}}
	s := cardsWith(t, db, tc)

	got, replayed, err := s.Decide(ctx, rep, pm.ID, billing.DecisionApprove, "ok", "decide-lost")
	if err != nil || replayed || got.Status != billing.PMValidated {
		t.Fatalf("retry after a lost answer: %+v replayed=%v err=%v, want the validated card", got, replayed, err)
	}
	got, replayed, err = s.Decide(ctx, rep, pm.ID, billing.DecisionApprove, "ok", "decide-lost")
	if err != nil || !replayed || got.ID != pm.ID {
		t.Fatalf("third request: %+v replayed=%v err=%v, want a replay", got, replayed, err)
	}
	if n := tc.called("update " + workflows.UpdateRepDecision); n != 1 {
		t.Errorf("%d updates sent, want 1: a replay sends nothing", n)
	}
	// Decided by someone else, or otherwise: the refusal stands.
	if _, _, err := s.Decide(ctx, rep, pm.ID, billing.DecisionReject, "no", "decide-other"); billing.ErrorOf(err) == nil ||
		billing.ErrorOf(err).Code != billing.CodeAlreadyDecided {
		t.Errorf("another decision: %v, want 409 already_decided", err)
	}
}

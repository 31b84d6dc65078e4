package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/postgres"
)

// heard records the events the stores report, as "kind label...".
type heard struct {
	mu     sync.Mutex
	events []string
}

func (h *heard) add(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, fmt.Sprintf(format, args...))
}

func (h *heard) PaymentFinished(m billing.PaymentMethodKind, s billing.PaymentStatus) {
	h.add("payment %s %s", m, s)
}
func (h *heard) CardDecided(s billing.PaymentMethodStatus)  { h.add("card %s", s) }
func (h *heard) PaymentCompensated(k billing.Compensation)  { h.add("compensation %s", k) }
func (h *heard) FindingRecorded(kind string, resolved bool) { h.add("finding %s %v", kind, resolved) }
func (h *heard) AccountPastDue()                            { h.add("past_due") }
func (h *heard) ReceiptsSettled(mailed, givenUp, retry int) {
	h.add("receipts mailed %d given_up %d retry %d", mailed, givenUp, retry)
}
func (h *heard) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func (h *heard) expect(t *testing.T, what string, want ...string) {
	t.Helper()
	got := h.take()
	if !slices.Equal(got, want) {
		t.Errorf("%s: heard %q, want %q", what, got, want)
	}
}

// TestEachBusinessEventIsReportedOnce: the metrics count what the stores report, so a
// store reports a transition when its statement made it and stays silent on every repeat
// (a retried activity, a replayed request, a second reconciler).
func TestEachBusinessEventIsReportedOnce(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	h := &heard{}
	db.Events = h
	at := paymentsNow.Add(time.Minute)

	// A payment applied twice succeeds once.
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "events-1", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := db.ApplyPayment(ctx, p.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(t, "apply twice", "payment paypal succeeded")
	// Finishing an applied payment changes nothing.
	if err := db.FinishPayment(ctx, p.ID, billing.PaymentFailed, nil, at); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "finish a succeeded payment")

	// A payment failed twice fails once; its hold released twice is one compensation; a
	// refund afterwards is another, recorded twice, counted once; a hold release after the
	// refund changes nothing.
	p2, _, err := db.CreatePayment(ctx, newTestPayment(100), "events-2", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.FinishPayment(ctx, p2.ID, billing.PaymentCanceled, &billing.Failure{Code: "canceled"}, at); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(t, "finish twice", "payment paypal canceled")
	for range 2 {
		if err := db.RecordCompensation(ctx, p2.ID, billing.CompensationHoldReleased, at); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(t, "hold released twice", "compensation hold_released")
	for range 2 {
		if err := db.RecordPaymentRefund(ctx, p2.ID, "re_1", at); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordCompensation(ctx, p2.ID, billing.CompensationHoldReleased, at); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "refund twice, then a hold release", "compensation refunded")
	if got := row(t, db, p2.ID); got.Compensation != billing.CompensationRefunded || got.RefundID != "re_1" {
		t.Errorf("after the refund: compensation %q refund %q", got.Compensation, got.RefundID)
	}
	if err := db.RecordCompensation(ctx, "pay_missing", billing.CompensationHoldReleased, at); err != nil {
		t.Errorf("compensation of a missing payment: %v", err)
	}
	h.expect(t, "a missing payment")

	// A card decided twice is one validation.
	pm := newCard(t, db, devdata.DemoAccountID, billing.NewID(billing.PrefixPaymentMethod), paymentsNow)
	for range 2 {
		if _, _, err := db.DecidePaymentMethod(ctx, postgres.CardDecision{PaymentMethodID: pm.ID, Status: billing.PMRejected, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(t, "decide twice", "card rejected")

	// An account goes past due once however often dunning says so, and again only after it
	// was active.
	for _, s := range []billing.AccountStatus{billing.AccountPastDue, billing.AccountPastDue, billing.AccountActive, billing.AccountPastDue} {
		if err := db.SetAccountStatus(ctx, devdata.DemoAccountID, s); err != nil {
			t.Fatal(err)
		}
	}
	h.expect(t, "past due, past due, active, past due", "past_due", "past_due")

	// Each finding of a pass is one.
	err = db.RecordFindings(ctx, "run-1", at, []postgres.Finding{
		{Kind: postgres.FindingStrandedPayment, Resolved: true},
		{Kind: postgres.FindingRefundRefused},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.expect(t, "two findings", "finding stranded_payment true", "finding refund_refused false")
}

func row(t *testing.T, db *postgres.DB, id string) billing.Payment {
	t.Helper()
	p, err := db.PaymentByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

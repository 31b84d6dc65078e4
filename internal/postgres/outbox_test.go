package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
)

// TestOutboxTellsWhatTheBooksSay: every payment transition writes exactly one event, with
// the payment as the transition left it, and a repeat writes none.
func TestOutboxTellsWhatTheBooksSay(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	at := paymentsNow.Add(time.Minute)
	before, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}

	paid, _, err := db.CreatePayment(ctx, newTestPayment(100), "outbox-1", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := db.ApplyPayment(ctx, paid.ID, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordPaymentRefund(ctx, paid.ID, "re_1", at); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordPaymentRefund(ctx, paid.ID, "re_1", at); err != nil {
		t.Fatal(err)
	}
	failed, _, err := db.CreatePayment(ctx, newTestPayment(200), "outbox-2", []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.FinishPayment(ctx, failed.ID, billing.PaymentFailed, &billing.Failure{Code: "card_declined"}, at); err != nil {
			t.Fatal(err)
		}
	}

	events, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, "", billing.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	events = events[:len(events)-len(before)] // newest first: the new ones lead
	type seen struct {
		typ    billing.EventType
		id     string
		status billing.PaymentStatus
		refund string
	}
	var got []seen
	for _, e := range events {
		var p billing.Payment
		if err := json.Unmarshal(e.Object, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, seen{e.Type, e.ObjectID, p.Status, p.RefundID})
	}
	want := []seen{
		{billing.EventPaymentFailed, failed.ID, billing.PaymentFailed, ""},
		{billing.EventPaymentRefunded, paid.ID, billing.PaymentSucceeded, "re_1"},
		{billing.EventPaymentSucceeded, paid.ID, billing.PaymentSucceeded, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("events %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}

	only, _, err := db.AccountEvents(ctx, devdata.DemoAccountID, billing.EventPaymentRefunded, billing.ListParams{Limit: 100})
	if err != nil || len(only) != 1 || only[0].ObjectID != paid.ID {
		t.Errorf("type filter: %d events, %v", len(only), err)
	}
}

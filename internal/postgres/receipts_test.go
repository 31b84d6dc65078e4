package postgres_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
)

// bookedForReceipt creates a payment and books it, asking (or not) for its receipt.
func bookedForReceipt(t *testing.T, db *postgres.DB, mailReceipt bool, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	p, _, err := db.CreatePayment(ctx, newTestPayment(100), "receipt-"+billing.NewID("k"), []byte("hash"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.BookPayment(ctx, postgres.Booking{PaymentID: p.ID, At: at, MailReceipt: mailReceipt}); err != nil {
		t.Fatal(err)
	}
	return p.ID
}

func claimedIDs(t *testing.T, db *postgres.DB, now time.Time, limit int) []string {
	t.Helper()
	facts, err := db.ClaimDueReceipts(context.Background(), now, limit, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range facts {
		ids = append(ids, f.Payment.ID)
	}
	return ids
}

// The booking that books a payment makes one receipt due; a repeated booking (a lost answer)
// makes none; a claim hands it out once until its lease ends, with what the mail is written
// from; once mailed it is never due again.
func TestBookingMakesOneReceiptDue(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	at := paymentsNow.Add(time.Minute)
	id := bookedForReceipt(t, db, true, at)
	quiet := bookedForReceipt(t, db, false, at) // a version-4 saga's booking: it mails its own
	if _, err := db.BookPayment(ctx, postgres.Booking{PaymentID: id, At: at.Add(time.Hour), MailReceipt: true}); err != nil {
		t.Fatal(err)
	}
	if due, err := db.ReceiptDue(ctx, quiet); err != nil || due != nil {
		t.Errorf("a booking without MailReceipt made a receipt due at %v (%v)", due, err)
	}

	if got := claimedIDs(t, db, at.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("claimed %v before the booking's time", got)
	}
	now := at.Add(time.Second)
	facts, err := db.ClaimDueReceipts(ctx, now, 10, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(facts) != 1 || facts[0].Payment.ID != id || facts[0].Account.ContactEmail == "" || facts[0].Payment.CompletedAt == nil ||
		!facts[0].Payment.CompletedAt.Equal(at) {
		t.Fatalf("claimed %+v, want the one receipt of %s with its account, completed at %v", facts, id, at)
	}
	if got := claimedIDs(t, db, now, 10); len(got) != 0 {
		t.Errorf("claimed %v again inside the lease", got)
	}
	// The first mailer stalled past its lease: another claims the receipt, and the first's
	// late outcome changes nothing.
	later := now.Add(11 * time.Minute)
	if got := claimedIDs(t, db, later, 10); !slices.Equal(got, []string{id}) {
		t.Errorf("after the lease claimed %v, want %s", got, id)
	}
	if err := db.SettleReceipts(ctx, postgres.ReceiptOutcomes{LeaseUntil: now.Add(10 * time.Minute), Retry: []string{id}, RetryAt: now}); err != nil {
		t.Fatal(err)
	}
	if due, err := db.ReceiptDue(ctx, id); err != nil || due == nil || !due.Equal(later.Add(10*time.Minute)) {
		t.Errorf("after a stale pass settled, due at %v (%v), want still under the second lease", due, err)
	}
	if err := db.SettleReceipts(ctx, postgres.ReceiptOutcomes{LeaseUntil: later.Add(10 * time.Minute), Mailed: []string{id}}); err != nil {
		t.Fatal(err)
	}
	if due, err := db.ReceiptDue(ctx, id); err != nil || due != nil {
		t.Errorf("a mailed receipt is due at %v (%v)", due, err)
	}
	if got := claimedIDs(t, db, now.Add(time.Hour), 10); len(got) != 0 {
		t.Errorf("claimed %v after the receipt was mailed", got)
	}
	// A booking retried after all that (an answer lost long ago) makes no receipt due again.
	if _, err := db.BookPayment(ctx, postgres.Booking{PaymentID: id, At: now.Add(time.Hour), MailReceipt: true}); err != nil {
		t.Fatal(err)
	}
	if due, err := db.ReceiptDue(ctx, id); err != nil || due != nil {
		t.Errorf("a repeated booking made the mailed receipt due again at %v (%v)", due, err)
	}
}

// A receipt that failed for now is due again at RetryAt, not before; one given up never.
func TestReceiptRetriedOrGivenUp(t *testing.T) {
	ctx := context.Background()
	db := seededPaymentsDB(t)
	at := paymentsNow.Add(time.Minute)
	retry, gone := bookedForReceipt(t, db, true, at), bookedForReceipt(t, db, true, at)
	if got := claimedIDs(t, db, at, 10); len(got) != 2 {
		t.Fatalf("claimed %v, want both", got)
	}
	h := &heard{}
	db.Events = h
	retryAt := at.Add(time.Minute)
	if err := db.SettleReceipts(ctx, postgres.ReceiptOutcomes{LeaseUntil: at.Add(10 * time.Minute), Retry: []string{retry},
		GivenUp: []string{gone}, RetryAt: retryAt}); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "settled", "receipts mailed 0 given_up 1 retry 1")
	if got := claimedIDs(t, db, retryAt.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("claimed %v before the retry's time", got)
	}
	if got := claimedIDs(t, db, retryAt, 10); !slices.Equal(got, []string{retry}) {
		t.Errorf("claimed %v at the retry's time, want only %s", got, retry)
	}
}

// Mailers claiming at once never share a receipt, and between them claim every one.
func TestConcurrentReceiptClaimsSplitTheOutbox(t *testing.T) {
	db := seededPaymentsDB(t)
	at := paymentsNow.Add(time.Minute)
	var want []string
	for range 30 {
		want = append(want, bookedForReceipt(t, db, true, at))
	}
	var (
		mu  sync.Mutex
		got []string
		wg  sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				facts, err := db.ClaimDueReceipts(context.Background(), at, 4, at.Add(10*time.Minute))
				if err != nil {
					t.Error(err)
				}
				if len(facts) == 0 {
					return
				}
				mu.Lock()
				for _, f := range facts {
					got = append(got, f.Payment.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("claimed %d receipts (%v), want each of the %d once", len(got), got, len(want))
	}
}

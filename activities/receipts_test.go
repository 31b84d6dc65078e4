package activities_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
)

// flakyMail fails every send with err while err is set, and keeps what it sent.
type flakyMail struct {
	mu   sync.Mutex
	err  error
	sent []mail.Message
}

func (f *flakyMail) Send(_ context.Context, m mail.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m)
	return nil
}

func (f *flakyMail) subjects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.sent {
		out = append(out, m.To+": "+m.Subject)
	}
	return out
}

// bookWithReceipt books a stored card payment as the saga's booking does from
// versionReceiptOutbox on, twice: the second is the retry after a lost answer.
func (s *paymentSteps) bookWithReceipt(t *testing.T, amount int64) billing.Payment {
	t.Helper()
	p := s.storedCardPayment(t, "4242424242424242", amount)
	for range 2 {
		if _, err := runPaymentStep[activities.ApplyResult](t, s, s.BookPaymentMailingReceipt, activities.BookInput{PaymentID: p.ID}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// The receipt a booking made due is mailed once, to the account's contact, with the balance
// the books hold; the booking's retry and later passes mail nothing more.
func TestReceiptOutboxMailsEachReceiptOnce(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	m := &flakyMail{}
	clock := &billing.FixedClock{T: time.Now().Add(time.Second)}
	o := &activities.ReceiptOutbox{DB: s.db, Mail: m, Clock: clock}
	p := s.bookWithReceipt(t, 800)
	balance, err := s.db.Balance(ctx, p.AccountID)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := o.MailDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := m.subjects()
	if len(got) != 1 || !strings.HasPrefix(got[0], "billing@demo-corp.example: Payment received") {
		t.Fatalf("mails %q, want one receipt to the contact", got)
	}
	newBalance := fmt.Sprintf("New balance: $%d.%02d", balance/100, balance%100)
	if text := m.sent[0].Text; !strings.Contains(text, p.ID) || !strings.Contains(text, newBalance) {
		t.Errorf("receipt does not name %s and the balance %d:\n%s", p.ID, balance, text)
	}
	if len(s.outbox.Messages()) != 0 {
		t.Errorf("the booking mailed %d itself; the outbox mails receipts", len(s.outbox.Messages()))
	}
}

// A mail server that is down leaves the receipt due a minute later, and it is mailed once
// the server is back; one the server refuses for good is given up, never retried.
func TestReceiptOutboxRetriesAndGivesUp(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	m := &flakyMail{err: errors.New("dial tcp: connection refused")}
	clock := &billing.FixedClock{T: time.Now().Add(time.Second)}
	o := &activities.ReceiptOutbox{DB: s.db, Mail: m, Clock: clock}
	p := s.bookWithReceipt(t, 900)
	if n, err := o.MailDue(ctx); n != 1 || err != nil {
		t.Fatalf("pass with the server down claimed %d (%v), want 1", n, err)
	}
	m.err = nil
	if n, _ := o.MailDue(ctx); n != 0 || len(m.subjects()) != 0 {
		t.Errorf("retried at once (%d claimed, mails %q), want a minute later", n, m.subjects())
	}
	clock.T = clock.T.Add(time.Minute)
	if _, err := o.MailDue(ctx); err != nil || len(m.subjects()) != 1 {
		t.Errorf("a minute later mailed %q (%v), want the receipt of %s", m.subjects(), err, p.ID)
	}

	refused := s.bookWithReceipt(t, 1000)
	m.err = fmt.Errorf("send: %w", mail.ErrInvalidMessage)
	if n, err := o.MailDue(ctx); n != 1 || err != nil {
		t.Fatalf("pass claimed %d (%v), want the refused receipt", n, err)
	}
	m.err = nil
	clock.T = clock.T.Add(time.Hour)
	if n, _ := o.MailDue(ctx); n != 0 {
		t.Errorf("a receipt refused for good was claimed again")
	}
	if due, err := s.db.ReceiptDue(ctx, refused.ID); err != nil || due != nil {
		t.Errorf("the refused receipt is still due at %v (%v)", due, err)
	}
}

// stuckMail is a mail server that takes every message and never answers.
type stuckMail struct{}

func (stuckMail) Send(ctx context.Context, _ mail.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// A mail server that hangs does not hold the pass (and the webhook events behind it): the
// pass ends at its bound and the receipt is due again a minute later, not lost.
func TestReceiptOutboxPassEndsWhenTheMailServerHangs(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	clock := &billing.FixedClock{T: time.Now().Add(time.Second)}
	p := s.bookWithReceipt(t, 700)
	hung := &activities.ReceiptOutbox{DB: s.db, Mail: stuckMail{}, Clock: clock, PassFor: 200 * time.Millisecond}
	if n, err := hung.MailDue(ctx); n != 1 || err != nil {
		t.Fatalf("pass claimed %d (%v), want the receipt", n, err)
	}
	due, err := s.db.ReceiptDue(ctx, p.ID)
	if err != nil || due == nil || !due.Equal(clock.T.Add(time.Minute).Truncate(time.Microsecond)) {
		t.Errorf("after a hung pass the receipt is due at %v (%v), want a minute later", due, err)
	}
	// A day later the server still hangs: a receipt cut short is retried, never given up.
	clock.T = clock.T.Add(25 * time.Hour)
	if n, err := hung.MailDue(ctx); n != 1 || err != nil {
		t.Fatalf("a day later the pass claimed %d (%v), want the receipt", n, err)
	}
	m := &flakyMail{}
	clock.T = clock.T.Add(time.Minute)
	if _, err := (&activities.ReceiptOutbox{DB: s.db, Mail: m, Clock: clock}).MailDue(ctx); err != nil || len(m.subjects()) != 1 {
		t.Errorf("a minute later mailed %q (%v), want the receipt", m.subjects(), err)
	}
}

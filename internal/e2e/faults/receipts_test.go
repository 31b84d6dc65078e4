package faults_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/testenv"
)

// downWhileMailing is a mail server during which Postgres goes away: each send drops every
// database connection and refuses the next few, as a Postgres restart does.
type downWhileMailing struct {
	proxy *pgProxy
	mu    sync.Mutex
	sent  []string
}

func (d *downWhileMailing) Send(_ context.Context, m mail.Message) error {
	d.proxy.Down(3)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, m.Subject)
	return nil
}

// Postgres goes away while a receipt is being mailed: the pass still records it as mailed
// once the database is back, so no later pass mails it again, even after its lease.
func TestReceiptMailedWhilePostgresRestartsIsMailedOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	db, through, proxy := seededBehindProxy(t, now)

	id := testenv.BookedWithReceiptDue(t, db, devdata.DemoAccountID, 500, now)

	smtp := &downWhileMailing{proxy: proxy}
	clock := &billing.FixedClock{T: now.Add(time.Second)}
	o := &activities.ReceiptOutbox{DB: through, Mail: smtp, Clock: clock, Logger: testenv.Logger(&testenv.LogBuffer{})}
	if n, err := o.MailDue(ctx); n != 1 || err != nil {
		t.Fatalf("pass claimed %d (%v), want the receipt, recorded once Postgres is back", n, err)
	}
	if proxy.Refused() == 0 {
		t.Fatal("Postgres never went down: the test tests nothing")
	}
	clock.T = clock.T.Add(time.Hour) // every lease is over
	if _, err := o.MailDue(ctx); err != nil {
		t.Fatal(err)
	}
	if len(smtp.sent) != 1 {
		t.Errorf("mailed %q, want the receipt once", smtp.sent)
	}
	if due, err := db.ReceiptDue(ctx, id); err != nil || due != nil {
		t.Errorf("receipt still due at %v (%v)", due, err)
	}
}

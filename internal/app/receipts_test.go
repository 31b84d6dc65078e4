package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
	"github.com/payportal/payportal/workflows"
)

// A worker as `payportal worker` builds it, with the dispatcher it starts, mails a receipt the
// books made due: the outbox is wired into the dispatcher's passes, not only into tests.
func TestTheWorkersDispatcherMailsDueReceipts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, dbURL := testenv.Database(t)
	now := time.Now().UTC()
	if _, err := devdata.Seed(ctx, db, now); err != nil {
		t.Fatalf("seed: %v", err)
	}
	tc := testenv.TemporalClient(t)
	cfg := config.Config{Env: config.EnvDevelopment, DatabaseURL: dbURL, TaskQueue: "receipts-" + billing.NewID("")[:12],
		PublicURL: "http://portal.test", CardValidationTimeout: time.Hour, PayPalApprovalTimeout: time.Hour,
		CardProcessor: "sandbox", PayPalMode: "sandbox"}
	a, err := app.New(cfg, testenv.Logger(&testenv.LogBuffer{}), db, tc)
	if err != nil {
		t.Fatal(err)
	}
	outbox := &mailtest.Outbox{}
	a.Mail = outbox
	w := worker.New(tc, a.WorkerConfig())
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := a.EnsureWebhookDispatcher(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = tc.TerminateWorkflow(context.Background(), workflows.WebhookDispatcherID(cfg.TaskQueue), "", "test over")
	}()

	id := testenv.BookedWithReceiptDue(t, db, devdata.DemoAccountID, 250, now)
	for {
		for _, m := range outbox.Messages() {
			if strings.HasPrefix(m.Subject, "Payment received") && strings.Contains(m.Text, id) {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("no receipt for %s from the worker's dispatcher; mails %+v", id, outbox.Messages())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

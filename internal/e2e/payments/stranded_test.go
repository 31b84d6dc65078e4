package payments_test

import (
	"context"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/workflows"
)

// A payment stored while Temporal was unreachable answered 503 and has no saga; if the client
// never retries, the worker's sweep starts it, and it is applied once.
func TestStrandedPaymentIsResumedBySweep(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	acct, err := p.db.Account(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.app.Cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2035,
		CVC: "123", HolderName: "Ada Lovelace"}, acct.Address)
	if err != nil {
		t.Fatalf("tokenize: %v", err)
	}
	stranded := billing.Payment{
		ID: billing.NewID(billing.PrefixPayment), AccountID: acct.ID, Status: billing.PaymentProcessing,
		Method: billing.MethodCard, Amount: billing.Money{Amount: 1500, Currency: acct.Currency},
		CardToken: tok.Token, CardBrand: tok.Brand, CardLast4: tok.Last4, BillingAddress: &acct.Address,
		CreatedAt: time.Now().UTC().Add(-5 * time.Minute).Truncate(time.Microsecond),
	}
	stranded.WorkflowID = workflows.PaymentWorkflowID(stranded.ID)
	if _, _, err := p.db.CreatePayment(ctx, stranded, "stranded-"+randomHex(4), []byte("fingerprint")); err != nil {
		t.Fatalf("store the payment without its saga: %v", err)
	}
	// A payment created just now is the API's own to start: the sweep leaves it alone.
	fresh := stranded
	fresh.ID = billing.NewID(billing.PrefixPayment)
	fresh.WorkflowID = workflows.PaymentWorkflowID(fresh.ID)
	fresh.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := p.db.CreatePayment(ctx, fresh, "fresh-"+randomHex(4), []byte("fingerprint")); err != nil {
		t.Fatal(err)
	}

	checked, err := p.app.ResumeStrandedPayments(ctx)
	if err != nil || checked != 1 {
		t.Fatalf("sweep checked %d payments (err %v), want exactly the stranded one", checked, err)
	}
	got := p.awaitFinal(stranded.ID, 30*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("stranded payment ended %s (%+v), want succeeded", got.Status, got.Failure)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance %d after the resumed payment, want %d", after, before-1500)
	}
	if n := p.count(`SELECT count(*)::int FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, stranded.ID); n != 1 {
		t.Errorf("%d ledger entries for the resumed payment, want 1", n)
	}
	if got := p.payment(fresh.ID); got.Status != "processing" {
		t.Errorf("the fresh payment is %s; the sweep should have left it to the API", got.Status)
	}

	// A second sweep finds nothing left to resume and starts no second saga.
	if checked, err := p.app.ResumeStrandedPayments(ctx); err != nil || checked != 0 {
		t.Errorf("second sweep checked %d (err %v), want 0", checked, err)
	}
}

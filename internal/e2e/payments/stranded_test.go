package payments_test

import (
	"context"
	"testing"
	"time"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

// A payment stored while Temporal was unreachable answered 503 and has no saga; if the client
// never retries, the reconciler starts its saga (a resolved stranded_payment finding), and it
// is applied once. A payment younger than the grace period is the API's own to start: the
// reconciler leaves it alone. A second pass starts nothing new.
func TestStrandedPaymentIsResumedByReconciler(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	before := p.balance()

	acct, err := p.db.Account(ctx, devdata.DemoAccountID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := p.app.Cards.Tokenize(ctx, gateway.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: time.Now().Year() + 3,
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
	fresh := stranded
	fresh.ID = billing.NewID(billing.PrefixPayment)
	fresh.WorkflowID = workflows.PaymentWorkflowID(fresh.ID)
	fresh.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if _, _, err := p.db.CreatePayment(ctx, fresh, "fresh-"+randomHex(4), []byte("fingerprint")); err != nil {
		t.Fatal(err)
	}

	report, err := p.app.Reconcile(ctx)
	if err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	found := findingsFor(report, stranded.ID)
	if len(found) != 1 || found[0].Kind != postgres.FindingStrandedPayment || found[0].Action != "started_saga" || !found[0].Resolved {
		t.Fatalf("findings about the stranded payment %+v, want one resolved stranded_payment with action started_saga", found)
	}
	if f := findingsFor(report, fresh.ID); len(f) != 0 {
		t.Errorf("the reconciler acted on a payment younger than its grace period: %+v", f)
	}
	if report.Unresolved != 0 {
		t.Errorf("%d unresolved findings: %+v", report.Unresolved, report.Findings)
	}
	if n := p.count(`SELECT count(*)::int FROM reconciliation_findings
		WHERE payment_id = $1 AND kind = 'stranded_payment' AND action = 'started_saga' AND resolved`, stranded.ID); n != 1 {
		t.Errorf("%d recorded findings about the stranded payment, want 1", n)
	}

	got := p.awaitFinal(stranded.ID, 30*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("stranded payment ended %s (%+v), want succeeded", got.Status, got.Failure)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance %d after the resumed payment, want %d", after, before-1500)
	}
	if n := p.ledgerEntries(stranded.ID); n != 1 {
		t.Errorf("%d ledger entries for the resumed payment, want 1", n)
	}
	p.checkOneReceipt(stranded.ID)
	if got := p.payment(fresh.ID); got.Status != "processing" {
		t.Errorf("the fresh payment is %s; the reconciler should have left it to the API", got.Status)
	}
	if _, err := p.temporal.DescribeWorkflowExecution(ctx, fresh.WorkflowID, ""); err == nil {
		t.Error("the reconciler started the fresh payment's saga")
	}

	// A second pass finds nothing left to resume and starts no second saga.
	again, err := p.app.Reconciler().ResolveStrandedPayments(ctx, activities.ReconcileInput{RunID: "second-" + randomHex(4)})
	if err != nil || again.Checked != 0 || len(again.Findings) != 0 {
		t.Errorf("second pass checked %d and found %+v (err %v), want nothing", again.Checked, again.Findings, err)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_authorizations WHERE idempotency_key = $1`, stranded.ID+"/authorize"); n != 1 {
		t.Errorf("%d authorizations for the stranded payment, want 1", n)
	}
	p.checkBooksAgree()
}

package payments_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"

	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

func TestCardPaymentLowersTheBalanceByExactlyItsAmount(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	if before < 1234 {
		t.Fatalf("the seeded balance is %d; the test needs at least 1234", before)
	}
	paidBefore := p.count(`SELECT coalesce(sum(amount_paid), 0)::int FROM invoices WHERE account_id = 'acct_demo'`)

	// The POST starts the saga with the payment-started update, which the saga answers once
	// the payment is final: a sandbox card completes well within the API's 3 s wait, so the
	// answer is the outcome itself. Only a POST that waited the whole 3 s may say processing.
	posted := time.Now()
	pay := p.pay(cardPayment(1234, "4242 4242 4242 4242", "937"))
	took := time.Since(posted)
	t.Logf("the card POST answered %s in %v", pay.Status, took)
	switch {
	case pay.WorkflowID != workflows.PaymentWorkflowID(pay.ID) || pay.ApprovalURL != nil:
		t.Errorf("accepted payment %+v, want workflow payment/<id> and no approval_url", pay)
	case pay.Status == "succeeded" && pay.CompletedAt != nil:
	case pay.Status == "processing" && took >= 3*time.Second:
		t.Logf("the saga did not answer within the wait (a slow machine); the POST answered processing")
	default:
		t.Errorf("the POST answered %+v after %v, want succeeded (or processing after the whole 3 s wait)", pay, took)
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "succeeded" || got.Failure != nil || got.CompletedAt == nil || got.Amount != 1234 || got.Currency != "USD" {
		t.Fatalf("payment ended %+v, want succeeded", got)
	}
	if after := p.balance(); after != before-1234 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-1234)
	}
	if n := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, pay.ID); n != 1 {
		t.Errorf("%d ledger entries for the payment, want 1", n)
	}
	if paid := p.count(`SELECT coalesce(sum(amount_paid), 0)::int FROM invoices WHERE account_id = 'acct_demo'`); paid != paidBefore+1234 {
		t.Errorf("invoices' amount_paid went from %d to %d, want the payment allocated to open invoices", paidBefore, paid)
	}

	// The saga's own view: finished, PaymentStatus current, the payment's facts searchable.
	ctx := context.Background()
	var state workflows.PaymentState
	if err := p.temporal.GetWorkflow(ctx, pay.WorkflowID, "").Get(ctx, &state); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	if state.Status != "succeeded" {
		t.Errorf("workflow returned %+v", state)
	}
	desc, err := p.temporal.DescribeWorkflowExecution(ctx, pay.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	fields := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()
	for name, want := range map[string]any{"PaymentStatus": "succeeded", "PaymentMethodKind": "card", "AmountMinor": int64(1234), "AccountId": "acct_demo"} {
		payload, ok := fields[name]
		if !ok {
			t.Errorf("search attribute %s not set", name)
			continue
		}
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(payload, &v); err != nil {
			t.Fatal(err)
		}
		if n, isNum := v.(float64); isNum {
			v = int64(n)
		}
		if v != want {
			t.Errorf("search attribute %s = %v, want %v", name, v, want)
		}
	}

	p.awaitMails(pay.ID, 1, 30*time.Second) // the receipt outbox mails it within a pass
	receipts := 0
	for _, m := range p.outbox.Messages() {
		if m.To == "billing@demo-corp.example" && strings.Contains(m.Text, pay.ID) {
			receipts++
		}
	}
	if receipts != 1 {
		t.Errorf("%d receipts mailed to the account's contact, want 1", receipts)
	}

	scan := newSecretScan("4242424242424242", "937")
	all, texts := p.databaseText()
	scan.check(t, "the database", all)
	scan.check(t, "the database's text columns", texts)
	scan.check(t, "the logs", p.logs.String())
	if !strings.Contains(p.logs.String(), "payment accepted") {
		t.Error("the logs were not captured")
	}
	if r := p.requests(pay.WorkflowID); r["update "+workflows.UpdatePaymentStarted] != 1 || r["answered "+workflows.UpdatePaymentStarted] != 1 {
		t.Errorf("the saga's history holds %v, want one %s update, accepted and answered", r, workflows.UpdatePaymentStarted)
	}
	events, payloads := p.historyText(pay.WorkflowID)
	if !strings.Contains(payloads, pay.ID) || !strings.Contains(payloads, "tok_") {
		t.Error("the history's payloads were not decoded")
	}
	scan.check(t, "the Temporal history", payloads)
	if strings.Contains(events, "4242424242424242") {
		t.Error("the card number is in the Temporal history")
	}
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_card_succeeded_v5.json")
}

// The POST's answer for a card payment that succeeds comes from the saga's answer, without a
// read of the row: it must be, field for field, what the books keep (a GET afterwards).
func TestSucceededCardPaymentAnswersWhatTheBooksKeep(t *testing.T) {
	p := startPortal(t, portalOptions{})
	body := cardPayment(321, "4242 4242 4242 4242", "937")
	body["metadata"] = map[string]string{"order": "A-1"}
	status, posted := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), body)
	if status != http.StatusAccepted {
		t.Fatalf("POST payment answered %d %s, want 202", status, posted)
	}
	answer := decode[map[string]any](t, posted)
	switch answer["status"] {
	case "succeeded":
	case "processing":
		t.Skipf("the saga did not answer within the wait (a slow machine): %s", posted)
	default:
		t.Fatalf("the POST answered %s, want succeeded", posted)
	}
	_, stored := p.call(http.MethodGet, demoPath+"/payments/"+answer["id"].(string), "", nil)
	if kept := decode[map[string]any](t, stored); !reflect.DeepEqual(answer, kept) {
		t.Errorf("the POST answered\n%s\nbut the books keep\n%s", posted, stored)
	}
}

func TestDeclinedCardLeavesTheBalanceWithTheDeclineCode(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	for number, code := range map[string]string{
		"4000000000000002": "card_declined",
		"4000000000009995": "insufficient_funds",
		"4000000000000069": "expired_card",
		"4000000000000127": "incorrect_cvc",
		"4000000000000341": "card_declined",
	} {
		pay := p.pay(cardPayment(700, number, "123"))
		got := p.awaitFinal(pay.ID, 30*time.Second)
		if got.Status != "failed" || got.Failure == nil || got.Failure.Code != code || got.Failure.Message == "" {
			t.Errorf("card %s: payment ended %+v, want failed with %s", number, got, code)
		}
		if n := p.count(`SELECT attempts FROM sandbox_charge_attempts WHERE idempotency_key = $1`, pay.ID+"/authorize"); n != 1 {
			t.Errorf("card %s: authorized %d times, want once: declines are not retried", number, n)
		}
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d after declines, want unchanged", before, after)
	}
	if n := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment'`); n != 0 {
		t.Errorf("%d payment ledger entries after declines, want none", n)
	}
}

func TestTwentyConcurrentDuplicatesMakeOnePaymentAndOneCharge(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	body := cardPayment(500, "4242424242424242", "123")
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[string]int{}
		ids      = map[string]bool{}
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a := p.send(http.MethodPost, demoPath+"/payments", demoKey, "same-key", body)
			mu.Lock()
			defer mu.Unlock()
			statuses[fmt.Sprintf("%d replayed=%v", a.status, a.replayed)]++
			if a.status == http.StatusAccepted {
				ids[decode[payment](t, a.raw).ID] = true
			}
		}()
	}
	close(start)
	wg.Wait()
	if statuses["202 replayed=false"] != 1 || statuses["202 replayed=true"] != n-1 {
		t.Errorf("answers %v, want one 202 and %d × 202 replayed", statuses, n-1)
	}
	if len(ids) != 1 {
		t.Fatalf("%d different payments for one Idempotency-Key: %v", len(ids), ids)
	}
	var id string
	for k := range ids {
		id = k
	}
	if got := p.awaitFinal(id, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %+v", got)
	}
	if c := p.count(`SELECT count(*) FROM payments`); c != 1 {
		t.Errorf("%d payments stored, want 1", c)
	}
	if c := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment'`); c != 1 {
		t.Errorf("%d payment ledger entries, want 1", c)
	}
	if c := p.count(`SELECT count(*) FROM sandbox_captures`); c != 1 {
		t.Errorf("%d captures at the processor, want 1", c)
	}
	if after := p.balance(); after != before-500 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-500)
	}

	// Later replays answer the payment as it now stands; another body under the key is a 409.
	replay := p.send(http.MethodPost, demoPath+"/payments", demoKey, "same-key", body)
	if got := decode[payment](t, replay.raw); replay.status != http.StatusAccepted || !replay.replayed || got.ID != id || got.Status != "succeeded" {
		t.Errorf("replay after success answered %d replayed=%v %s", replay.status, replay.replayed, replay.raw)
	}
	other := cardPayment(501, "4242424242424242", "123")
	status, raw := p.call(http.MethodPost, demoPath+"/payments", "same-key", other)
	if e := decode[apiError](t, raw); status != http.StatusConflict || e.Error.Code != "idempotency_key_reused" {
		t.Errorf("same key, other body answered %d %s, want 409 idempotency_key_reused", status, raw)
	}
}

func TestOverpaymentIsRefusedCountingPaymentsInFlight(t *testing.T) {
	p := startPortal(t, portalOptions{})
	bal := p.balance()

	status, raw := p.call(http.MethodPost, demoPath+"/payments", "over", cardPayment(bal+1, "4242424242424242", "123"))
	if e := decode[apiError](t, raw); status != http.StatusUnprocessableEntity || e.Error.Code != "amount_exceeds_balance" || e.Error.Param != "amount" {
		t.Errorf("paying %d of %d answered %d %s, want 422 amount_exceeds_balance", bal+1, bal, status, raw)
	}

	// A PayPal payment of the whole balance waits for the buyer: nothing is left to pay
	// until it ends.
	pending := p.pay(paypalPayment(bal))
	p.awaitPayment(pending.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })
	status, raw = p.call(http.MethodPost, demoPath+"/payments", "second", cardPayment(1, "4242424242424242", "123"))
	if e := decode[apiError](t, raw); status != http.StatusUnprocessableEntity || e.Error.Code != "amount_exceeds_balance" {
		t.Errorf("paying 1 while the whole balance is in flight answered %d %s, want 422 amount_exceeds_balance", status, raw)
	}
	if status, raw := p.call(http.MethodPost, demoPath+"/payments/"+pending.ID+"/cancel", "", nil); status != http.StatusOK {
		t.Fatalf("cancel answered %d %s", status, raw)
	}
	p.awaitFinal(pending.ID, 30*time.Second)
	status, raw = p.call(http.MethodPost, demoPath+"/payments", "third", cardPayment(1, "4242424242424242", "123"))
	if status != http.StatusAccepted {
		t.Errorf("paying 1 once the PayPal payment was canceled answered %d %s, want 202", status, raw)
	}
}

func TestPaymentRequestsAreValidated(t *testing.T) {
	p := startPortal(t, portalOptions{noWorker: true})
	for _, tc := range []struct {
		name        string
		key         string
		body        map[string]any
		status      int
		code, param string
	}{
		{"no idempotency key", "", cardPayment(100, "4242424242424242", "123"), 400, "idempotency_key_required", "Idempotency-Key"},
		{"zero amount", "k1", cardPayment(0, "4242424242424242", "123"), 422, "amount_not_positive", "amount"},
		{"negative amount", "k2", cardPayment(-5, "4242424242424242", "123"), 422, "amount_not_positive", "amount"},
		{"other currency", "k3", map[string]any{"amount": 100, "currency": "EUR", "method": "paypal"}, 422, "currency_mismatch", "currency"},
		{"unknown method", "k4", map[string]any{"amount": 100, "currency": "USD", "method": "cash"}, 422, "invalid_value", "method"},
		{"bad card number", "k5", cardPayment(100, "4242424242424241", "123"), 422, "invalid_card_number", "card.number"},
		{"bad cvc", "k6", cardPayment(100, "4242424242424242", "12"), 422, "invalid_cvc", "card.cvc"},
		{"no address", "k7", map[string]any{"amount": 100, "currency": "USD", "method": "card",
			"card": cardPayment(1, "4242424242424242", "123")["card"]}, 422, "missing_field", "billing_address"},
		{"unknown field", "k8", map[string]any{"amount": 100, "currency": "USD", "method": "paypal", "tip": 5}, 400, "unknown_field", "tip"},
	} {
		status, raw := p.call(http.MethodPost, demoPath+"/payments", tc.key, tc.body)
		e := decode[apiError](t, raw)
		if status != tc.status || e.Error.Code != tc.code || e.Error.Param != tc.param {
			t.Errorf("%s: answered %d %s, want %d %s on %s", tc.name, status, raw, tc.status, tc.code, tc.param)
		}
	}
	if n := p.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Errorf("%d payments stored from invalid requests", n)
	}
}

// browser follows links and forms like a person would, but stops at redirects that leave
// PayPortal, so a test can see where the buyer was sent.
func (p *portal) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(p.base)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != base.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

var formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"><button[^>]*>(Approve|Cancel)</button>`)

// buyerClicks opens the approval URL like a browser and presses the button.
func (p *portal) buyerClicks(approvalURL, button string) *http.Response {
	p.t.Helper()
	u, err := url.Parse(approvalURL)
	if err != nil || u.Query().Get("token") == "" {
		p.t.Fatalf("approval_url %q carries no token", approvalURL)
	}
	b := p.browser()
	resp, err := b.Get(approvalURL)
	if err != nil {
		p.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		p.t.Fatalf("checkout page answered %d %s", resp.StatusCode, page)
	}
	// The buyer sees whom they pay and for which account.
	if !strings.Contains(string(page), `id="merchant">PayPortal`) || !strings.Contains(string(page), `id="account">`) ||
		!strings.Contains(string(page), `id="payment">pay_`) {
		p.t.Errorf("checkout page names no merchant, account or payment:\n%s", page)
	}
	var action string
	for _, m := range formAction.FindAllStringSubmatch(string(page), -1) {
		if m[2] == button {
			action = html.UnescapeString(m[1])
		}
	}
	if action == "" {
		p.t.Fatalf("no %s button on the checkout page:\n%s", button, page)
	}
	target, err := u.Parse(action)
	if err != nil {
		p.t.Fatalf("form action %q: %v", action, err)
	}
	resp, err = b.Post(target.String(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func TestPayPalApprovedByTheBuyerSucceeds(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	pay := p.pay(paypalPayment(2000))
	// The portal sends the buyer to approval_url next: the POST's answer carries it, the
	// saga's own answer to the payment-started update sent with its start.
	if pay.Status != "requires_action" || pay.ApprovalURL == nil {
		t.Fatalf("POST answered %s with approval_url %v; want requires_action with the url", pay.Status, pay.ApprovalURL)
	}
	if r := p.requests(pay.WorkflowID); r["update "+workflows.UpdatePaymentStarted] != 1 || r["answered "+workflows.UpdatePaymentStarted] != 1 {
		t.Errorf("the saga's history holds %v, want the %s update answered", r, workflows.UpdatePaymentStarted)
	}
	waiting := pay

	resp := p.buyerClicks(*waiting.ApprovalURL, "Approve")
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/v1/paypal/return" {
		t.Fatalf("approving landed on %s with %d %s, want the return page of /v1/paypal/return", resp.Request.URL, resp.StatusCode, raw)
	}
	// Without a return_url the browser lands on PayPortal's page saying how the payment stands.
	if page := string(raw); !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(page, `id="payment">`+pay.ID) ||
		!strings.Contains(page, "$20.00") || !(strings.Contains(page, `data-state="paid"`) || strings.Contains(page, `data-state="waiting"`)) {
		t.Errorf("the return answered %s:\n%s\nwant the landing page of the payment, paid or still waiting", resp.Header.Get("Content-Type"), page)
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("payment ended %+v, want succeeded", got)
	}
	if after := p.balance(); after != before-2000 {
		t.Errorf("balance went from %d to %d, want %d", before, after, before-2000)
	}
	if n := p.count(`SELECT count(*) FROM sandbox_paypal_captures`); n != 1 {
		t.Errorf("%d PayPal captures, want 1", n)
	}
	// Coming back through the link again changes nothing.
	resp = p.buyerReturn("/v1/paypal/return?token=" + url.QueryEscape(tokenOf(t, *waiting.ApprovalURL)))
	resp.Body.Close()
	if n := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment'`); n != 1 {
		t.Errorf("%d payment ledger entries, want 1", n)
	}
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_paypal_succeeded_v5.json")
}

func (p *portal) buyerReturn(path string) *http.Response {
	p.t.Helper()
	resp, err := p.browser().Get(p.base + path)
	if err != nil {
		p.t.Fatal(err)
	}
	return resp
}

func tokenOf(t *testing.T, approvalURL string) string {
	t.Helper()
	u, err := url.Parse(approvalURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestPayPalCanceledByTheBuyerLeavesTheBalance(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	body := paypalPayment(2500)
	body["return_url"] = "https://shop.example/after-paypal?order=7"
	pay := p.pay(body)
	waiting := p.awaitPayment(pay.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })

	resp := p.buyerClicks(*waiting.ApprovalURL, "Cancel")
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/after-paypal?order=7" {
		t.Errorf("cancelling answered %d to %q, want 302 to the return_url", resp.StatusCode, resp.Header.Get("Location"))
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "canceled" {
		t.Fatalf("payment ended %+v, want canceled", got)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}
	var orderStatus string
	if err := p.db.Pool.QueryRow(context.Background(), `SELECT status FROM sandbox_paypal_orders WHERE id = $1`,
		tokenOf(t, *waiting.ApprovalURL)).Scan(&orderStatus); err != nil {
		t.Fatal(err)
	}
	// The buyer's cancel closed the order at PayPal; nobody can approve it any more.
	if orderStatus != "canceled" && orderStatus != "voided" {
		t.Errorf("the PayPal order is %s, want closed (canceled or voided)", orderStatus)
	}
	if n := p.count(`SELECT count(*) FROM sandbox_paypal_captures`); n != 0 {
		t.Errorf("%d PayPal captures, want none", n)
	}
}

func TestPayPalPaymentCanceledThroughTheAPI(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	pay := p.pay(paypalPayment(900))
	if pay.Status != "requires_action" {
		t.Fatalf("POST answered %s, want requires_action", pay.Status)
	}

	// The saga answers the cancel-payment update once it has released the order and recorded
	// the end: the answer is final, no polling.
	status, raw := p.call(http.MethodPost, demoPath+"/payments/"+pay.ID+"/cancel", "", nil)
	if got := decode[payment](t, raw); status != http.StatusOK || got.Status != "canceled" || got.CompletedAt == nil {
		t.Errorf("cancel answered %d %s, want 200 canceled", status, raw)
	}
	if r := p.requests(pay.WorkflowID); r["update "+workflows.UpdateCancelPayment] != 1 || r["answered "+workflows.UpdateCancelPayment] != 1 ||
		r["signal "+workflows.SignalCancel] != 0 {
		t.Errorf("the saga's history holds %v, want the %s update answered and no signal", r, workflows.UpdateCancelPayment)
	}
	p.awaitClosed(pay.WorkflowID, 30*time.Second)
	testenv.RecordWorkflowHistory(t, p.temporal, pay.WorkflowID, "payment_paypal_cancelled_by_update_v5.json")
	status, raw = p.call(http.MethodPost, demoPath+"/payments/"+pay.ID+"/cancel", "", nil)
	if e := decode[apiError](t, raw); status != http.StatusConflict || e.Error.Code != "not_cancelable" {
		t.Errorf("second cancel answered %d %s, want 409 not_cancelable", status, raw)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}

	card := p.pay(cardPayment(100, "4242424242424242", "123"))
	p.awaitFinal(card.ID, 30*time.Second)
	status, raw = p.call(http.MethodPost, demoPath+"/payments/"+card.ID+"/cancel", "", nil)
	if e := decode[apiError](t, raw); status != http.StatusConflict || e.Error.Code != "not_cancelable" {
		t.Errorf("cancelling a card payment answered %d %s, want 409 not_cancelable", status, raw)
	}

	status, raw = p.call(http.MethodGet, demoPath+"/payments?limit=1", "", nil)
	list := decode[struct {
		Data    []payment `json:"data"`
		HasMore bool      `json:"has_more"`
	}](t, raw)
	if status != http.StatusOK || len(list.Data) != 1 || list.Data[0].ID != card.ID || !list.HasMore {
		t.Fatalf("first page answered %d %s, want the newest payment and has_more", status, raw)
	}
	status, raw = p.call(http.MethodGet, demoPath+"/payments?limit=5&starting_after="+card.ID, "", nil)
	list.Data = nil
	list = decode[struct {
		Data    []payment `json:"data"`
		HasMore bool      `json:"has_more"`
	}](t, raw)
	if status != http.StatusOK || len(list.Data) != 1 || list.Data[0].ID != pay.ID || list.HasMore {
		t.Errorf("second page answered %d %s, want the older payment and no more", status, raw)
	}
}

func TestPayPalApprovalExpires(t *testing.T) {
	p := startPortal(t, portalOptions{approvalTimeout: 2 * time.Second})
	before := p.balance()
	pay := p.pay(paypalPayment(300))
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "expired" {
		t.Fatalf("payment ended %+v, want expired", got)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance went from %d to %d, want unchanged", before, after)
	}
	if got.ApprovalURL == nil {
		t.Fatal("no approval_url")
	}
	// The buyer arriving late finds the order closed.
	resp := p.buyerReturn("/sandbox/paypal/checkout?token=" + url.QueryEscape(tokenOf(t, *got.ApprovalURL)))
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(page), ">Approve<") {
		t.Errorf("the checkout page of an expired payment still offers Approve:\n%s", page)
	}
}

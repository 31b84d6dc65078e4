package payments_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// answer is one API answer with what tells a replay.
type answer struct {
	status   int
	replayed bool
	raw      []byte
}

// send is call with the answer's Idempotent-Replayed header; key is the API key.
func (p *portal) send(method, path, apiKey, idempotencyKey string, body any) answer {
	p.t.Helper()
	r := testenv.Request{Method: method, Path: path, Key: apiKey, Body: body}
	if idempotencyKey != "" {
		r.Header = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	resp, raw := testenv.Do(p.t, p.base, r)
	return answer{resp.StatusCode, resp.Header.Get("Idempotent-Replayed") == "true", raw}
}

type card struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id"`
}

func cardOnFile(email string) map[string]any {
	return map[string]any{
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": "123", "holder_name": "Dana Demo"},
		"use_company_info": true, "contact_email": email,
	}
}

// mailsTo lists the mails sent so far to one address.
func (p *portal) mailsTo(to string) []string {
	var subjects []string
	for _, m := range p.outbox.Messages() {
		if m.To == to {
			subjects = append(subjects, m.Subject)
		}
	}
	return subjects
}

// A card addition sent again with its key answers the same card, replayed, and does nothing
// again: one card, one tokenization, one validation workflow, one mail. Another body under
// the key is a 409; the rep's decision replays the same way, and its key is the rep's own.
func TestCardAdditionAndDecisionRetriedWithTheirKeys(t *testing.T) {
	p := startPortal(t, portalOptions{})
	ctx := context.Background()
	const email = "idempotent@demo-corp.example"
	body := cardOnFile(email)
	path := demoPath + "/payment-methods"

	first := p.send(http.MethodPost, path, demoKey, "add-card-1", body)
	added := decode[card](t, first.raw)
	if first.status != http.StatusAccepted || first.replayed || added.Status != "pending_validation" {
		t.Fatalf("first addition answered %d replayed=%v %s, want 202 pending_validation, not replayed", first.status, first.replayed, first.raw)
	}
	tokenized := p.count(`SELECT count(*)::int FROM sandbox_cards`)
	again := p.send(http.MethodPost, path, demoKey, "add-card-1", body)
	if got := decode[card](t, again.raw); again.status != http.StatusAccepted || !again.replayed || got != added {
		t.Errorf("replay answered %d replayed=%v %s, want 202 replayed with %+v", again.status, again.replayed, again.raw, added)
	}
	if n := p.count(`SELECT count(*)::int FROM payment_methods`); n != 1 {
		t.Errorf("%d cards stored, want 1", n)
	}
	if n := p.count(`SELECT count(*)::int FROM sandbox_cards`); n != tokenized {
		t.Errorf("the replay tokenized the card again: %d cards at the processor, want %d", n, tokenized)
	}
	other := p.send(http.MethodPost, path, demoKey, "add-card-1", cardOnFile("someone-else@demo-corp.example"))
	if e := decode[apiError](t, other.raw); other.status != http.StatusConflict || e.Error.Code != "idempotency_key_reused" {
		t.Errorf("same key, other body answered %d %s, want 409 idempotency_key_reused", other.status, other.raw)
	}
	p.eventually("the card's received mail", 30*time.Second, func() bool { return len(p.mailsTo(email)) >= 1 })

	// The rep approves; the same request again is answered the card, sending nothing to its
	// workflow; the same key with another decision is refused.
	decide := "/v1/rep/payment-methods/" + added.ID + "/decision"
	approve := map[string]any{"decision": "approve", "reason": "verified by phone"}
	decided := p.send(http.MethodPost, decide, devdata.DemoRepKey, "decide-1", approve)
	if got := decode[card](t, decided.raw); decided.status != http.StatusOK || decided.replayed || got.Status != "validated" {
		t.Fatalf("decision answered %d replayed=%v %s, want 200 validated", decided.status, decided.replayed, decided.raw)
	}
	redecided := p.send(http.MethodPost, decide, devdata.DemoRepKey, "decide-1", approve)
	if got := decode[card](t, redecided.raw); redecided.status != http.StatusOK || !redecided.replayed || got.ID != added.ID || got.Status != "validated" {
		t.Errorf("decision replay answered %d replayed=%v %s, want 200 replayed, validated", redecided.status, redecided.replayed, redecided.raw)
	}
	reject := p.send(http.MethodPost, decide, devdata.DemoRepKey, "decide-1", map[string]any{"decision": "reject"})
	if e := decode[apiError](t, reject.raw); reject.status != http.StatusConflict || e.Error.Code != "idempotency_key_reused" {
		t.Errorf("same key, other decision answered %d %s, want 409 idempotency_key_reused", reject.status, reject.raw)
	}
	// The key is the rep's: another rep sending it is a new decision, refused as late.
	const secondRep = "second_rep_key"
	if err := p.db.CreateAPIKey(ctx, secondRep, "second rep (test)", ""); err != nil {
		t.Fatal(err)
	}
	late := p.send(http.MethodPost, decide, secondRep, "decide-1", approve)
	if e := decode[apiError](t, late.raw); late.status != http.StatusConflict || e.Error.Code != "already_decided" {
		t.Errorf("another rep's request with the key answered %d %s, want 409 already_decided", late.status, late.raw)
	}
	if r := p.requests(added.WorkflowID); r["update "+workflows.UpdateRepDecision] != 1 {
		t.Errorf("the card's workflow took %v, want one %s update", r, workflows.UpdateRepDecision)
	}

	// One workflow, so two mails (received, validated), each once.
	p.awaitClosed(added.WorkflowID, 30*time.Second)
	p.eventually("the card's validated mail", 30*time.Second, func() bool { return len(p.mailsTo(email)) >= 2 })
	if mails := p.mailsTo(email); len(mails) != 2 || !strings.Contains(mails[0], "received") {
		t.Errorf("mails to %s: %q, want the received one and the validated one", email, mails)
	}
}

// Ten requests with one key at once store one card: one answer does the work, the others are
// its replays.
func TestConcurrentCardAdditionsWithOneKeyStoreOneCard(t *testing.T) {
	p := startPortal(t, portalOptions{})
	body := cardOnFile("concurrent@demo-corp.example")
	const n = 10
	answers := make([]answer, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = p.send(http.MethodPost, demoPath+"/payment-methods", demoKey, "add-card-at-once", body)
		}()
	}
	close(start)
	wg.Wait()
	ids, fresh := map[string]bool{}, 0
	for _, a := range answers {
		if a.status != http.StatusAccepted {
			t.Fatalf("an addition answered %d %s, want 202", a.status, a.raw)
		}
		ids[decode[card](t, a.raw).ID] = true
		if !a.replayed {
			fresh++
		}
	}
	if len(ids) != 1 || fresh != 1 {
		t.Errorf("%d cards answered (%v), %d answers not replayed; want one card, one answer that made it", len(ids), ids, fresh)
	}
	if c := p.count(`SELECT count(*)::int FROM payment_methods`); c != 1 {
		t.Errorf("%d cards stored, want 1", c)
	}

	// A rep's double click: five approvals with one key at once. One reaches the workflow;
	// the others are its replays, answered the validated card, not 409 already_decided.
	var id string
	for k := range ids {
		id = k
	}
	decisions := make([]answer, 5)
	start = make(chan struct{})
	for i := range decisions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			decisions[i] = p.send(http.MethodPost, "/v1/rep/payment-methods/"+id+"/decision", devdata.DemoRepKey, "approve-at-once",
				map[string]any{"decision": "approve"})
		}()
	}
	close(start)
	wg.Wait()
	fresh = 0
	for _, a := range decisions {
		if got := decode[card](t, a.raw); a.status != http.StatusOK || got.Status != "validated" {
			t.Errorf("a decision answered %d %s, want 200 validated", a.status, a.raw)
		}
		if !a.replayed {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d decisions not replayed, want 1", fresh)
	}
	if r := p.requests(workflows.CardValidationWorkflowID(id)); r["update "+workflows.UpdateRepDecision] != 1 {
		t.Errorf("the card's workflow took %v, want one %s update", r, workflows.UpdateRepDecision)
	}
}

// A cancel sent again with its key answers the same 200 and the payment canceled, replayed,
// without asking the saga again; without a key, or under a new one, a second cancel stays a
// 409.
func TestCancelRetriedWithItsKeyAnswersTheSame(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.pay(paypalPayment(700))
	if pay.Status != "requires_action" {
		t.Fatalf("POST answered %s, want requires_action", pay.Status)
	}
	cancel := demoPath + "/payments/" + pay.ID + "/cancel"
	first := p.send(http.MethodPost, cancel, demoKey, "cancel-1", nil)
	if got := decode[payment](t, first.raw); first.status != http.StatusOK || first.replayed || got.Status != "canceled" {
		t.Fatalf("cancel answered %d replayed=%v %s, want 200 canceled", first.status, first.replayed, first.raw)
	}
	again := p.send(http.MethodPost, cancel, demoKey, "cancel-1", nil)
	if got := decode[payment](t, again.raw); again.status != first.status || !again.replayed || got.ID != pay.ID || got.Status != "canceled" {
		t.Errorf("cancel replay answered %d replayed=%v %s, want %d replayed, canceled", again.status, again.replayed, again.raw, first.status)
	}
	if r := p.requests(pay.WorkflowID); r["update "+workflows.UpdateCancelPayment] != 1 {
		t.Errorf("the saga took %v, want one %s update", r, workflows.UpdateCancelPayment)
	}
	if a := p.send(http.MethodPost, cancel, demoKey, "", nil); a.status != http.StatusConflict {
		t.Errorf("a cancel without a key answered %d %s, want 409 not_cancelable as before", a.status, a.raw)
	}
	// A new key is a new cancel: refused, and the key is given back, so it is refused again
	// rather than replayed.
	for range 2 {
		late := p.send(http.MethodPost, cancel, demoKey, "cancel-late", nil)
		if e := decode[apiError](t, late.raw); late.status != http.StatusConflict || late.replayed || e.Error.Code != "not_cancelable" {
			t.Errorf("a cancel of the canceled payment under a new key answered %d replayed=%v %s, want 409 not_cancelable", late.status, late.replayed, late.raw)
		}
	}
	// The key names this cancel; on another payment it is a reuse.
	other := p.pay(paypalPayment(300))
	reuse := p.send(http.MethodPost, demoPath+"/payments/"+other.ID+"/cancel", demoKey, "cancel-1", nil)
	if e := decode[apiError](t, reuse.raw); reuse.status != http.StatusConflict || e.Error.Code != "idempotency_key_reused" {
		t.Errorf("the key on another payment answered %d %s, want 409 idempotency_key_reused", reuse.status, reuse.raw)
	}
	if got := p.payment(other.ID); got.Status != "requires_action" {
		t.Errorf("the refused cancel moved the other payment to %s", got.Status)
	}
	// A payment's key used on a cancel is a reuse too: keys are per account, not per route.
	cross := p.send(http.MethodPost, demoPath+"/payment-methods", demoKey, "cancel-1", cardOnFile("cross@demo-corp.example"))
	if cross.status != http.StatusConflict {
		t.Errorf("a cancel's key on a card addition answered %d %s, want 409", cross.status, cross.raw)
	}
}

// Payment replays say so too, with the first answer's status.
func TestPaymentReplayIsMarked(t *testing.T) {
	p := startPortal(t, portalOptions{})
	body := paypalPayment(400)
	first := p.send(http.MethodPost, demoPath+"/payments", demoKey, "pay-once", body)
	again := p.send(http.MethodPost, demoPath+"/payments", demoKey, "pay-once", body)
	if first.status != http.StatusAccepted || first.replayed {
		t.Fatalf("payment answered %d replayed=%v %s", first.status, first.replayed, first.raw)
	}
	if again.status != http.StatusAccepted || !again.replayed || decode[payment](t, again.raw).ID != decode[payment](t, first.raw).ID {
		t.Errorf("replay answered %d replayed=%v %s, want 202 replayed, the same payment", again.status, again.replayed, again.raw)
	}
	if c := p.count(`SELECT count(*)::int FROM payments`); c != 1 {
		t.Errorf("%d payments stored, want 1", c)
	}
}

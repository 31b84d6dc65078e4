package payments_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/webhook"
	"github.com/payportal/payportal/workflows"
)

// receiver is a webhook receiver on loopback: it answers each delivery with the next of
// answers (200 once they run out) and keeps what came.
type receiver struct {
	mu      sync.Mutex
	answers []int
	got     []delivery
	srv     *httptest.Server
}

type delivery struct {
	eventID, signature, contentType string
	body                            []byte
	status                          int
}

type sentEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	AccountID string `json:"account_id"`
	CreatedAt string `json:"created_at"`
	Data      struct {
		Object struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"object"`
	} `json:"data"`
	Deliveries []struct {
		EndpointID string `json:"endpoint_id"`
		StatusCode *int   `json:"status_code"`
	} `json:"deliveries"`
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		r.got = append(r.got, delivery{req.Header.Get(webhook.EventIDHeader), req.Header.Get(webhook.SignatureHeader),
			req.Header.Get("Content-Type"), body, status})
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// accepted are the events the receiver answered 2xx, decoded, after checking each carries a
// valid signature under secret and its id in PayPortal-Event-Id.
func (r *receiver) accepted(t *testing.T, secret string) []sentEvent {
	t.Helper()
	var out []sentEvent
	for _, d := range r.deliveries() {
		if err := webhook.Verify(secret, d.signature, d.body, time.Minute); err != nil {
			t.Fatalf("delivery %s: signature %q: %v", d.eventID, d.signature, err)
		}
		var e sentEvent
		if err := json.Unmarshal(d.body, &e); err != nil {
			t.Fatalf("delivery body %s: %v", d.body, err)
		}
		if e.ID != d.eventID || d.contentType != "application/json" {
			t.Fatalf("delivery of %s came with PayPortal-Event-Id %q, Content-Type %q", e.ID, d.eventID, d.contentType)
		}
		if d.status < 300 {
			out = append(out, e)
		}
	}
	return out
}

type endpoint struct {
	ID     string   `json:"id"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
	Status string   `json:"status"`
}

// webhooks dispatches the outbox here, every 50 ms, with retries a test can wait for (a
// `payportal worker` runs the WebhookDispatcher workflow instead, with the configured ones),
// and registers an endpoint at r for events.
func (p *portal) webhooks(r *receiver, events ...string) endpoint {
	p.t.Helper()
	return p.webhooksGivingUpAfter(0, r, events...)
}

// webhooksGivingUpAfter is webhooks with deliveries retried for giveUp (0: the default).
func (p *portal) webhooksGivingUpAfter(giveUp time.Duration, r *receiver, events ...string) endpoint {
	p.t.Helper()
	svc := p.app.WebhookService()
	svc.RetryFirst, svc.RetryMax = 100*time.Millisecond, 200*time.Millisecond
	if giveUp > 0 {
		svc.GiveUpAfter = giveUp
	}
	p.every50ms(func(ctx context.Context) { _, _ = svc.Dispatch(ctx) })
	return p.registerEndpoint(r, events...)
}

// registerEndpoint registers an endpoint at r for events, for a dispatcher running elsewhere
// (a `payportal worker` process runs its own).
func (p *portal) registerEndpoint(r *receiver, events ...string) endpoint {
	p.t.Helper()
	a := p.send(http.MethodPost, demoPath+"/webhook-endpoints", demoKey, "", map[string]any{
		"url": r.srv.URL + "/hooks", "events": events, "description": "test receiver"})
	if a.status != http.StatusCreated {
		p.t.Fatalf("POST webhook-endpoints answered %d %s", a.status, a.raw)
	}
	return decode[endpoint](p.t, a.raw)
}

func eventsOf(events []sentEvent, typ, objectID string) []sentEvent {
	var out []sentEvent
	for _, e := range events {
		if e.Type == typ && e.Data.Object.ID == objectID {
			out = append(out, e)
		}
	}
	return out
}

// A card payment and a card approval each reach the receiver as their event, signed, with
// the object as the API answers it; the event and its delivery are visible on the API.
func TestWebhooksDeliverPaymentAndCardEvents(t *testing.T) {
	p := startPortal(t, portalOptions{})
	r := newReceiver(t)
	we := p.webhooks(r, "payment.succeeded", "payment_method.validated")
	if len(we.Secret) < 20 || we.ID == "" {
		t.Fatalf("endpoint %+v: want an id and a whsec_ secret", we)
	}

	paid := p.pay(cardPayment(700, "4242424242424242", "123"))
	if got := p.awaitFinal(paid.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment %s ended %s", paid.ID, got.Status)
	}
	var sent []sentEvent
	p.eventually("payment.succeeded at the receiver", 30*time.Second, func() bool {
		sent = eventsOf(r.accepted(t, we.Secret), "payment.succeeded", paid.ID)
		return len(sent) > 0
	})
	e := sent[0]
	if e.Data.Object.Status != "succeeded" || e.AccountID != devdata.DemoAccountID {
		t.Errorf("payment.succeeded carried %+v", e)
	}

	added := p.send(http.MethodPost, demoPath+"/payment-methods", demoKey, "", cardOnFile("hooks@demo-corp.example"))
	if added.status != http.StatusAccepted {
		t.Fatalf("add card answered %d %s", added.status, added.raw)
	}
	pm := decode[card](t, added.raw)
	if d := p.send(http.MethodPost, "/v1/rep/payment-methods/"+pm.ID+"/decision", devdata.DemoRepKey, "",
		map[string]any{"decision": "approve"}); d.status != http.StatusOK {
		t.Fatalf("approve answered %d %s", d.status, d.raw)
	}
	p.eventually("payment_method.validated at the receiver", 30*time.Second, func() bool {
		return len(eventsOf(r.accepted(t, we.Secret), "payment_method.validated", pm.ID)) > 0
	})
	// Only the subscribed types came: the card's pending_validation did not.
	for _, got := range r.accepted(t, we.Secret) {
		if got.Type != "payment.succeeded" && got.Type != "payment_method.validated" {
			t.Errorf("received %s, not subscribed", got.Type)
		}
	}

	// The API shows the event with its delivery.
	status, raw := p.call(http.MethodGet, demoPath+"/events/"+e.ID, "", nil)
	shown := decode[sentEvent](t, raw)
	if status != http.StatusOK || shown.Data.Object.ID != paid.ID || len(shown.Deliveries) != 1 ||
		shown.Deliveries[0].StatusCode == nil || *shown.Deliveries[0].StatusCode != 200 || shown.Deliveries[0].EndpointID != we.ID {
		t.Errorf("GET event answered %d %s, want the event with its one 200 delivery", status, raw)
	}
	// Another account's customer sees none of it.
	other := p.send(http.MethodGet, "/v1/accounts/"+devdata.OtherAccountID+"/events/"+e.ID, devdata.OtherCustomerKey, "", nil)
	if other.status != http.StatusNotFound {
		t.Errorf("another account's GET of the event answered %d %s, want 404", other.status, other.raw)
	}
	status, raw = p.call(http.MethodGet, demoPath+"/events?type=payment_method.validated", "", nil)
	list := decode[struct{ Data []sentEvent }](t, raw)
	if status != http.StatusOK || len(list.Data) != 1 || list.Data[0].Data.Object.ID != pm.ID {
		t.Errorf("events of one type answered %d %s", status, raw)
	}
	// Every event is listed, the seeded invoices' and the card's pending_validation too (each
	// answer is checked against the OpenAPI document, invoices and cards included).
	status, raw = p.call(http.MethodGet, demoPath+"/events?limit=100", "", nil)
	all := decode[struct{ Data []sentEvent }](t, raw)
	types := map[string]bool{}
	for _, e := range all.Data {
		types[e.Type] = true
	}
	for _, want := range []string{"invoice.issued", "payment_method.pending_validation", "payment_method.validated", "payment.succeeded"} {
		if status != http.StatusOK || !types[want] {
			t.Errorf("GET events answered %d without %s: %v", status, want, types)
		}
	}
}

// A receiver that answers 500 three times gets the event on the fourth attempt, with the
// same event id every time; the attempts are on the event. A redelivery sends it again,
// same id.
func TestWebhooksRetryUntilTheReceiverTakesIt(t *testing.T) {
	p := startPortal(t, portalOptions{})
	r := newReceiver(t, 500, 500, 500)
	we := p.webhooks(r, "payment.succeeded")

	paid := p.pay(cardPayment(300, "4242424242424242", "123"))
	p.awaitFinal(paid.ID, 30*time.Second)
	p.eventually("the fourth attempt", 60*time.Second, func() bool { return len(r.accepted(t, we.Secret)) == 1 })
	all := r.deliveries()
	if len(all) != 4 {
		t.Fatalf("%d attempts, want 4", len(all))
	}
	// The delivery's history, retries and all, joins the replay corpus.
	delivery := workflows.WebhookDeliveryWorkflowID(all[0].eventID, we.ID)
	if err := p.app.Temporal.GetWorkflow(context.Background(), delivery, "").Get(context.Background(), nil); err != nil {
		t.Fatalf("delivery workflow %s: %v", delivery, err)
	}
	testenv.RecordWorkflowHistory(t, p.app.Temporal, delivery, "webhook_delivery_retried_v1.json")
	for i, d := range all {
		if d.eventID != all[0].eventID {
			t.Errorf("attempt %d carried event %s, the first %s", i+1, d.eventID, all[0].eventID)
		}
	}
	status, raw := p.call(http.MethodGet, demoPath+"/events/"+all[0].eventID, "", nil)
	shown := decode[sentEvent](t, raw)
	var codes []int
	for _, d := range shown.Deliveries {
		if d.StatusCode != nil {
			codes = append(codes, *d.StatusCode)
		}
	}
	if status != http.StatusOK || len(codes) != 4 || codes[0] != 500 || codes[3] != 200 {
		t.Errorf("event shows attempts %v (%d %s), want 500, 500, 500, 200", codes, status, raw)
	}

	again := p.send(http.MethodPost, demoPath+"/events/"+all[0].eventID+"/redeliver", demoKey, "again-1", nil)
	if again.status != http.StatusAccepted {
		t.Fatalf("redeliver answered %d %s", again.status, again.raw)
	}
	p.send(http.MethodPost, demoPath+"/events/"+all[0].eventID+"/redeliver", demoKey, "again-1", nil)
	p.eventually("the redelivery", 30*time.Second, func() bool { return len(r.accepted(t, we.Secret)) == 2 })
	if got := r.accepted(t, we.Secret); got[1].ID != got[0].ID {
		t.Errorf("redelivered %s, delivered %s: want the same event id", got[1].ID, got[0].ID)
	}
	// Deleted, the endpoint gets nothing more.
	if d := p.send(http.MethodDelete, demoPath+"/webhook-endpoints/"+we.ID, demoKey, "", nil); d.status != http.StatusNoContent {
		t.Errorf("DELETE answered %d %s", d.status, d.raw)
	}
}

// A PayPal payment the buyer approves and one the buyer cancels each reach the receiver as
// what the books say. The endpoint's creation is idempotent: the same request with its key
// answers the same endpoint and secret, another request with it is a 409.
func TestWebhooksDeliverPayPalOutcomes(t *testing.T) {
	p := startPortal(t, portalOptions{})
	r := newReceiver(t)
	body := map[string]any{"url": r.srv.URL + "/hooks", "events": []string{"payment.succeeded", "payment.canceled"}}
	first := p.send(http.MethodPost, demoPath+"/webhook-endpoints", demoKey, "hooks-1", body)
	again := p.send(http.MethodPost, demoPath+"/webhook-endpoints", demoKey, "hooks-1", body)
	we, replay := decode[endpoint](t, first.raw), decode[endpoint](t, again.raw)
	if first.status != http.StatusCreated || again.status != http.StatusCreated || !again.replayed || replay.ID != we.ID || replay.Secret != we.Secret || we.Secret == "" {
		t.Fatalf("create twice with one key answered %d %s then %d replayed=%v %s", first.status, first.raw, again.status, again.replayed, again.raw)
	}
	body["description"] = "another"
	if other := p.send(http.MethodPost, demoPath+"/webhook-endpoints", demoKey, "hooks-1", body); other.status != http.StatusConflict {
		t.Errorf("same key, other body answered %d %s, want 409", other.status, other.raw)
	}
	svc := p.app.WebhookService()
	p.every50ms(func(ctx context.Context) { _, _ = svc.Dispatch(ctx) })

	approved := p.pay(paypalPayment(1200))
	resp := p.buyerClicks(*approved.ApprovalURL, "Approve")
	resp.Body.Close()
	canceled := p.pay(paypalPayment(1300))
	waiting := p.awaitPayment(canceled.ID, 30*time.Second, func(got payment) bool { return got.Status == "requires_action" })
	resp = p.buyerClicks(*waiting.ApprovalURL, "Cancel")
	resp.Body.Close()
	if got := p.awaitFinal(approved.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("approved payment ended %s", got.Status)
	}
	if got := p.awaitFinal(canceled.ID, 30*time.Second); got.Status != "canceled" {
		t.Fatalf("canceled payment ended %s", got.Status)
	}
	p.eventually("both outcomes at the receiver", 30*time.Second, func() bool {
		got := r.accepted(t, we.Secret)
		return len(eventsOf(got, "payment.succeeded", approved.ID)) > 0 && len(eventsOf(got, "payment.canceled", canceled.ID)) > 0
	})
	for _, e := range r.accepted(t, we.Secret) {
		if (e.Data.Object.ID == approved.ID) != (e.Type == "payment.succeeded") || e.Data.Object.Status != e.Type[len("payment."):] {
			t.Errorf("received %s about %s (%s)", e.Type, e.Data.Object.ID, e.Data.Object.Status)
		}
	}
}

// A receiver that never takes an event is retried until the retry window ends; then the
// endpoint is disabled, shown so, and the account's contact mailed.
func TestWebhooksDisableAnEndpointThatKeepsFailing(t *testing.T) {
	p := startPortal(t, portalOptions{})
	answers := make([]int, 1000)
	for i := range answers {
		answers[i] = http.StatusServiceUnavailable
	}
	r := newReceiver(t, answers...)
	we := p.webhooksGivingUpAfter(3*time.Second, r, "payment.succeeded")

	paid := p.pay(cardPayment(400, "4242424242424242", "123"))
	p.awaitFinal(paid.ID, 30*time.Second)
	type endpoints struct {
		Data []endpoint `json:"data"`
	}
	p.eventually("the endpoint disabled", 60*time.Second, func() bool {
		_, raw := p.call(http.MethodGet, demoPath+"/webhook-endpoints", "", nil)
		list := decode[endpoints](t, raw)
		return len(list.Data) == 1 && list.Data[0].ID == we.ID && list.Data[0].Status == "disabled"
	})
	if n := len(r.deliveries()); n < 3 {
		t.Errorf("%d attempts before giving up, want several", n)
	}
	if len(r.accepted(t, we.Secret)) != 0 {
		t.Error("an attempt was accepted")
	}
	if got := p.mailsTo("billing@demo-corp.example"); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, we.ID) }) {
		t.Errorf("mails to the account %q, want one saying %s was disabled", got, we.ID)
	}
}

// A month's billing reaches the receiver: the recurring invoice it issues comes as
// invoice.issued, signed. (invoice.paid and invoice.past_due of a month are checked in the
// outbox by the recurring-billing integration tests.)
func TestWebhooksDeliverTheMonthlyInvoice(t *testing.T) {
	p := startPortal(t, portalOptions{})
	r := newReceiver(t)
	we := p.webhooks(r, "invoice.issued")

	// Next month: the seed has billed the months before.
	month := time.Now().UTC().AddDate(0, 1, 0)
	billingDate := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := p.app.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "test-monthly-hooks-" + billing.NewID(""), TaskQueue: p.taskQueue},
		workflows.TypeRecurringBilling, workflows.RecurringBillingInput{AccountID: devdata.DemoAccountID, BillingDate: billingDate})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { // the month goes on charging: not this test's business
		_ = p.app.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "test over")
	}()

	var month2 workflows.RecurringBillingStatusQuery
	p.eventually("the month's invoice", 30*time.Second, func() bool {
		v, err := p.app.Temporal.QueryWorkflow(ctx, run.GetID(), "", "status")
		return err == nil && v.Get(&month2) == nil && month2.InvoiceID != ""
	})
	// The receiver may also get the seeded invoices' events, dispatched after it registered.
	p.eventually("invoice.issued of "+month2.InvoiceID+" at the receiver", 30*time.Second, func() bool {
		return len(eventsOf(r.accepted(t, we.Secret), "invoice.issued", month2.InvoiceID)) > 0
	})
	if got := eventsOf(r.accepted(t, we.Secret), "invoice.issued", month2.InvoiceID); len(got) != 1 || got[0].AccountID != devdata.DemoAccountID {
		t.Errorf("invoice.issued of the month's invoice: %+v, want one for %s", got, devdata.DemoAccountID)
	}
}

// Package cards_test runs card on file end to end: the real HTTP API, a worker on the real
// Temporal dev server, a fresh Postgres database with the dev data, and a real SMTP server
// on loopback. It then searches everything PayPortal wrote for the card numbers and CVCs.
package cards_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
	"github.com/payportal/payportal/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The cards this test submits, with CVCs chosen to be findable if they leaked.
var (
	visa = card{Number: "4242424242424242", CVC: "731", Brand: "visa", Last4: "4242"}
	mc   = card{Number: "5555 5555 5555 4444", CVC: "642", Brand: "mastercard", Last4: "4444"}
	amex = card{Number: "378282246310005", CVC: "8153", Brand: "amex", Last4: "0005"}
)

type card struct{ Number, CVC, Brand, Last4 string }

func (c card) body(extra map[string]any) map[string]any {
	b := map[string]any{
		"card": map[string]any{"number": c.Number, "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": c.CVC, "holder_name": "Ada Lovelace"},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

var address = map[string]any{"line1": "1 Main Street", "city": "Springfield", "postal_code": "12345", "country": "US"}

func TestCardOnFileEndToEnd(t *testing.T) {
	ctx := context.Background()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(ctx, db, time.Now().UTC()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	const secondRepKey = "second_rep_key"
	if err := db.CreateAPIKey(ctx, secondRepKey, "second rep (test)", ""); err != nil {
		t.Fatal(err)
	}
	smtp := mailtest.Start(t)
	logs := &testenv.LogBuffer{}
	log := testenv.Logger(logs)
	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t),
		Logger: tlog.NewStructuredLogger(log.With("component", "temporal"))})
	if err != nil {
		testenv.Unavailable(t, "dial temporal: %v", err)
	}
	defer tc.Close()

	cfg, err := config.Load() // the defaults, then what this test needs
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.TaskQueue = fmt.Sprintf("cards-e2e-%d", time.Now().UnixNano())
	cfg.SMTPAddr = smtp.Addr()
	cfg.SMTPFrom = "PayPortal Billing <billing@payportal.test>"
	cfg.SMTPUsername, cfg.SMTPPassword = "", ""
	cfg.CardProcessor = "sandbox"
	cfg.AllowRawCards = true // the cards below arrive raw, as a shop enabled for raw card data sends them
	cfg.CardValidationTimeout = time.Hour
	cfg.RateLimitPerSecond, cfg.RateLimitBurst = 1000, 1000
	a, err := app.New(cfg, log, db, tc)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	api := &apiClient{t: t, base: serve(t, a)}
	// The same deployment with a 2 s validation timeout, for the card nobody decides.
	shortCfg := cfg
	shortCfg.CardValidationTimeout = 2 * time.Second
	shortApp, err := app.New(shortCfg, log, db, tc)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	shortAPI := &apiClient{t: t, base: serve(t, shortApp)}

	w := worker.New(tc, a.WorkerConfig())
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	defer w.Stop()

	demo := "/v1/accounts/" + devdata.DemoAccountID
	other := "/v1/accounts/" + devdata.OtherAccountID

	t.Run("invalid requests are refused before anything is stored", func(t *testing.T) {
		api := &apiClient{t: t, base: api.base}
		cases := []struct {
			name        string
			body        map[string]any
			status      int
			code, param string
		}{
			{"luhn", card{Number: "4242424242424241", CVC: "123"}.body(map[string]any{"billing_address": address, "contact_email": "a@b.example"}), 422, "invalid_card_number", "card.number"},
			{"cvc", card{Number: amex.Number, CVC: "123"}.body(map[string]any{"billing_address": address, "contact_email": "a@b.example"}), 422, "invalid_cvc", "card.cvc"},
			{"city", visa.body(map[string]any{"billing_address": map[string]any{"line1": "1 Main", "postal_code": "1", "country": "US"}, "contact_email": "a@b.example"}), 422, "missing_field", "billing_address.city"},
			{"no address", visa.body(map[string]any{"contact_email": "a@b.example"}), 422, "missing_field", "billing_address"},
			{"both", visa.body(map[string]any{"billing_address": address, "use_company_info": true, "contact_email": "a@b.example"}), 422, "invalid_value", "use_company_info"},
			{"email", visa.body(map[string]any{"use_company_info": true, "contact_email": "not an email"}), 422, "invalid_email", "contact_email"},
			{"unknown field", visa.body(map[string]any{"use_company_info": true, "contact_email": "a@b.example", "pin": "1234"}), 400, "unknown_field", "pin"},
			{"declined", card{Number: "4000000000000002", CVC: "123"}.body(map[string]any{"use_company_info": true, "contact_email": "a@b.example"}), 422, "card_declined", "card.number"},
		}
		for _, tc := range cases {
			status, body := api.do("POST", demo+"/payment-methods", devdata.DemoCustomerKey, tc.body)
			var e struct{ Error struct{ Code, Param string } }
			_ = json.Unmarshal(body, &e)
			if status != tc.status || e.Error.Code != tc.code || e.Error.Param != tc.param {
				t.Errorf("%s: %d %s, want %d code %s param %s", tc.name, status, body, tc.status, tc.code, tc.param)
			}
		}
		var list pmList
		api.json("GET", demo+"/payment-methods", devdata.DemoCustomerKey, nil, 200, &list)
		if len(list.Data) != 0 {
			t.Errorf("refused cards were stored: %+v", list.Data)
		}
		if status, _ := api.do("GET", "/v1/rep/payment-methods", devdata.DemoCustomerKey, nil); status != 403 {
			t.Errorf("customer key on the rep queue: %d, want 403", status)
		}
		if status, _ := api.do("POST", other+"/payment-methods", devdata.DemoCustomerKey, visa.body(map[string]any{"use_company_info": true, "contact_email": "a@b.example"})); status != 404 {
			t.Errorf("adding a card to another account: %d, want 404", status)
		}
	})

	// Card 1: submitted, approved by a rep, becomes the monthly card.
	var approved pmJSON
	before := time.Now()
	api.json("POST", demo+"/payment-methods", devdata.DemoCustomerKey,
		visa.body(map[string]any{"billing_address": address, "contact_email": "ap@demo-corp.example"}), 202, &approved)
	if approved.Status != "pending_validation" || approved.Brand != "visa" || approved.Last4 != "4242" ||
		approved.WorkflowID != workflows.CardValidationWorkflowID(approved.ID) || approved.DecidedAt != nil ||
		approved.BillingAddress["city"] != "Springfield" || approved.ContactEmail != "ap@demo-corp.example" {
		t.Fatalf("202 answer: %+v", approved)
	}
	if d := approved.ValidationDeadline.Sub(before); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("validation_deadline is %v after the request, want the 1h timeout", d)
	}
	expectMail(t, smtp, 1, "ap@demo-corp.example", "We received your Visa card ending in 4242")

	var queue pmList
	api.json("GET", "/v1/rep/payment-methods?status=pending_validation", devdata.DemoRepKey, nil, 200, &queue)
	if len(queue.Data) != 1 || queue.Data[0].ID != approved.ID || queue.Data[0].AccountID != devdata.DemoAccountID {
		t.Fatalf("rep queue: %+v", queue)
	}
	checkSearchAttributes(t, tc, approved.WorkflowID, "pending_validation")
	findByAccount(t, tc, devdata.DemoAccountID, approved.WorkflowID)

	// Two reps approve at once: exactly one decision wins, the other is told it came late.
	// Each decision is the rep-decision update, which the workflow answers itself: with the
	// recorded status, or refused (already decided) before it enters the history.
	type answer struct {
		status int
		body   []byte
	}
	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, key := range []string{devdata.DemoRepKey, secondRepKey} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].status, answers[i].body = api.do("POST", "/v1/rep/payment-methods/"+approved.ID+"/decision", key,
				map[string]any{"decision": "approve", "reason": "checked by " + key})
		}()
	}
	wg.Wait()
	winner := -1
	for i, a := range answers {
		switch {
		case a.status == 200 && winner == -1:
			winner = i
		case a.status == 409 && strings.Contains(string(a.body), "already_decided"):
		default:
			t.Fatalf("concurrent decisions answered %d %s / %d %s, want one 200 and one 409 already_decided",
				answers[0].status, answers[0].body, answers[1].status, answers[1].body)
		}
	}
	if winner == -1 {
		t.Fatalf("no decision won: %s / %s", answers[0].body, answers[1].body)
	}
	t.Logf("the losing decision was answered %d %s", answers[1-winner].status, answers[1-winner].body)
	var decided pmJSON
	api.json("GET", demo+"/payment-methods/"+approved.ID, devdata.DemoCustomerKey, nil, 200, &decided)
	if decided.Status != "validated" || decided.DecidedAt == nil {
		t.Fatalf("approved card: %+v", decided)
	}
	wantRep := devdata.DemoRepName
	if winner == 1 {
		wantRep = "second rep (test)"
	}
	if decided.DecidedBy == nil || *decided.DecidedBy != wantRep {
		t.Errorf("approved card's decided_by: %v, want the winning rep %q", decided.DecidedBy, wantRep)
	}
	var won pmJSON
	if err := json.Unmarshal(answers[winner].body, &won); err != nil || won.Status != "validated" || won.ID != approved.ID {
		t.Errorf("winning decision's answer: %s, want the card validated", answers[winner].body)
	}
	var summary struct {
		PaymentMethod *struct{ ID, Brand, Last4 string } `json:"payment_method"`
	}
	api.json("GET", demo+"/billing-summary", devdata.DemoCustomerKey, nil, 200, &summary)
	if summary.PaymentMethod == nil || summary.PaymentMethod.ID != approved.ID || summary.PaymentMethod.Last4 != "4242" {
		t.Fatalf("billing summary's payment method: %+v, want %s", summary.PaymentMethod, approved.ID)
	}
	expectMail(t, smtp, 2, "ap@demo-corp.example", "Your Visa card ending in 4242 was validated")
	checkSearchAttributes(t, tc, approved.WorkflowID, "validated")
	if status, body := api.do("POST", "/v1/rep/payment-methods/"+approved.ID+"/decision", devdata.DemoRepKey,
		map[string]any{"decision": "reject"}); status != 409 || !strings.Contains(string(body), "already_decided") {
		t.Errorf("deciding a validated card again: %d %s, want 409 already_decided", status, body)
	}
	r := requests(t, tc, approved.WorkflowID)
	if r["update "+workflows.UpdateRepDecision] < 1 || r["answered "+workflows.UpdateRepDecision] != r["update "+workflows.UpdateRepDecision] ||
		r["signal "+workflows.SignalRepDecision] != 0 {
		t.Errorf("the card's history holds %v, want rep-decision updates, each answered, and no signal", r)
	}
	// The loser was answered with the outcome: by the workflow's validator (nothing in the
	// history), by the workflow when it was accepted while the card was pending, or, when the
	// workflow had already closed (a loaded machine), by the API from the recorded card.
	if loser := string(answers[1-winner].body); !strings.Contains(loser, ": the card is already ") &&
		!strings.Contains(loser, approved.ID+" is already validated") && r["update "+workflows.UpdateRepDecision] != 2 {
		t.Errorf("the losing decision was not answered by the workflow: %s (history %v)", loser, r)
	}
	// card_validation_approved.json was recorded by signal, before the update; this one by
	// update. Both stay in the replay corpus.
	testenv.RecordWorkflowHistory(t, tc, approved.WorkflowID, "card_validation_approved_update_v1.json")
	smtp.Reset()

	// Card 2: the company address, rejected with a reason; the monthly card stays.
	var rejected pmJSON
	api.json("POST", demo+"/payment-methods", devdata.DemoCustomerKey,
		mc.body(map[string]any{"use_company_info": true, "contact_email": "cards2@demo-corp.example", "eu_supported": true}), 202, &rejected)
	if rejected.BillingAddress["line1"] != "100 Market Street" || !rejected.EUSupported || rejected.Brand != "mastercard" {
		t.Errorf("card with the company address: %+v", rejected)
	}
	expectMail(t, smtp, 1, "cards2@demo-corp.example", "We received your Mastercard card ending in 4444")
	var rejectAnswer pmJSON
	decidedAt := time.Now()
	api.json("POST", "/v1/rep/payment-methods/"+rejected.ID+"/decision", devdata.DemoRepKey,
		map[string]any{"decision": "reject", "reason": "holder name does not match"}, 200, &rejectAnswer)
	t.Logf("the rep decision was answered in %v", time.Since(decidedAt))
	if rejectAnswer.Status != "rejected" || rejectAnswer.DecisionReason != "holder name does not match" || rejectAnswer.DecidedAt == nil {
		t.Errorf("reject answer: %+v", rejectAnswer)
	}
	if r := requests(t, tc, rejected.WorkflowID); r["update "+workflows.UpdateRepDecision] != 1 ||
		r["answered "+workflows.UpdateRepDecision] != 1 || r["signal "+workflows.SignalRepDecision] != 0 {
		t.Errorf("the rejected card's history holds %v, want one rep-decision update, answered, and no signal", r)
	}
	msgs := expectMail(t, smtp, 2, "cards2@demo-corp.example", "was rejected")
	if !strings.Contains(msgs[1].Text, "holder name does not match") {
		t.Errorf("rejection mail without the reason:\n%s", msgs[1].Text)
	}
	api.json("GET", demo+"/billing-summary", devdata.DemoCustomerKey, nil, 200, &summary)
	if summary.PaymentMethod == nil || summary.PaymentMethod.ID != approved.ID {
		t.Errorf("a rejected card changed the monthly card: %+v", summary.PaymentMethod)
	}
	smtp.Reset()

	// Card 3, on the French account with a 2 s timeout: nobody decides, it expires.
	var expired pmJSON
	shortAPI.json("POST", other+"/payment-methods", devdata.OtherCustomerKey,
		amex.body(map[string]any{"billing_address": map[string]any{"line1": "3 rue Neuve", "city": "Lyon", "postal_code": "69001", "country": "FR"},
			"contact_email": "cartes@societe-exemple.example"}), 202, &expired)
	expectMail(t, smtp, 1, "cartes@societe-exemple.example", "Nous avons reçu votre carte American Express se terminant par 0005")
	expectMail(t, smtp, 2, "cartes@societe-exemple.example", "n'a pas été validée à temps")
	api.json("GET", other+"/payment-methods/"+expired.ID, devdata.OtherCustomerKey, nil, 200, &expired)
	if expired.Status != "expired" || expired.DecidedAt == nil {
		t.Errorf("card after its deadline: %+v", expired)
	}
	if status, body := api.do("POST", "/v1/rep/payment-methods/"+expired.ID+"/decision", devdata.DemoRepKey,
		map[string]any{"decision": "approve"}); status != 409 || !strings.Contains(string(body), "already_decided") {
		t.Errorf("deciding an expired card: %d %s, want 409 already_decided", status, body)
	}
	checkSearchAttributes(t, tc, expired.WorkflowID, "expired")
	api.json("GET", "/v1/rep/payment-methods", devdata.DemoRepKey, nil, 200, &queue)
	if len(queue.Data) != 0 {
		t.Errorf("rep queue after every card was decided: %+v", queue.Data)
	}
	var list pmList
	api.json("GET", demo+"/payment-methods?limit=1", devdata.DemoCustomerKey, nil, 200, &list)
	if len(list.Data) != 1 || list.Data[0].ID != rejected.ID || !list.HasMore {
		t.Errorf("first page of acct_demo's cards: %+v, want the newest (%s) and has_more", list, rejected.ID)
	}

	// Nothing PayPortal wrote holds a card number or a CVC.
	var haystacks []haystack
	for _, id := range []string{approved.WorkflowID, rejected.WorkflowID, expired.WorkflowID} {
		haystacks = append(haystacks, historyOf(t, tc, id))
	}
	haystacks = append(haystacks, databaseDump(t, db), haystack{"logs", logs.Bytes()})
	for _, m := range smtp.Messages() {
		haystacks = append(haystacks, haystack{"mail to " + m.To[0], m.Raw})
	}
	if !bytes.Contains(logs.Bytes(), []byte("card submitted for validation")) {
		t.Fatal("the captured logs miss the API's lines; the search below would prove nothing")
	}
	// The worker logs TMPRL1102 for a workflow that ends with an update handler unfinished.
	if bytes.Contains(logs.Bytes(), []byte("TMPRL1102")) {
		t.Error("a card workflow ended with a rep-decision update unanswered (TMPRL1102 in the worker's log)")
	}
	for _, c := range []card{visa, mc, amex} {
		for _, h := range haystacks {
			if loc := panPattern(c.Number).FindIndex(h.data); loc != nil {
				t.Errorf("%s holds the card number %s: ...%s...", h.name, c.Last4, excerpt(h.data, loc))
			}
			if loc := labelledCVC(c.CVC).FindIndex(h.data); loc != nil {
				t.Errorf("%s holds the CVC of card %s: ...%s...", h.name, c.Last4, excerpt(h.data, loc))
			}
			// A bare 3-digit number is too common in logs (durations) to look for there.
			if h.name == "logs" {
				continue
			}
			if loc := bareCVC(c.CVC).FindIndex(h.data); loc != nil {
				t.Errorf("%s holds the CVC of card %s: ...%s...", h.name, c.Last4, excerpt(h.data, loc))
			}
		}
	}
}

func serve(t *testing.T, a *app.App) string {
	ts := httptest.NewServer(openapitest.Handler(t, a.APIServer().Handler())) // every answer keeps the contract
	t.Cleanup(ts.Close)
	return ts.URL
}

type pmJSON struct {
	ID                 string            `json:"id"`
	AccountID          string            `json:"account_id"`
	Status             string            `json:"status"`
	Brand              string            `json:"brand"`
	Last4              string            `json:"last4"`
	EUSupported        bool              `json:"eu_supported"`
	ContactEmail       string            `json:"contact_email"`
	BillingAddress     map[string]string `json:"billing_address"`
	DecidedAt          *time.Time        `json:"decided_at"`
	DecidedBy          *string           `json:"decided_by"`
	DecisionReason     string            `json:"decision_reason"`
	ValidationDeadline time.Time         `json:"validation_deadline"`
	WorkflowID         string            `json:"workflow_id"`
}

type pmList struct {
	Data    []pmJSON `json:"data"`
	HasMore bool     `json:"has_more"`
}

type apiClient struct {
	t    *testing.T
	base string
}

func (c *apiClient) do(method, path, key string, body any) (int, []byte) {
	c.t.Helper()
	resp, out := testenv.Do(c.t, c.base, testenv.Request{Method: method, Path: path, Key: key, Body: body})
	return resp.StatusCode, out
}

func (c *apiClient) json(method, path, key string, body any, want int, into any) {
	c.t.Helper()
	status, out := c.do(method, path, key, body)
	if status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, status, out, want)
	}
	if into != nil {
		if err := json.Unmarshal(out, into); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
}

// expectMail waits for the n-th mail and checks it went to the card's contact about what
// happened.
func expectMail(t *testing.T, smtp *mailtest.Server, n int, to, subject string) []mailtest.Received {
	t.Helper()
	msgs := smtp.WaitFor(t, n, 30*time.Second)
	m := msgs[n-1]
	if len(m.To) != 1 || m.To[0] != to || !strings.Contains(m.Subject, subject) {
		t.Fatalf("mail %d went to %v about %q, want %s about %q", n, m.To, m.Subject, to, subject)
	}
	return msgs
}

func checkSearchAttributes(t *testing.T, tc client.Client, workflowID, status string) {
	t.Helper()
	desc, err := tc.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		t.Fatalf("describe %s: %v", workflowID, err)
	}
	got := map[string]string{}
	for name, p := range desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields() {
		var v string
		_ = json.Unmarshal(p.GetData(), &v)
		got[name] = v
	}
	if got["PaymentStatus"] != status || got["PaymentMethodKind"] != "card" || !strings.HasPrefix(got["AccountId"], "acct_") {
		t.Errorf("search attributes of %s: %v, want PaymentStatus=%s, PaymentMethodKind=card, AccountId", workflowID, got, status)
	}
}

// findByAccount is what ops do in the Web UI: list the workflows by AccountId.
func findByAccount(t *testing.T, tc client.Client, accountID, workflowID string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("AccountId = '%s' AND PaymentMethodKind = 'card'", accountID)})
		if err != nil {
			t.Fatalf("list workflows: %v", err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetExecution().GetWorkflowId() == workflowID {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not found by AccountId = '%s'", workflowID, accountID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// requests counts what reached the workflow's history by name: the updates it accepted
// ("update <name>"), the updates it answered ("answered <name>") and the signals ("signal
// <name>"). A refused update leaves nothing.
func requests(t *testing.T, tc client.Client, workflowID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	accepted := map[int64]string{}
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		if a := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes(); a != nil {
			name := a.GetAcceptedRequest().GetInput().GetName()
			accepted[ev.GetEventId()] = name
			out["update "+name]++
		}
		if c := ev.GetWorkflowExecutionUpdateCompletedEventAttributes(); c != nil {
			out["answered "+accepted[c.GetAcceptedEventId()]]++
		}
		if s := ev.GetWorkflowExecutionSignaledEventAttributes(); s != nil {
			out["signal "+s.GetSignalName()]++
		}
	}
	return out
}

type haystack struct {
	name string
	data []byte
}

// historyOf reads the workflow's history from the server, as JSON text with every payload
// decoded next to it (JSON carries payloads in base64, where a number would hide).
func historyOf(t *testing.T, tc client.Client, workflowID string) haystack {
	t.Helper()
	var buf bytes.Buffer
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", workflowID, err)
		}
		b, err := protojson.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
		for _, m := range payloadData.FindAllSubmatch(b, -1) {
			decoded, err := base64.StdEncoding.DecodeString(string(m[1]))
			if err != nil {
				t.Fatalf("history of %s: payload data %q: %v", workflowID, m[1], err)
			}
			buf.Write(decoded)
			buf.WriteByte('\n')
		}
		n++
	}
	if n < 5 || !strings.Contains(buf.String(), `"Last4":"`) {
		t.Fatalf("history of %s (%d events) misses the workflow input; the search would prove nothing", workflowID, n)
	}
	return haystack{"history of " + workflowID, buf.Bytes()}
}

var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`)

// databaseDump is every row of every table as text: whatever the column type, a card
// number stored anywhere shows up here.
func databaseDump(t *testing.T, db *postgres.DB) haystack {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	total := 0
	for _, table := range tables {
		rows, err := db.Pool.Query(ctx, `SELECT t::text FROM `+pgx.Identifier{table}.Sanitize()+` t`)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for _, l := range lines {
			buf.WriteString(table + ": " + l + "\n")
		}
		total += len(lines)
	}
	if !strings.Contains(buf.String(), "payment_methods: (pm_") || !strings.Contains(buf.String(), "sandbox_cards: (") {
		t.Fatalf("the database dump (%d rows) misses the cards; the search would prove nothing", total)
	}
	return haystack{"the database", buf.Bytes()}
}

// panPattern matches the number however its digit groups are separated.
func panPattern(number string) *regexp.Regexp {
	digits := strings.NewReplacer(" ", "", "-", "").Replace(number)
	return regexp.MustCompile(strings.Join(strings.Split(digits, ""), `[ -]?`))
}

// bareCVC matches the CVC standing alone, not as part of a longer number or ID.
func bareCVC(cvc string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^0-9A-Za-z_])` + cvc + `($|[^0-9A-Za-z_])`)
}

// labelledCVC matches the CVC after a label, as a serialized card or a log field would show
// it: "cvc":"731", CVC=731, cvv: 731.
func labelledCVC(cvc string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)(cvc|cvv|security.?code)[^0-9A-Za-z]{0,8}` + cvc)
}

func excerpt(b []byte, loc []int) string {
	from, to := max(loc[0]-40, 0), min(loc[1]+40, len(b))
	return strings.ToValidUTF8(string(b[from:to]), "?")
}

// Package payments_test runs one-time payments end to end: a fresh Postgres database seeded
// with the dev data, the real Temporal dev server, the real router over HTTP, and the worker
// on a task queue of its own (in process, or as a `payportal worker` process for the crash
// test).
package payments_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/telemetry"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	demoKey  = devdata.DemoCustomerKey
	demoPath = "/v1/accounts/" + devdata.DemoAccountID
)

// portal is PayPortal as a customer reaches it, plus the back doors a test needs to check
// what happened underneath.
type portal struct {
	t         *testing.T
	app       *app.App
	db        *postgres.DB
	dbURL     string
	base      string
	temporal  client.Client
	taskQueue string
	logs      *testenv.LogBuffer
	outbox    *mailtest.Outbox
}

type portalOptions struct {
	// noWorker leaves the task queue without a worker: the crash test runs its own process.
	noWorker        bool
	approvalTimeout time.Duration
	// telemetry, when set, gets the Temporal client's metrics and spans and the app's.
	telemetry *telemetry.Telemetry
}

func startPortal(t *testing.T, opts portalOptions) *portal {
	t.Helper()
	db, dbURL := testenv.Database(t)
	if _, err := devdata.Seed(context.Background(), db, time.Now().UTC()); err != nil {
		t.Fatalf("seed dev data: %v", err)
	}
	tc := testenv.TemporalClient(t)
	if opts.telemetry != nil {
		tc = instrumentedClient(t, tc, opts.telemetry)
	}
	p := &portal{t: t, db: db, dbURL: dbURL, temporal: tc, taskQueue: "payments-test-" + randomHex(6),
		logs: &testenv.LogBuffer{}, outbox: &mailtest.Outbox{}}

	// The approval URLs the sandbox makes point at this server, so it must exist before the
	// app is built; the handler is filled in below.
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	p.base = srv.URL

	if opts.approvalTimeout == 0 {
		opts.approvalTimeout = time.Hour
	}
	cfg := config.Config{
		Env:                   config.EnvDevelopment, // the sandbox checkout page and any return_url host
		DatabaseURL:           dbURL,
		TaskQueue:             p.taskQueue,
		PublicURL:             srv.URL,
		CardValidationTimeout: time.Hour,
		PayPalApprovalTimeout: opts.approvalTimeout,
		CardProcessor:         "sandbox",
		PayPalMode:            "sandbox",
		RateLimitPerSecond:    1e6,
		RateLimitBurst:        1_000_000,
	}
	a, err := app.New(cfg, testenv.Logger(p.logs), db, tc)
	if err != nil {
		t.Fatalf("build app: %v", err)
	}
	a.Mail = p.outbox
	p.app = a
	if opts.telemetry != nil {
		a.UseTelemetry(opts.telemetry)
	}
	handler = openapitest.Handler(t, a.APIServer().Handler()) // every answer keeps the contract

	if !opts.noWorker {
		w := worker.New(tc, a.WorkerConfig())
		if err := w.Start(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		t.Cleanup(w.Stop)
		p.mailReceipts()
	}
	return p
}

// mailReceipts mails the receipt outbox every 50 ms, with the worker's code (a `payportal
// worker` runs it inside the WebhookDispatcher workflow's stretches, every 500 ms).
func (p *portal) mailReceipts() {
	mailer := &activities.ReceiptOutbox{DB: p.app.DB, Mail: p.outbox, Clock: p.app.Clock, Logger: testenv.Logger(p.logs)}
	p.every50ms(func(ctx context.Context) { _, _ = mailer.MailDue(ctx) })
}

// every50ms runs pass every 50 ms until the test ends, as the outbox dispatcher runs its
// passes (every 500 ms in a worker).
func (p *portal) every50ms(pass func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			pass(ctx)
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	p.t.Cleanup(func() { cancel(); <-done })
}

// payment is the contract's payment as the API answers it.
type payment struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	Method      string  `json:"method"`
	Amount      int64   `json:"amount"`
	Currency    string  `json:"currency"`
	ApprovalURL *string `json:"approval_url"`
	Failure     *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"failure"`
	RefundID    *string `json:"refund_id"`
	CreatedAt   string  `json:"created_at"`
	CompletedAt *string `json:"completed_at"`
	WorkflowID  string  `json:"workflow_id"`
}

type apiError struct {
	Error struct {
		Type, Code, Message, Param string
	} `json:"error"`
}

// call sends a customer request and answers the status and raw body.
func (p *portal) call(method, path, idempotencyKey string, body any) (int, []byte) {
	p.t.Helper()
	r := testenv.Request{Method: method, Path: path, Key: demoKey, Body: body}
	if idempotencyKey != "" {
		r.Header = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	resp, raw := testenv.Do(p.t, p.base, r)
	return resp.StatusCode, raw
}

// pay posts a payment and expects it accepted.
func (p *portal) pay(body map[string]any) payment {
	p.t.Helper()
	status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), body)
	if status != http.StatusAccepted {
		p.t.Fatalf("POST payment answered %d %s, want 202", status, raw)
	}
	return decode[payment](p.t, raw)
}

func (p *portal) payment(id string) payment {
	p.t.Helper()
	status, raw := p.call(http.MethodGet, demoPath+"/payments/"+id, "", nil)
	if status != http.StatusOK {
		p.t.Fatalf("GET payment %s answered %d %s", id, status, raw)
	}
	return decode[payment](p.t, raw)
}

// awaitPayment polls the payment until done says so.
func (p *portal) awaitPayment(id string, timeout time.Duration, done func(payment) bool) payment {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := p.payment(id)
		if done(got) {
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("payment %s still %s after %s", id, got.Status, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *portal) awaitFinal(id string, timeout time.Duration) payment {
	p.t.Helper()
	return p.awaitPayment(id, timeout, func(got payment) bool {
		switch got.Status {
		case "succeeded", "failed", "canceled", "expired":
			return true
		}
		return false
	})
}

// balance is the billing summary's current balance.
func (p *portal) balance() int64 {
	p.t.Helper()
	status, raw := p.call(http.MethodGet, demoPath+"/billing-summary", "", nil)
	if status != http.StatusOK {
		p.t.Fatalf("billing summary answered %d %s", status, raw)
	}
	return decode[struct {
		CurrentBalance int64 `json:"current_balance"`
	}](p.t, raw).CurrentBalance
}

// count runs a counting query against the test database.
func (p *portal) count(sql string, args ...any) int {
	p.t.Helper()
	var n int
	if err := p.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		p.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func cardPayment(amount int64, number, cvc string) map[string]any {
	return map[string]any{
		"amount": amount, "currency": "USD", "method": "card",
		"card": map[string]any{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": cvc, "holder_name": "Dana Demo"},
		"use_company_info": true,
	}
}

func paypalPayment(amount int64) map[string]any {
	return map[string]any{"amount": amount, "currency": "USD", "method": "paypal"}
}

// --- secrets -----------------------------------------------------------------------------

// secretScan looks for a card number and CVC. The CVC is short, so it only counts as a hit
// where it stands on its own: not the fraction of a timestamp, not inside a hex digest or
// random id, where any three digits turn up by chance.
type secretScan struct {
	number string
	cvc    *regexp.Regexp
}

func newSecretScan(number, cvc string) secretScan {
	return secretScan{number: number, cvc: regexp.MustCompile(`(^|[^.0-9A-Za-z_])` + cvc + `([^0-9A-Za-z_]|$)`)}
}

func (s secretScan) check(t *testing.T, where, text string) {
	t.Helper()
	if strings.Contains(text, s.number) {
		t.Errorf("the card number is in %s", where)
	}
	if loc := s.cvc.FindStringIndex(text); loc != nil {
		lo, hi := max(loc[0]-60, 0), min(loc[1]+60, len(text))
		t.Errorf("the CVC is in %s: …%s…", where, text[lo:hi])
	}
	if regexp.MustCompile(`(?i)"cvc"`).MatchString(text) {
		t.Errorf("a cvc field is in %s", where)
	}
}

// databaseText is every row of every table as JSON text: all columns for the card number,
// and the text columns (no timestamps) for the CVC.
func (p *portal) databaseText() (all, texts string) {
	p.t.Helper()
	ctx := context.Background()
	rows, err := p.db.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		p.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			p.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var allB, textB strings.Builder
	for _, table := range tables {
		var dump string
		q := fmt.Sprintf(`SELECT coalesce(string_agg(row_to_json(t)::text, E'\n'), '') FROM %q t`, table)
		if err := p.db.Pool.QueryRow(ctx, q).Scan(&dump); err != nil {
			p.t.Fatalf("dump %s: %v", table, err)
		}
		allB.WriteString(dump)
		var cols []string
		crow, err := p.db.Pool.Query(ctx, `SELECT column_name FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = $1 AND data_type IN ('text', 'jsonb', 'json', 'character varying')`, table)
		if err != nil {
			p.t.Fatal(err)
		}
		for crow.Next() {
			var c string
			if err := crow.Scan(&c); err != nil {
				p.t.Fatal(err)
			}
			cols = append(cols, fmt.Sprintf("coalesce(%q::text, '')", c))
		}
		crow.Close()
		if len(cols) == 0 {
			continue
		}
		q = fmt.Sprintf(`SELECT coalesce(string_agg(concat_ws(' ', %s), E'\n'), '') FROM %q`, strings.Join(cols, ", "), table)
		if err := p.db.Pool.QueryRow(ctx, q).Scan(&dump); err != nil {
			p.t.Fatalf("dump text of %s: %v", table, err)
		}
		textB.WriteString(dump)
	}
	if !strings.Contains(allB.String(), `"card_token":"tok_`) {
		p.t.Fatal("the database dump holds no tokenized card payment; a search of it would prove nothing")
	}
	return allB.String(), textB.String()
}

var payloadData = regexp.MustCompile(`"data":\s*"([A-Za-z0-9+/=]+)"`)

// historyText is a workflow's history as JSON, with every payload decoded, since payloads are
// base64 in the JSON and a card number would hide there.
func (p *portal) historyText(workflowID string) (events, payloads string) {
	p.t.Helper()
	raw := testenv.WorkflowHistoryJSON(p.t, p.temporal, workflowID)
	var b strings.Builder
	for _, m := range payloadData.FindAllStringSubmatch(string(raw), -1) {
		data, err := base64.StdEncoding.DecodeString(m[1])
		if err == nil {
			b.Write(data)
			b.WriteByte('\n')
		}
	}
	return string(raw), b.String()
}

// requests counts what reached the workflow's history by name: the updates it accepted
// ("update <name>"), the updates it answered ("answered <name>") and the signals ("signal
// <name>"). A refused update leaves nothing.
func (p *portal) requests(workflowID string) map[string]int {
	p.t.Helper()
	out := map[string]int{}
	accepted := map[int64]string{} // event ID of the acceptance → update name
	it := p.temporal.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			p.t.Fatalf("history of %s: %v", workflowID, err)
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// --- faults and the reconciler --------------------------------------------------------------

// cards is the sandbox card processor the app and its worker share; its fault hook lets a
// test make it misbehave.
func (p *portal) cards() *sandbox.CardProcessor {
	p.t.Helper()
	c, ok := p.app.Cards.(*sandbox.CardProcessor)
	if !ok {
		p.t.Fatalf("the card processor is %T, want the sandbox", p.app.Cards)
	}
	return c
}

// paypal is the sandbox PayPal.
func (p *portal) paypal() *sandbox.PayPal {
	p.t.Helper()
	pp, ok := p.app.PayPal.(*sandbox.PayPal)
	if !ok {
		p.t.Fatalf("PayPal is %T, want the sandbox", p.app.PayPal)
	}
	return pp
}

// row is the payment as stored, with what the API does not show (authorization, compensation).
func (p *portal) row(id string) billing.Payment {
	p.t.Helper()
	pay, err := p.db.PaymentByID(context.Background(), id)
	if err != nil {
		p.t.Fatalf("read payment %s: %v", id, err)
	}
	return pay
}

// backdate moves a payment's creation back by d: the reconciler leaves payments younger than
// its grace period (2 minutes) to the API and their sagas.
func (p *portal) backdate(id string, d time.Duration) {
	p.t.Helper()
	tag, err := p.db.Pool.Exec(context.Background(), `UPDATE payments SET created_at = created_at - make_interval(secs => $2) WHERE id = $1`,
		id, d.Seconds())
	if err != nil || tag.RowsAffected() != 1 {
		p.t.Fatalf("backdate payment %s: %v (%d rows)", id, err, tag.RowsAffected())
	}
}

// eventually polls cond every 50ms until it holds, failing the test after timeout.
func (p *portal) eventually(what string, timeout time.Duration, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// workflowStatus is the saga's execution status as the Temporal UI shows it.
func (p *portal) workflowStatus(workflowID string) enumspb.WorkflowExecutionStatus {
	p.t.Helper()
	desc, err := p.temporal.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		p.t.Fatalf("describe %s: %v", workflowID, err)
	}
	return desc.GetWorkflowExecutionInfo().GetStatus()
}

// awaitClosed waits until the workflow is no longer running and answers how it closed.
func (p *portal) awaitClosed(workflowID string, timeout time.Duration) enumspb.WorkflowExecutionStatus {
	p.t.Helper()
	var status enumspb.WorkflowExecutionStatus
	p.eventually("workflow "+workflowID+" closes", timeout, func() bool {
		status = p.workflowStatus(workflowID)
		return status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})
	return status
}

// mailsAbout lists the mails sent so far that name the payment, receipts and failure notices
// alike.
func (p *portal) mailsAbout(paymentID string) []mail.Message {
	var out []mail.Message
	for _, m := range p.outbox.Messages() {
		if strings.Contains(m.Text, paymentID) {
			out = append(out, m)
		}
	}
	return out
}

// awaitMails waits until n mails name the payment (the saga mails after it records the end).
func (p *portal) awaitMails(paymentID string, n int, timeout time.Duration) []mail.Message {
	p.t.Helper()
	p.eventually(fmt.Sprintf("%d mail(s) about %s", n, paymentID), timeout, func() bool { return len(p.mailsAbout(paymentID)) >= n })
	return p.mailsAbout(paymentID)
}

func isReceipt(m mail.Message) bool { return strings.HasPrefix(m.Subject, "Payment received") }

// checkNoMoneyTakenMail checks that the payment's customer got exactly one mail, a failure
// notice that says no money was taken and nowhere claims it was, nor any of untrue.
func (p *portal) checkNoMoneyTakenMail(paymentID string, untrue ...string) {
	p.t.Helper()
	p.awaitMails(paymentID, 1, 30*time.Second)
	time.Sleep(200 * time.Millisecond) // a second mail would be a bug; give it a moment
	mails := p.mailsAbout(paymentID)
	if len(mails) != 1 {
		p.t.Errorf("%d mails about payment %s, want 1: %+v", len(mails), paymentID, mails)
	}
	m := mails[0]
	p.t.Logf("mail about %s: %s\n%s", paymentID, m.Subject, m.Text)
	if isReceipt(m) {
		p.t.Errorf("payment %s did not succeed but a receipt was mailed: %s", paymentID, m.Subject)
	}
	if !strings.Contains(m.Text, "No money was taken") {
		p.t.Errorf("the mail about %s does not say no money was taken:\n%s\n%s", paymentID, m.Subject, m.Text)
	}
	for _, claim := range append([]string{"was taken and has been refunded", "was taken. Our billing team", "refunded"}, untrue...) {
		if strings.Contains(m.Text, claim) || strings.Contains(m.Subject, claim) {
			p.t.Errorf("the mail about %s says %q, which is untrue:\n%s\n%s", paymentID, claim, m.Subject, m.Text)
		}
	}
}

// checkOneReceipt checks that the payment's customer got exactly one mail, its receipt.
func (p *portal) checkOneReceipt(paymentID string) {
	p.t.Helper()
	p.awaitMails(paymentID, 1, 30*time.Second)
	time.Sleep(200 * time.Millisecond)
	mails := p.mailsAbout(paymentID)
	if len(mails) != 1 || !isReceipt(mails[0]) {
		p.t.Errorf("mails about payment %s: %+v, want exactly its receipt", paymentID, mails)
	}
}

// ledgerEntries counts the payment's ledger entries: 1 once booked, 0 otherwise.
func (p *portal) ledgerEntries(paymentID string) int {
	p.t.Helper()
	return p.count(`SELECT count(*)::int FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, paymentID)
}

// findingsFor are the report's findings about one payment.
func findingsFor(r activities.ReconcileReport, paymentID string) []postgres.Finding {
	var out []postgres.Finding
	for _, f := range r.Findings {
		if f.PaymentID == paymentID {
			out = append(out, f)
		}
	}
	return out
}

// checkBooksAgree runs the product's own invariant checks and a whole reconciliation pass:
// nothing may be left for a person.
func (p *portal) checkBooksAgree() {
	p.t.Helper()
	ctx := context.Background()
	findings, err := p.app.DB.CheckBooks(ctx)
	if err != nil {
		p.t.Fatalf("check books: %v", err)
	}
	for _, f := range findings {
		p.t.Errorf("the books disagree: %s %s: %s", f.Kind, f.PaymentID, f.Detail)
	}
	report, err := p.app.Reconcile(ctx)
	if err != nil {
		p.t.Fatalf("reconcile: %v", err)
	}
	if report.Unresolved != 0 {
		p.t.Errorf("a reconciliation pass left %d unresolved findings: %+v", report.Unresolved, report.Findings)
	}
}

package payments_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
)

// refund is the contract's refund as the API answers it.
type refund struct {
	ID                string  `json:"id"`
	PaymentID         string  `json:"payment_id"`
	Status            string  `json:"status"`
	Amount            int64   `json:"amount"`
	Reason            string  `json:"reason"`
	CreatedBy         string  `json:"created_by"`
	ProcessorRefundID *string `json:"processor_refund_id"`
	InvoiceID         *string `json:"invoice_id"`
	Failure           *struct {
		Code string `json:"code"`
	} `json:"failure"`
}

// rep sends a request with the demo rep's key.
func (p *portal) rep(method, path, idempotencyKey string, body any) (*http.Response, []byte) {
	p.t.Helper()
	r := testenv.Request{Method: method, Path: path, Key: devdata.DemoRepKey, Body: body}
	if idempotencyKey != "" {
		r.Header = map[string]string{"Idempotency-Key": idempotencyKey}
	}
	return testenv.Do(p.t, p.base, r)
}

// refundPayment posts a refund and reads it until it has ended.
func (p *portal) refundPayment(paymentID, key string, amount int64) refund {
	p.t.Helper()
	resp, raw := p.rep(http.MethodPost, "/v1/rep/payments/"+paymentID+"/refunds", key,
		map[string]any{"amount": amount, "reason": "Customer called: duplicate order"})
	if resp.StatusCode != http.StatusAccepted {
		p.t.Fatalf("POST refund answered %d %s, want 202", resp.StatusCode, raw)
	}
	r := decode[refund](p.t, raw)
	deadline := time.Now().Add(30 * time.Second)
	for r.Status == "pending" {
		if time.Now().After(deadline) {
			p.t.Fatalf("refund %s still pending", r.ID)
		}
		time.Sleep(100 * time.Millisecond)
		resp, raw = p.rep(http.MethodGet, "/v1/rep/refunds/"+r.ID, "", nil)
		if resp.StatusCode != http.StatusOK {
			p.t.Fatalf("GET refund answered %d %s", resp.StatusCode, raw)
		}
		r = decode[refund](p.t, raw)
	}
	return r
}

func (p *portal) checkBooks() {
	p.t.Helper()
	findings, err := p.db.CheckBooks(context.Background())
	if err != nil {
		p.t.Fatal(err)
	}
	for _, f := range findings {
		p.t.Errorf("books: %s: %s", f.Kind, f.Detail)
	}
}

// A rep refunds part of a card payment: the sandbox gives the money back once, what the
// customer owes rises by exactly the refund, a Refund invoice shows it (with its PDF), the
// customer is mailed, and a customer key cannot use the route.
func TestRepRefundsPartOfACardPayment(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.awaitFinal(p.pay(cardPayment(5000, "4242 4242 4242 4242", "123")).ID, 30*time.Second)
	if pay.Status != "succeeded" {
		t.Fatalf("payment %s", pay.Status)
	}
	before := p.balance()

	if status, raw := p.call(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "k", map[string]any{"amount": 100, "reason": "x"}); status != http.StatusForbidden {
		t.Fatalf("customer key on the refund route: %d %s, want 403", status, raw)
	}
	if resp, raw := p.rep(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "", map[string]any{"amount": 100, "reason": "x"}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("refund without an Idempotency-Key: %d %s, want 400", resp.StatusCode, raw)
	}
	if resp, raw := p.rep(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "k0", map[string]any{"amount": 100, "reason": "  "}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("refund without a reason: %d %s, want 422", resp.StatusCode, raw)
	}

	r := p.refundPayment(pay.ID, "refund-1", 1200)
	if r.Status != "succeeded" || r.InvoiceID == nil || r.CreatedBy != devdata.DemoRepName || r.ProcessorRefundID == nil {
		t.Fatalf("refund %+v", r)
	}
	if after := p.balance(); after-before != 1200 {
		t.Fatalf("balance moved by %d, want +1200", after-before)
	}
	if n, err := p.cards().Refunds(context.Background(), p.payment(pay.ID).captureID(t, p)); err != nil || n != 1 {
		t.Fatalf("sandbox refunds: %d %v, want 1", n, err)
	}

	// The same key again is the same refund, done once.
	resp, raw := p.rep(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "refund-1",
		map[string]any{"amount": 1200, "reason": "Customer called: duplicate order"})
	if again := decode[refund](t, raw); resp.StatusCode != http.StatusAccepted || again.ID != r.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s", resp.StatusCode, raw)
	}
	// More than is left is refused, by the database's count.
	resp, raw = p.rep(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "refund-2", map[string]any{"amount": 3801, "reason": "too much"})
	if e := decode[apiError](t, raw); resp.StatusCode != http.StatusUnprocessableEntity || e.Error.Code != "amount_exceeds_refundable" {
		t.Fatalf("over-refund: %d %s", resp.StatusCode, raw)
	}

	status, raw := p.call(http.MethodGet, demoPath+"/invoices?type=refund", "", nil)
	if status != http.StatusOK || !strings.Contains(string(raw), *r.InvoiceID) {
		t.Fatalf("customer's refund invoices: %d %s, want %s", status, raw, *r.InvoiceID)
	}
	if status, raw := p.call(http.MethodGet, demoPath+"/invoices/"+*r.InvoiceID+"/pdf", "", nil); status != http.StatusOK || !strings.HasPrefix(string(raw), "%PDF") {
		t.Fatalf("refund invoice PDF: %d", status)
	}
	p.awaitMail("Refund issued")
	p.checkBooks()
}

// The sandbox makes the refund and its answer is lost: the step asks again with the same
// key, gets the same refund, and it is booked once.
func TestRefundWhoseProcessorAnswerIsLostIsBookedOnce(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.awaitFinal(p.pay(cardPayment(5000, "4242 4242 4242 4242", "123")).ID, 30*time.Second)
	before := p.balance()
	var lost atomic.Int32
	p.cards().SetFault(func(op string, committed bool) error {
		if op == sandbox.OpRefund && committed && lost.Add(1) == 1 {
			return lostAnswer()
		}
		return nil
	})
	t.Cleanup(func() { p.cards().SetFault(nil) })

	r := p.refundPayment(pay.ID, "refund-lost", 2000)
	if r.Status != "succeeded" || lost.Load() < 1 {
		t.Fatalf("refund %+v after %d lost answers", r, lost.Load())
	}
	if n, _ := p.cards().Refunds(context.Background(), p.payment(pay.ID).captureID(t, p)); n != 1 {
		t.Fatalf("sandbox refunds: %d, want 1", n)
	}
	if n := p.count(`SELECT count(*) FROM ledger_entries WHERE kind = 'payment_refund' AND reference = $1`, r.ID); n != 1 {
		t.Fatalf("%d ledger entries for the refund, want 1", n)
	}
	if after := p.balance(); after-before != 2000 {
		t.Fatalf("balance moved by %d, want +2000", after-before)
	}
	p.checkBooks()
}

// The processor refuses: nothing is booked, the refund ends failed, and its amount can be
// refunded again.
func TestRefusedRefundIsNotBooked(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.awaitFinal(p.pay(cardPayment(5000, "4242 4242 4242 4242", "123")).ID, 30*time.Second)
	before := p.balance()
	p.cards().SetFault(func(op string, committed bool) error {
		if op == sandbox.OpRefund && !committed {
			return fmt.Errorf("%w: the charge was disputed", gateway.ErrInvalidState)
		}
		return nil
	})
	r := p.refundPayment(pay.ID, "refund-refused", 5000)
	p.cards().SetFault(nil)
	if r.Status != "failed" || r.Failure == nil || r.InvoiceID != nil {
		t.Fatalf("refused refund %+v", r)
	}
	if after := p.balance(); after != before {
		t.Fatalf("balance moved by %d on a refused refund", after-before)
	}
	if again := p.refundPayment(pay.ID, "refund-again", 5000); again.Status != "succeeded" {
		t.Fatalf("refund after a refused one: %+v", again)
	}
	p.checkBooks()
}

// A rep's credit lowers what the customer owes by its amount, as a Credit invoice.
func TestRepIssuesACredit(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	path := "/v1/rep/accounts/" + devdata.DemoAccountID + "/credits"
	if status, _ := p.call(http.MethodPost, path, "k", map[string]any{"amount": 100, "currency": "USD", "reason": "x"}); status != http.StatusForbidden {
		t.Fatalf("customer key on the credit route: %d, want 403", status)
	}
	resp, raw := p.rep(http.MethodPost, path, "credit-1", map[string]any{"amount": 900, "currency": "EUR", "reason": "outage"})
	if e := decode[apiError](t, raw); resp.StatusCode != http.StatusUnprocessableEntity || e.Error.Code != "currency_mismatch" {
		t.Fatalf("credit in another currency: %d %s", resp.StatusCode, raw)
	}
	resp, raw = p.rep(http.MethodPost, path, "credit-2", map[string]any{"amount": 900, "currency": "USD", "reason": "Network outage on March 3"})
	c := decode[struct {
		ID, Status string
		InvoiceID  *string `json:"invoice_id"`
	}](t, raw)
	if resp.StatusCode != http.StatusAccepted || c.Status != "issued" || c.InvoiceID == nil {
		t.Fatalf("credit: %d %s", resp.StatusCode, raw)
	}
	if after := p.balance(); after-before != -900 {
		t.Fatalf("balance moved by %d, want -900", after-before)
	}
	status, raw := p.call(http.MethodGet, demoPath+"/invoices?type=credit", "", nil)
	if status != http.StatusOK || !strings.Contains(string(raw), *c.InvoiceID) {
		t.Fatalf("customer's credit invoices: %d %s", status, raw)
	}
	resp, raw = p.rep(http.MethodGet, path, "", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), c.ID) {
		t.Fatalf("rep's credit list: %d %s", resp.StatusCode, raw)
	}
	p.awaitMail("Credit added")
	p.checkBooks()
}

// captureID is the payment's capture, from the books.
func (pay payment) captureID(t *testing.T, p *portal) string {
	t.Helper()
	var id string
	if err := p.db.Pool.QueryRow(context.Background(), `SELECT capture_id FROM payments WHERE id = $1`, pay.ID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// awaitMail waits for a mail whose subject starts with prefix.
func (p *portal) awaitMail(prefix string) {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, m := range p.outbox.Messages() {
			if strings.HasPrefix(m.Subject, prefix) {
				return
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no mail %q", prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A PayPal payment is refunded in full through PayPal's sandbox, once, with the capture's
// refund recorded there.
func TestRepRefundsAPayPalPayment(t *testing.T) {
	p := startPortal(t, portalOptions{})
	pay := p.pay(paypalPayment(2000))
	if pay.ApprovalURL == nil {
		t.Fatalf("PayPal payment without approval_url: %+v", pay)
	}
	resp := p.buyerClicks(*pay.ApprovalURL, "Approve")
	resp.Body.Close()
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment %+v", got)
	}
	before := p.balance()
	r := p.refundPayment(pay.ID, "paypal-refund", 2000)
	if r.Status != "succeeded" {
		t.Fatalf("refund %+v", r)
	}
	if n, err := p.paypal().Refunds(context.Background(), pay.captureID(t, p)); err != nil || n != 1 {
		t.Fatalf("PayPal sandbox refunds: %d %v, want 1", n, err)
	}
	if after := p.balance(); after-before != 2000 {
		t.Fatalf("balance moved by %d, want +2000", after-before)
	}
	resp2, raw := p.rep(http.MethodPost, "/v1/rep/payments/"+pay.ID+"/refunds", "paypal-refund-2", map[string]any{"amount": 1, "reason": "more"})
	if resp2.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("refund past a full refund: %d %s", resp2.StatusCode, raw)
	}
	p.checkBooks()
}

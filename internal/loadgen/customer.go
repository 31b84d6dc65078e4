package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/devdata"
)

// newHTTPClient is the keep-alive client every customer and the bare ceiling share: enough
// idle connections per host that no request opens a new one in steady state, and no
// redirects followed, so every step of the PayPal checkout is seen.
func newHTTPClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 4*clients + 16
	t.MaxIdleConnsPerHost = 4*clients + 16
	t.IdleConnTimeout = 2 * time.Minute
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// customer is one client of PayPortal, bound to an account.
type customer struct {
	http    *http.Client
	base    string
	acct    account
	repKey  string
	prefix  string // of this customer's Idempotency-Keys
	keys    int    // Idempotency-Keys used so far: one customer runs one operation at a time
	poll    time.Duration
	timeout time.Duration
}

// do runs one kind of operation and answers its sample (times are the phase's).
func (c *customer) do(ctx context.Context, kind Kind) sample {
	s := sample{kind: kind}
	switch kind {
	case KindCard:
		c.cardPayment(ctx, &s)
	case KindPayPal:
		c.paypalPayment(ctx, &s)
	case KindAddCard:
		c.addCard(ctx, &s)
	case KindSummary:
		c.read(ctx, &s, "/billing-summary", nil)
	case KindInvoices:
		c.read(ctx, &s, "/invoices", nil)
	case KindPDF:
		c.read(ctx, &s, "/invoices/"+c.acct.PDFInvoice+"/pdf", []byte("%PDF"))
	default:
		s.failed("unknown kind", string(kind))
	}
	return s
}

// payment is the contract's payment, as far as the tool reads it.
type payment struct {
	ID          string  `json:"id"`
	Status      string  `json:"status"`
	ApprovalURL *string `json:"approval_url"`
	Failure     *struct {
		Code string `json:"code"`
	} `json:"failure"`
	WorkflowID string `json:"workflow_id"`
}

func finalPayment(status string) bool {
	switch status {
	case "succeeded", "failed", "canceled", "expired":
		return true
	}
	return false
}

func (c *customer) accountPath(p string) string { return "/v1/accounts/" + c.acct.ID + p }

// cardPayment pays 1-99 cents by the sandbox's always-successful card and waits for the
// final status: the POST's own answer when it is final already, else GETs every poll.
func (c *customer) cardPayment(ctx context.Context, s *sample) {
	body := map[string]any{
		"amount": 1 + rand.IntN(99), "currency": "USD", "method": "card",
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": "123", "holder_name": "Load Test"},
		"use_company_info": true,
	}
	p, ok := c.createPayment(ctx, s, body)
	if !ok {
		return
	}
	c.awaitPayment(ctx, s, p)
}

// paypalPayment pays by PayPal and approves it as a buyer would: open approval_url (the
// sandbox's checkout page), submit its Approve form, follow the redirect to the return link,
// then wait for the payment to succeed.
func (c *customer) paypalPayment(ctx context.Context, s *sample) {
	body := map[string]any{"amount": 1 + rand.IntN(99), "currency": "USD", "method": "paypal"}
	p, ok := c.createPayment(ctx, s, body)
	if !ok {
		return
	}
	deadline := time.Now().Add(c.timeout)
	for p.ApprovalURL == nil && !finalPayment(p.Status) { // an API that answered before the order existed
		if !c.pause(ctx, s, deadline, "await approval_url", p) {
			return
		}
		if !c.getJSON(ctx, s, "GET payment", c.accountPath("/payments/"+p.ID), c.acct.Key, &p) {
			return
		}
	}
	if finalPayment(p.Status) {
		c.awaitPayment(ctx, s, p) // records the outcome
		return
	}
	page, err := c.sameServer(*p.ApprovalURL)
	if err != nil {
		s.failed("approval_url", err.Error())
		return
	}
	status, raw, _, err := c.send(ctx, http.MethodGet, page, "", nil, nil)
	if !c.ok(s, "GET checkout page", status, raw, err, http.StatusOK) {
		return
	}
	approve := approveAction.FindSubmatch(raw)
	if approve == nil {
		s.failed("checkout page: no Approve form", string(raw))
		return
	}
	// A buyer whose click got no answer clicks again; approving twice is approving.
	status, raw, hdr, err := c.sendRetrying(ctx, true, http.MethodPost, html.UnescapeString(string(approve[1])), "",
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte{})
	if !c.ok(s, "POST approve", status, raw, err, http.StatusSeeOther) {
		return
	}
	returnURL, err := c.sameServer(hdr.Get("Location"))
	if err != nil {
		s.failed("approve redirect", err.Error())
		return
	}
	status, raw, _, err = c.send(ctx, http.MethodGet, returnURL, "", nil, nil)
	if !c.ok(s, "GET return", status, raw, err, http.StatusOK) {
		return
	}
	c.awaitPayment(ctx, s, p)
}

// approveAction finds the Approve form's target on the sandbox's checkout page.
var approveAction = regexp.MustCompile(`<form method="post" action="([^"]+)"><button type="submit" id="approve">`)

// createPayment POSTs a payment with an Idempotency-Key of its own.
func (c *customer) createPayment(ctx context.Context, s *sample, body map[string]any) (payment, bool) {
	raw, err := json.Marshal(body)
	if err != nil {
		s.failed("encode", err.Error())
		return payment{}, false
	}
	c.keys++
	status, answer, _, err := c.send(ctx, http.MethodPost, c.accountPath("/payments"), c.acct.Key,
		map[string]string{"Idempotency-Key": fmt.Sprintf("%s-%d", c.prefix, c.keys), "Content-Type": "application/json"}, raw)
	if !c.ok(s, "POST payments", status, answer, err, http.StatusAccepted) {
		return payment{}, false
	}
	var p payment
	if err := json.Unmarshal(answer, &p); err != nil || p.ID == "" {
		s.failed("POST payments: bad answer", string(answer))
		return payment{}, false
	}
	s.payment, s.ref = p.ID, p.WorkflowID
	return p, true
}

// awaitPayment polls until the payment is final and records how it ended: only succeeded is a
// success.
func (c *customer) awaitPayment(ctx context.Context, s *sample, p payment) {
	deadline := time.Now().Add(c.timeout)
	for !finalPayment(p.Status) {
		if !c.pause(ctx, s, deadline, "await final status", p) {
			return
		}
		if !c.getJSON(ctx, s, "GET payment", c.accountPath("/payments/"+p.ID), c.acct.Key, &p) {
			return
		}
	}
	if p.Status == "succeeded" {
		s.paid = true
		return
	}
	label := p.Status
	if p.Failure != nil {
		label += " " + p.Failure.Code
	}
	s.failed("payment "+label, "payment "+p.ID+" ended "+label)
}

// pause waits one poll interval, or fails the sample when the deadline has passed.
func (c *customer) pause(ctx context.Context, s *sample, deadline time.Time, what string, p payment) bool {
	if time.Now().After(deadline) {
		s.failed(what+": timeout", fmt.Sprintf("payment %s still %s after %s", p.ID, p.Status, c.timeout))
		return false
	}
	select {
	case <-ctx.Done():
		s.failed("interrupted", ctx.Err().Error())
		return false
	case <-time.After(c.poll):
		return true
	}
}

// paymentMethod is the contract's payment method, as far as the tool reads it.
type paymentMethod struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	WorkflowID string `json:"workflow_id"`
}

// addCard puts a card on file, approves it as the rep, and waits until it is validated.
func (c *customer) addCard(ctx context.Context, s *sample) {
	raw, _ := json.Marshal(map[string]any{
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": "123", "holder_name": "Load Test"},
		"use_company_info": true, "contact_email": "cards@load.example",
	})
	c.keys++
	status, answer, _, err := c.send(ctx, http.MethodPost, c.accountPath("/payment-methods"), c.acct.Key,
		map[string]string{"Content-Type": "application/json", "Idempotency-Key": fmt.Sprintf("%s-%d", c.prefix, c.keys)}, raw)
	if !c.ok(s, "POST payment-methods", status, answer, err, http.StatusAccepted) {
		return
	}
	var pm paymentMethod
	if err := json.Unmarshal(answer, &pm); err != nil || pm.ID == "" {
		s.failed("POST payment-methods: bad answer", string(answer))
		return
	}
	s.ref = pm.WorkflowID
	c.keys++
	status, answer, _, err = c.send(ctx, http.MethodPost, "/v1/rep/payment-methods/"+pm.ID+"/decision", c.repKey,
		map[string]string{"Content-Type": "application/json", "Idempotency-Key": fmt.Sprintf("%s-%d", c.prefix, c.keys)},
		[]byte(`{"decision": "approve", "reason": "load test"}`))
	if !c.ok(s, "POST decision", status, answer, err, http.StatusOK) {
		return
	}
	if err := json.Unmarshal(answer, &pm); err != nil {
		s.failed("POST decision: bad answer", string(answer))
		return
	}
	deadline := time.Now().Add(c.timeout)
	for pm.Status == "pending_validation" {
		if time.Now().After(deadline) {
			s.failed("await validated: timeout", fmt.Sprintf("card %s still %s after %s", pm.ID, pm.Status, c.timeout))
			return
		}
		select {
		case <-ctx.Done():
			s.failed("interrupted", ctx.Err().Error())
			return
		case <-time.After(c.poll):
		}
		if !c.getJSON(ctx, s, "GET payment-method", c.accountPath("/payment-methods/"+pm.ID), c.acct.Key, &pm) {
			return
		}
	}
	if pm.Status != "validated" {
		s.failed("card "+pm.Status, "card "+pm.ID+" ended "+pm.Status)
	}
}

// read GETs one of the account's pages and checks it starts with prefix, if given.
func (c *customer) read(ctx context.Context, s *sample, path string, prefix []byte) {
	status, raw, _, err := c.send(ctx, http.MethodGet, c.accountPath(path), c.acct.Key, nil, nil)
	if !c.ok(s, "GET "+string(s.kind), status, raw, err, http.StatusOK) {
		return
	}
	if prefix != nil && !bytes.HasPrefix(raw, prefix) {
		s.failed("GET "+string(s.kind)+": unexpected body", fmt.Sprintf("%.80q", raw))
	}
}

// getJSON GETs path and decodes a 200 answer into out.
func (c *customer) getJSON(ctx context.Context, s *sample, what, path, key string, out any) bool {
	status, raw, _, err := c.send(ctx, http.MethodGet, path, key, nil, nil)
	if !c.ok(s, what, status, raw, err, http.StatusOK) {
		return false
	}
	if err := json.Unmarshal(raw, out); err != nil {
		s.failed(what+": bad answer", string(raw))
		return false
	}
	return true
}

// send makes one request to the API (path relative to base) and reads the whole answer, so
// the connection goes back to the pool.
// send makes one request as a careful client does: a GET, or a write carrying an
// Idempotency-Key, is sent again when the answer is lost (the connection broke, a proxy
// answered 502/504) or is 503, as the README tells callers to.
func (c *customer) send(ctx context.Context, method, path, key string, header map[string]string, body []byte) (int, []byte, http.Header, error) {
	return c.sendRetrying(ctx, method == http.MethodGet || header["Idempotency-Key"] != "", method, path, key, header, body)
}

// sendRetrying is send, sent again on a lost answer when retry says so.
func (c *customer) sendRetrying(ctx context.Context, retry bool, method, path, key string, header map[string]string, body []byte) (int, []byte, http.Header, error) {
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, raw, h, err := send(ctx, c.http, method, c.base+path, key, header, body)
		lost := (err != nil && ctx.Err() == nil) || status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
		if !retry || !lost || attempt == maxAttempts {
			return status, raw, h, err
		}
		select {
		case <-ctx.Done():
			return status, raw, h, err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// maxAttempts bounds a request's retries: about ten seconds of backoff.
const maxAttempts = 14

func send(ctx context.Context, hc *http.Client, method, target, key string, header map[string]string, body []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header, err
}

// ok checks a response; a failure is labelled by the step, the status and the contract's
// error code.
func (c *customer) ok(s *sample, step string, status int, raw []byte, err error, want int) bool {
	switch {
	case err != nil && errors.Is(err, context.Canceled):
		s.failed("interrupted", err.Error())
	case err != nil:
		s.failed(step+": "+transportLabel(err), err.Error())
	case status != want:
		s.failed(fmt.Sprintf("%s: %d %s", step, status, errorCode(raw)), fmt.Sprintf("%.300s", raw))
	default:
		return true
	}
	return false
}

// errorCode is the contract's error code in an error answer, if any.
func errorCode(raw []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return ""
	}
	return e.Error.Code
}

// transportLabel groups transport errors without their addresses.
func transportLabel(err error) string {
	msg := err.Error()
	for _, known := range []string{"connection refused", "connection reset", "timeout", "EOF", "broken pipe"} {
		if strings.Contains(msg, known) {
			return known
		}
	}
	return "transport error"
}

// sameServer turns a link the API gave (absolute with PAYPORTAL_PUBLIC_URL, or a path) into
// a path on the API the tool drives, so a public URL that differs from -base still works.
func (c *customer) sameServer(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || u.Path == "" {
		return "", fmt.Errorf("not a link: %q", link)
	}
	return u.RequestURI(), nil
}

// repKey is the rep who decides the cards: the demo rep, which loadgen makes sure exists.
const repKey = devdata.DemoRepKey

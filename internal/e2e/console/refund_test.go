package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/payportal/payportal/internal/devdata"
)

// pay makes a card payment as the demo customer and waits for it to succeed.
func (e *env) pay(amount int64) string {
	e.t.Helper()
	raw, _ := json.Marshal(map[string]any{"amount": amount, "currency": "USD", "method": "card",
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 3,
			"cvc": "123", "holder_name": "Ada Lovelace"}, "use_company_info": true})
	req, _ := http.NewRequest("POST", e.base+"/v1/accounts/"+devdata.DemoAccountID+"/payments", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+devdata.DemoCustomerKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "console-refund-payment")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p struct{ ID, Status string }
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != http.StatusAccepted {
		e.t.Fatalf("pay: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.Status != "succeeded" {
		if time.Now().After(deadline) {
			e.t.Fatalf("payment %s is %s", p.ID, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
		e.api("GET", "/v1/accounts/"+devdata.DemoAccountID+"/payments/"+p.ID, devdata.DemoCustomerKey, nil, &p)
	}
	return p.ID
}

func (e *env) balance() int64 {
	e.t.Helper()
	var s struct {
		CurrentBalance int64 `json:"current_balance"`
	}
	if status := e.api("GET", "/v1/accounts/"+devdata.DemoAccountID+"/billing-summary", devdata.DemoCustomerKey, nil, &s); status != 200 {
		e.t.Fatalf("billing summary: %d", status)
	}
	return s.CurrentBalance
}

// TestRepRefundsPartOfAPaymentInChromium: a rep opens the customer's account, refunds part of
// a payment with the keyboard alone; the customer's balance rises by exactly that amount and
// the Refund invoice appears in their invoice list. A refund form posted without the CSRF
// token refunds nothing. Screenshots of the pages are saved.
func TestRepRefundsPartOfAPaymentInChromium(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	payID := e.pay(5000)
	before := e.balance()

	// Without the session's CSRF token the form refunds nothing.
	plain := browserClient(t)
	if status, _ := signIn(t, plain, e.base, devdata.DemoRepKey); status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", status)
	}
	if resp, _ := post(t, plain, e.base+"/rep/payments/"+payID+"/refund", url.Values{"amount": {"10"}, "reason": {"no token"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("refund form without its CSRF token: %d, want 403", resp.StatusCode)
	}
	if e.balance() != before {
		t.Fatal("a refused refund form moved the balance")
	}

	tab := browser(t, ctx)
	dir := artifacts(t)
	signInBrowser(t, tab, e.base, devdata.DemoRepKey)
	amount, reason := "#refund-amount-"+payID, "#refund-reason-"+payID
	if err := chromedp.Do(tab,
		chromedp.Navigate(e.base+"/rep/accounts/"+devdata.DemoAccountID),
		chromedp.WaitVisible(chromedp.CSS(amount)),
		chromedp.WaitVisible(chromedp.CSS(reason)),
	); err != nil {
		t.Fatalf("account page: %v", err)
	}
	shot(t, tab, dir, "account")
	// Keyboard only: focus the amount, type, tab to the reason, type, Enter submits.
	if err := chromedp.Do(tab,
		chromedp.Focus(chromedp.CSS(amount)),
		chromedp.KeyEvent("12.34"),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("Charged twice for the March migration"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
		chromedp.WaitVisible(chromedp.CSS("#money-back .refund-row")),
	); err != nil {
		t.Fatalf("refund with the keyboard: %v", err)
	}
	shot(t, tab, dir, "account-after-refund")
	if row := textOf(t, tab, "#money-back .refund-row"); !strings.Contains(row, "$12.34") || !strings.Contains(row, devdata.DemoRepName) ||
		!strings.Contains(row, "Charged twice") {
		t.Errorf("refund row: %q", row)
	}

	if after := e.balance(); after-before != 1234 {
		t.Fatalf("balance moved by %d, want exactly +1234", after-before)
	}
	var invoices struct {
		Data []struct {
			ID    string `json:"id"`
			Type  string `json:"type"`
			Total int64  `json:"total"`
		} `json:"data"`
	}
	if status := e.api("GET", "/v1/accounts/"+devdata.DemoAccountID+"/invoices?type=refund", devdata.DemoCustomerKey, nil, &invoices); status != 200 {
		t.Fatalf("invoices: %d", status)
	}
	found := false
	for _, inv := range invoices.Data {
		found = found || inv.Type == "refund" && inv.Total == -1234
	}
	if !found {
		t.Fatalf("no Refund invoice of -1234 in the customer's list: %+v", invoices.Data)
	}

	// The page in French labels its forms in French.
	if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/rep/accounts/"+devdata.DemoAccountID+"?lang=fr"),
		chromedp.WaitVisible(chromedp.CSS("#credit-amount"))); err != nil {
		t.Fatalf("account page in French: %v", err)
	}
	if label := textOf(t, tab, `label[for="credit-amount"]`); !strings.Contains(label, "Montant") {
		t.Errorf("French credit label: %q", label)
	}
	shot(t, tab, dir, "account-fr")
}

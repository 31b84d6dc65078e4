package payments_test

import (
	"crypto/sha256"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/testenv"
)

// sandboxToken is the tokenization endpoint's answer.
type sandboxToken struct {
	ID   string `json:"id"`
	Card struct {
		Brand    string `json:"brand"`
		Last4    string `json:"last4"`
		ExpMonth int    `json:"exp_month"`
		ExpYear  int    `json:"exp_year"`
	} `json:"card"`
}

const shopOrigin = "https://shop.example"

// tokenize does what the customer's browser does on the payment page: it sends the card
// straight to the processor's tokenization endpoint, with no API key, from the shop's origin.
func (p *portal) tokenize(number, cvc string) sandboxToken {
	p.t.Helper()
	resp, raw := testenv.Do(p.t, p.base, testenv.Request{Method: http.MethodPost, Path: sandbox.TokensPath,
		Body:   map[string]any{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 3, "cvc": cvc},
		Header: map[string]string{"Origin": shopOrigin}})
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("POST %s answered %d %s", sandbox.TokensPath, resp.StatusCode, raw)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != shopOrigin {
		p.t.Errorf("the token answer allows origin %q: a browser would not let the page read it", got)
	}
	return decode[sandboxToken](p.t, raw)
}

func tokenPayment(amount int64, token string) map[string]any {
	return map[string]any{"amount": amount, "currency": "USD", "method": "card", "token": token, "use_company_info": true}
}

// A card tokenized in the browser pays end to end, the token serves once, and the card is
// added on file by token too.
func TestTokenCardPaymentAndCardOnFile(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	tok := p.tokenize("4242 4242 4242 4242", "123")
	if !strings.HasPrefix(tok.ID, "tok_") || tok.Card.Brand != "visa" || tok.Card.Last4 != "4242" || tok.Card.ExpMonth != 12 {
		t.Fatalf("token answer %+v, want tok_... for visa 4242 12/..", tok)
	}
	pay := p.pay(tokenPayment(1500, tok.ID))
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("token payment ended %s (%+v), want succeeded", got.Status, got.Failure)
	}
	if row := p.row(pay.ID); row.CardToken != tok.ID || row.CardLast4 != "4242" {
		t.Errorf("payment row card %s/%s, want the token %s and 4242", row.CardToken, row.CardLast4, tok.ID)
	}
	if after := p.balance(); after != before-1500 {
		t.Errorf("balance %d after paying 1500 from %d", after, before)
	}
	p.checkOneReceipt(pay.ID)

	status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), tokenPayment(1500, tok.ID))
	if e := decode[apiError](t, raw); status != http.StatusUnprocessableEntity || e.Error.Code != "token_already_used" || e.Error.Param != "token" {
		t.Errorf("a second payment with the same token answered %d %s, want 422 token_already_used", status, raw)
	}

	onFile := p.tokenize("5555555555554444", "321")
	status, raw = p.call(http.MethodPost, demoPath+"/payment-methods", "", map[string]any{
		"token": onFile.ID, "use_company_info": true, "contact_email": "ap@example.com"})
	type pm struct {
		Status, Brand, Last4 string
	}
	if got := decode[pm](t, raw); status != http.StatusAccepted || got.Status != "pending_validation" || got.Brand != "mastercard" || got.Last4 != "4444" {
		t.Errorf("adding a card by token answered %d %s, want 202 pending_validation mastercard 4444", status, raw)
	}

	for _, tc := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"both", map[string]any{"amount": 100, "currency": "USD", "method": "card", "token": "tok_x", "use_company_info": true,
			"card": cardPayment(1, "4242424242424242", "123")["card"]}, "invalid_value"},
		{"neither", map[string]any{"amount": 100, "currency": "USD", "method": "card", "use_company_info": true}, "missing_field"},
		{"unknown token", tokenPayment(100, "tok_nobodymadethis"), "token_invalid"},
	} {
		status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), tc.body)
		if e := decode[apiError](t, raw); status != http.StatusUnprocessableEntity || e.Error.Code != tc.code {
			t.Errorf("%s: answered %d %s, want 422 %s", tc.name, status, raw, tc.code)
		}
	}
}

// The tokenization endpoint answers a browser's CORS preflight, and nothing in the database
// holds the card number, in clear or hashed, once it was tokenized and paid with.
func TestTokenizationEndpointIsForBrowsersAndKeepsNoNumber(t *testing.T) {
	p := startPortal(t, portalOptions{})
	resp, _ := testenv.Do(t, p.base, testenv.Request{Method: http.MethodOptions, Path: sandbox.TokensPath, Header: map[string]string{
		"Origin": shopOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}})
	h := resp.Header
	if resp.StatusCode/100 != 2 || (h.Get("Access-Control-Allow-Origin") != "*" && h.Get("Access-Control-Allow-Origin") != shopOrigin) ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight answered %d with %v, want 2xx allowing POST with Content-Type from %s", resp.StatusCode, h, shopOrigin)
	}

	const number, cvc = "4000056655665556", "737" // a Visa debit test number, used nowhere else
	tok := p.tokenize(number, cvc)
	pay := p.pay(tokenPayment(700, tok.ID))
	if got := p.awaitFinal(pay.ID, 30*time.Second); got.Status != "succeeded" {
		t.Fatalf("payment ended %s, want succeeded", got.Status)
	}
	all, texts := p.databaseText()
	scan := newSecretScan(number, cvc)
	scan.check(t, "the database", all)
	scan.check(t, "the database's text columns", texts)
	for _, form := range []string{sha256Hex(number), sha256Hex("4000 0566 5566 5556"), "400005665566"} {
		if strings.Contains(all, form) {
			t.Errorf("the database holds %q, a form of the card number", form)
		}
	}
	events, payloads := p.historyText(pay.WorkflowID)
	scan.check(t, "the saga's history", events+payloads)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// tdsPayment is the payment with its next action.
type tdsPayment struct {
	payment
	NextAction *struct {
		Type        string `json:"type"`
		RedirectURL string `json:"redirect_url"`
	} `json:"next_action"`
}

var challengeForm = regexp.MustCompile(`<form method="post" action="([^"]+)"><button[^>]*>(Complete|Fail) authentication</button>`)

// start3DS pays with the 3-D Secure test card and answers the payment waiting for the
// cardholder.
func (p *portal) start3DS(amount int64) tdsPayment {
	p.t.Helper()
	tok := p.tokenize("4000002500003155", "123")
	body := tokenPayment(amount, tok.ID)
	body["return_url"] = shopOrigin + "/paid"
	status, raw := p.call(http.MethodPost, demoPath+"/payments", "key-"+randomHex(8), body)
	pay := decode[tdsPayment](p.t, raw)
	if status != http.StatusAccepted || pay.Status != "requires_action" || pay.NextAction == nil ||
		pay.NextAction.Type != "redirect_to_url" || !strings.HasPrefix(pay.NextAction.RedirectURL, p.base+sandbox.ChallengePath) {
		p.t.Fatalf("POST answered %d %s, want 202 requires_action with next_action redirect_to_url to the challenge", status, raw)
	}
	if pay.ApprovalURL != nil {
		p.t.Errorf("a card payment shows approval_url %q; its redirect is next_action", *pay.ApprovalURL)
	}
	return pay
}

// cardholderClicks opens the challenge page like a browser, presses button, and answers
// where the browser ended: PayPortal's return route, which sends it on to return_url.
func (p *portal) cardholderClicks(redirectURL, button string) *http.Response {
	p.t.Helper()
	b := p.browser()
	resp, err := b.Get(redirectURL)
	if err != nil {
		p.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		p.t.Fatalf("challenge page answered %d %s", resp.StatusCode, page)
	}
	var action string
	for _, m := range challengeForm.FindAllStringSubmatch(string(page), -1) {
		if m[2] == button {
			action = html.UnescapeString(m[1])
		}
	}
	if action == "" {
		p.t.Fatalf("no %s button on the challenge page:\n%s", button, page)
	}
	u, _ := url.Parse(redirectURL)
	target, err := u.Parse(action)
	if err != nil {
		p.t.Fatal(err)
	}
	resp, err = b.Post(target.String(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		p.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// The 3-D Secure card: the cardholder completes the challenge, comes back through PayPortal
// to the shop, and the payment is captured and booked.
func TestCard3DSCompletedThroughTheChallengePage(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	pay := p.start3DS(2500)
	if row := p.row(pay.ID); row.Status != "requires_action" || row.CaptureID != "" {
		t.Fatalf("while the challenge is open the payment is %s with capture %q", row.Status, row.CaptureID)
	}

	resp := p.cardholderClicks(pay.NextAction.RedirectURL, "Complete")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != shopOrigin+"/paid" ||
		resp.Request.URL.Path != "/v1/card-authentication/return" {
		t.Fatalf("completing landed on %s answering %d to %q, want PayPortal's return sending the buyer to %s/paid",
			resp.Request.URL, resp.StatusCode, resp.Header.Get("Location"), shopOrigin)
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "succeeded" {
		t.Fatalf("payment ended %s (%+v), want succeeded", got.Status, got.Failure)
	}
	if n, _ := p.cards().Captures(t.Context(), p.row(pay.ID).AuthorizationID); n != 1 {
		t.Errorf("%d captures, want 1", n)
	}
	if after := p.balance(); after != before-2500 {
		t.Errorf("balance %d after paying 2500 from %d", after, before)
	}
	p.checkOneReceipt(pay.ID)

	// The link again: the payment has moved on, so no redirect anyone could reuse.
	again := p.buyerReturn("/v1/card-authentication/return?payment_intent=" + url.QueryEscape(p.row(pay.ID).AuthorizationID))
	again.Body.Close()
	if again.StatusCode != http.StatusOK {
		t.Errorf("a second visit of the return link answered %d, want 200 with the payment", again.StatusCode)
	}
}

// The cardholder fails the challenge: the payment fails authentication_failed, nothing is
// captured, and the customer is told truthfully that no money was taken.
func TestCard3DSFailedThroughTheChallengePage(t *testing.T) {
	p := startPortal(t, portalOptions{})
	before := p.balance()
	pay := p.start3DS(2500)
	resp := p.cardholderClicks(pay.NextAction.RedirectURL, "Fail")
	if resp.Request.URL.Path != "/v1/card-authentication/return" {
		t.Fatalf("failing landed on %s, want PayPortal's return route", resp.Request.URL)
	}
	got := p.awaitFinal(pay.ID, 30*time.Second)
	if got.Status != "failed" || got.Failure == nil || got.Failure.Code != "authentication_failed" {
		t.Fatalf("payment ended %s (%+v), want failed authentication_failed", got.Status, got.Failure)
	}
	auth, err := p.cards().Authorization(t.Context(), p.row(pay.ID).AuthorizationID)
	if err != nil {
		t.Fatal(err)
	}
	if auth.CaptureID != "" || auth.Status == "authorized" {
		t.Errorf("the failed authentication's authorization is %s with capture %q, want nothing held or taken", auth.Status, auth.CaptureID)
	}
	if after := p.balance(); after != before {
		t.Errorf("balance moved from %d to %d", before, after)
	}
	p.checkNoMoneyTakenMail(pay.ID)
}

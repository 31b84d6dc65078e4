package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

type readAccount struct {
	ID           string `json:"id"`
	Company      string `json:"company"`
	Currency     string `json:"currency"`
	ContactEmail string `json:"contact_email"`
	MailLanguage string `json:"mail_language"`
	BillingDay   int    `json:"billing_day"`
	Status       string `json:"status"`
}

// The account answers its mail language, which starts as the account's language (acct_other
// is French), and its customer changes it; the billing summary shows it. Every answer is
// checked against the contract by openapitest.
func TestAccountMailLanguage(t *testing.T) {
	p := startReadServer(t)

	var demo, other readAccount
	p.get(t, readDemoKey, readDemo, &demo)
	p.get(t, readOtherKey, readOther, &other)
	if demo.ID != "acct_demo" || demo.MailLanguage != "en" || demo.Currency != "USD" || demo.Company == "" || demo.ContactEmail == "" {
		t.Errorf("demo account = %+v, want acct_demo, USD, mail_language en", demo)
	}
	if other.MailLanguage != "fr" {
		t.Errorf("acct_other mail_language = %q, want fr (its language)", other.MailLanguage)
	}

	patch := func(key, path, body string) (*http.Response, []byte) {
		return p.send(t, readRequest{method: http.MethodPatch, path: path, auth: key, body: []byte(body),
			header: map[string]string{"Content-Type": "application/json"}})
	}
	resp, raw := patch(readDemoKey, readDemo, `{"mail_language": "fr"}`)
	var changed readAccount
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &changed) != nil || changed.MailLanguage != "fr" || changed.ID != "acct_demo" {
		t.Fatalf("PATCH mail_language fr answered %d %s, want 200 with the account in fr", resp.StatusCode, raw)
	}
	// Again: the same answer, nothing else changed.
	if resp, raw := patch(readDemoKey, readDemo, `{"mail_language": "fr"}`); resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"mail_language":"fr"`) {
		t.Errorf("the same PATCH again answered %d %s", resp.StatusCode, raw)
	}
	var sum struct {
		MailLanguage string `json:"mail_language"`
	}
	p.get(t, readDemoKey, readDemo+"/billing-summary", &sum)
	if sum.MailLanguage != "fr" {
		t.Errorf("billing summary mail_language = %q, want fr", sum.MailLanguage)
	}
	if acct, err := p.db.Account(context.Background(), "acct_demo"); err != nil || acct.MailLanguage != "fr" || acct.Language != "en" {
		t.Errorf("books: %+v, %v; want mail_language fr, language unchanged", acct, err)
	}

	for _, tc := range []struct {
		name, key, path, body string
		status                int
		typ, code, param      string
	}{
		{"bad language", readDemoKey, readDemo, `{"mail_language": "de"}`, 422, "invalid_request", "invalid_value", "mail_language"},
		{"a tag, not a language", readDemoKey, readDemo, `{"mail_language": "fr-FR"}`, 422, "invalid_request", "invalid_value", "mail_language"},
		{"upper case", readDemoKey, readDemo, `{"mail_language": "FR"}`, 422, "invalid_request", "invalid_value", "mail_language"},
		{"empty", readDemoKey, readDemo, `{"mail_language": ""}`, 422, "invalid_request", "invalid_value", "mail_language"},
		{"missing", readDemoKey, readDemo, `{}`, 422, "invalid_request", "missing_field", "mail_language"},
		{"null", readDemoKey, readDemo, `{"mail_language": null}`, 422, "invalid_request", "missing_field", "mail_language"},
		{"not a string", readDemoKey, readDemo, `{"mail_language": 1}`, 400, "invalid_request", "wrong_type", "mail_language"},
		{"another field", readDemoKey, readDemo, `{"mail_language": "en", "currency": "EUR"}`, 400, "invalid_request", "unknown_field", "currency"},
		{"another account", readDemoKey, readOther, `{"mail_language": "en"}`, 404, "not_found", "resource_missing", ""},
		{"a rep", readRepKey, readDemo, `{"mail_language": "en"}`, 403, "authorization", "customer_only", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := readRequest{method: http.MethodPatch, path: tc.path, auth: tc.key, body: []byte(tc.body)}
			resp, raw := patch(tc.key, tc.path, tc.body)
			wantContractError(t, r, resp, raw, tc.status, tc.typ, tc.code, tc.param)
		})
	}
	// Nothing refused changed the language.
	if acct, err := p.db.Account(context.Background(), "acct_demo"); err != nil || acct.MailLanguage != "fr" {
		t.Errorf("after the refused requests: %+v, %v; want mail_language fr", acct, err)
	}
	if acct, err := p.db.Account(context.Background(), "acct_other"); err != nil || acct.MailLanguage != "fr" {
		t.Errorf("acct_other: %+v, %v; want mail_language fr, untouched", acct, err)
	}
	// Another account's GET is a 404 like every other route of it.
	r := readRequest{path: readOther, auth: readDemoKey}
	resp, raw = p.send(t, r)
	wantContractError(t, r, resp, raw, 404, "not_found", "resource_missing", "")
}

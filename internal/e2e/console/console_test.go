// Package console_test drives the rep console end to end: the app's HTTP server (API and
// console), a worker on the real Temporal dev server, a fresh Postgres database with the dev
// data, and real Chromium through chromedp for the pages. Screenshots of each page are saved
// under $PAYPORTAL_ARTIFACTS/rep-console (a temporary directory when unset).
package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/sdk/client"

	"github.com/payportal/payportal/internal/app"
	"github.com/payportal/payportal/internal/config"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type env struct {
	t    *testing.T
	db   *postgres.DB
	base string
}

// start runs the app (API and console) and its worker against a fresh database.
func start(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db, _ := testenv.Database(t)
	if _, err := devdata.Seed(ctx, db, time.Now().UTC()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	smtp := mailtest.Start(t)
	log := testenv.Logger(&testenv.LogBuffer{})
	tc, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t), Logger: testenv.NopTemporalLogger()})
	if err != nil {
		testenv.Unavailable(t, "dial temporal: %v", err)
	}
	t.Cleanup(tc.Close)
	cfg, err := config.Load()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.Env = config.EnvDevelopment // plain http on loopback: cookies not Secure
	cfg.TaskQueue = fmt.Sprintf("console-e2e-%d", time.Now().UnixNano())
	cfg.SMTPAddr = smtp.Addr()
	cfg.SMTPFrom = "PayPortal Billing <billing@payportal.test>"
	cfg.SMTPUsername, cfg.SMTPPassword = "", ""
	cfg.CardProcessor = "sandbox"
	cfg.AllowRawCards = true
	cfg.CardValidationTimeout = 24 * time.Hour
	cfg.RateLimitPerSecond, cfg.RateLimitBurst = 1000, 1000
	cfg.TemporalUIURL = "http://temporal-ui.test:8233"
	a, err := app.New(cfg, log, db, tc)
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	w := worker.New(tc, a.WorkerConfig())
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	ts := httptest.NewServer(a.APIServer().Handler())
	t.Cleanup(ts.Close)
	return &env{t: t, db: db, base: ts.URL}
}

// api sends a JSON request with a bearer key and decodes the answer into out (when not nil).
func (e *env) api(method, path, key string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode
}

type card struct {
	ID        string  `json:"id"`
	Status    string  `json:"status"`
	DecidedBy *string `json:"decided_by"`
}

// addCard puts a card on file for the demo account: pending validation.
func (e *env) addCard(number, email string) card {
	e.t.Helper()
	var c card
	cvc := "123"
	if strings.HasPrefix(number, "3") {
		cvc = "1234" // amex
	}
	status := e.api("POST", "/v1/accounts/"+devdata.DemoAccountID+"/payment-methods", devdata.DemoCustomerKey, map[string]any{
		"card": map[string]any{"number": number, "exp_month": 12, "exp_year": time.Now().Year() + 3, "cvc": cvc,
			"holder_name": "Ada Lovelace"},
		"use_company_info": true, "contact_email": email}, &c)
	if status != http.StatusAccepted || c.Status != "pending_validation" {
		e.t.Fatalf("add card: %d %+v", status, c)
	}
	return c
}

func (e *env) card(id string) card {
	e.t.Helper()
	var c card
	if status := e.api("GET", "/v1/accounts/"+devdata.DemoAccountID+"/payment-methods/"+id, devdata.DemoCustomerKey, nil, &c); status != 200 {
		e.t.Fatalf("read card %s: %d", id, status)
	}
	return c
}

// browserClient is a cookie-keeping HTTP client that does not follow redirects.
func browserClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([0-9a-f]+)"`)

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// signIn signs in over plain HTTP and returns the session's CSRF token, from the queue page.
func signIn(t *testing.T, c *http.Client, base, key string) (status int, csrf string) {
	t.Helper()
	_, page := get(t, c, base+"/rep/sign-in")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("sign-in page has no CSRF token: %s", page)
	}
	resp, body := post(t, c, base+"/rep/sign-in", url.Values{"csrf_token": {m[1]}, "key": {key}})
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, body
	}
	_, queue := get(t, c, base+"/rep")
	m = csrfInput.FindStringSubmatch(queue)
	if m == nil {
		t.Fatalf("queue page has no CSRF token: %s", queue)
	}
	return resp.StatusCode, m[1]
}

// TestConsoleRefusesFormsWithoutCSRFAndCustomerKeys, over plain HTTP: a form posted without
// the session's CSRF token is refused (403) and decides nothing; the sign-in form without its
// token too; a customer key neither signs in nor opens a page with its bearer header.
func TestConsoleRefusesFormsWithoutCSRFAndCustomerKeys(t *testing.T) {
	e := start(t)
	pending := e.addCard("4242424242424242", "csrf@demo-corp.example")

	customer := browserClient(t)
	if status, body := signIn(t, customer, e.base, devdata.DemoCustomerKey); status != http.StatusForbidden || !strings.Contains(body, "not a rep key") {
		t.Errorf("sign-in with a customer key: %d, want 403 saying it is not a rep key", status)
	}
	for _, path := range []string{"/rep", "/rep/decisions"} {
		req, _ := http.NewRequest("GET", e.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+devdata.DemoCustomerKey)
		resp, err := customer.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rep/sign-in" {
			t.Errorf("customer key on %s: %d %s, want a redirect to sign in", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp, _ := post(t, customer, e.base+"/rep/cards/"+pending.ID+"/decision", url.Values{"decision": {"approve"}, "reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("decision without a session: %d, want 403", resp.StatusCode)
	}

	rep := browserClient(t)
	if resp, _ := post(t, rep, e.base+"/rep/sign-in", url.Values{"key": {devdata.DemoRepKey}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without its CSRF token: %d, want 403", resp.StatusCode)
	}
	status, csrf := signIn(t, rep, e.base, devdata.DemoRepKey)
	if status != http.StatusSeeOther {
		t.Fatalf("rep sign-in: %d %s", status, csrf)
	}
	resp, page := get(t, rep, e.base+"/rep")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("queue's Content-Security-Policy: %q", csp)
	}
	if !strings.Contains(page, pending.ID) || strings.Contains(page, "<script") {
		t.Errorf("queue page lacks the pending card or holds a script")
	}
	for _, form := range []url.Values{
		{"decision": {"approve"}, "reason": {"no token"}},
		{"decision": {"approve"}, "reason": {"wrong token"}, "csrf_token": {strings.Repeat("0", len(csrf))}},
	} {
		if resp, _ := post(t, rep, e.base+"/rep/cards/"+pending.ID+"/decision", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("decision %v: %d, want 403", form, resp.StatusCode)
		}
	}
	if resp, _ := post(t, rep, e.base+"/rep/sign-out", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-out without its CSRF token: %d, want 403", resp.StatusCode)
	}
	if c := e.card(pending.ID); c.Status != "pending_validation" {
		t.Errorf("a refused form decided the card: %+v", c)
	}
	// With the token, the same form is taken.
	if resp, _ := post(t, rep, e.base+"/rep/cards/"+pending.ID+"/decision", url.Values{"decision": {"approve"}, "reason": {"verified"}, "csrf_token": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("decision with its token: %d, want 303", resp.StatusCode)
	}
	if c := e.card(pending.ID); c.Status != "validated" || c.DecidedBy == nil || *c.DecidedBy != devdata.DemoRepName {
		t.Errorf("card after the decision: %+v, want validated by %s", c, devdata.DemoRepName)
	}
	if resp, _ := post(t, rep, e.base+"/rep/sign-out", url.Values{"csrf_token": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-out: %d, want 303", resp.StatusCode)
	}
	if resp, _ := get(t, rep, e.base+"/rep"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("queue after sign-out: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// chromium finds Debian's Chromium ($PAYPORTAL_CHROMIUM overrides), or skips (fails under CI).
func chromium(t *testing.T) string {
	if p := os.Getenv("PAYPORTAL_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "no chromium on PATH (apt-get install chromium)")
	return ""
}

// browser starts a fresh headless Chromium; its tabs share nothing with another browser's.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1100),
		chromedp.Flag("lang", "en-US"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		testenv.Unavailable(t, "start chromium: %v", err)
	}
	return tab
}

func artifacts(t *testing.T) string {
	dir := os.Getenv("PAYPORTAL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "rep-console")
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // G703: the directory the tester named
		t.Fatal(err)
	}
	return dir
}

// shot saves a full-page PNG of what the tab shows.
func shot(t *testing.T, tab context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func signInBrowser(t *testing.T, tab context.Context, base, key string) {
	t.Helper()
	if err := chromedp.Do(tab,
		chromedp.Navigate(base+"/rep/sign-in"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("#rep-name")),
	); err != nil {
		t.Fatalf("sign in: %v", err)
	}
}

func textOf(t *testing.T, tab context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func exists(t *testing.T, tab context.Context, sel string) bool {
	t.Helper()
	ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](fmt.Sprintf("document.querySelector(%q) !== null", sel)))
	if err != nil {
		t.Fatalf("look for %s: %v", sel, err)
	}
	return ok
}

// TestRepConsoleInChromium: a rep signs in, a rejection without a reason is refused, an
// approval takes the card out of the queue and onto the customer's billing summary, a card
// another rep decided meanwhile is shown as decided, the history names who decided what,
// the console speaks French, a customer key cannot sign in, and a disabled rep is out at once.
func TestRepConsoleInChromium(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tab := browser(t, ctx)
	dir := artifacts(t)
	t.Logf("screenshots in %s", dir)

	alice, bob := "rk_alice_console_test", "rk_bob_console_test"
	if _, err := e.db.AddRep(ctx, "Alice Martin", alice); err != nil {
		t.Fatal(err)
	}
	bobRep, err := e.db.AddRep(ctx, "Bob Durand", bob)
	if err != nil {
		t.Fatal(err)
	}
	first := e.addCard("4242424242424242", "first@demo-corp.example")
	second := e.addCard("5555555555554444", "second@demo-corp.example")
	third := e.addCard("378282246310005", "third@demo-corp.example")

	// A customer key cannot sign in.
	if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/rep"), chromedp.WaitVisible(chromedp.CSS("#key"))); err != nil {
		t.Fatalf("console without a session: %v", err)
	}
	shot(t, tab, dir, "sign-in")
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#key"), devdata.DemoCustomerKey),
		chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#error"))); err != nil {
		t.Fatalf("sign in with a customer key: %v", err)
	}
	if msg := textOf(t, tab, "#error"); !strings.Contains(msg, "not a rep key") || exists(t, tab, "#rep-name") {
		t.Fatalf("customer key's sign-in: %q", msg)
	}
	shot(t, tab, dir, "sign-in-customer-key-refused")

	signInBrowser(t, tab, e.base, alice)
	if name := textOf(t, tab, "#rep-name"); name != "Alice Martin" {
		t.Errorf("signed in as %q", name)
	}
	for _, c := range []card{first, second, third} {
		if !exists(t, tab, "#card-"+c.ID) {
			t.Fatalf("card %s is not in the queue", c.ID)
		}
	}
	if link := textOf(t, tab, "#card-"+first.ID+" a.workflow"); !strings.Contains(link, "card-validation/"+first.ID) {
		t.Errorf("workflow link: %q", link)
	}
	shot(t, tab, dir, "queue")

	// A rejection needs a reason.
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.CSS("#reject-"+second.ID)),
		chromedp.Click(chromedp.CSS("#send-"+second.ID)),
		chromedp.WaitVisible(chromedp.CSS("#error-"+second.ID)),
	); err != nil {
		t.Fatalf("reject without a reason: %v", err)
	}
	if msg := textOf(t, tab, "#error-"+second.ID); !strings.Contains(msg, "reason") {
		t.Errorf("rejection without a reason says %q", msg)
	}
	shot(t, tab, dir, "reject-needs-reason")
	if c := e.card(second.ID); c.Status != "pending_validation" {
		t.Errorf("a rejection without a reason decided the card: %+v", c)
	}

	// Approve: the card leaves the queue and becomes the account's monthly card.
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.CSS("#approve-"+first.ID)),
		chromedp.SendKeys(chromedp.CSS("#reason-"+first.ID), "verified by phone"),
		chromedp.Click(chromedp.CSS("#send-"+first.ID)),
		chromedp.WaitVisible(chromedp.CSS("#notice")),
	); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if exists(t, tab, "#card-"+first.ID) {
		t.Errorf("the approved card is still in the queue")
	}
	shot(t, tab, dir, "queue-after-approval")
	if c := e.card(first.ID); c.Status != "validated" || c.DecidedBy == nil || *c.DecidedBy != "Alice Martin" {
		t.Errorf("approved card: %+v, want validated, decided_by Alice Martin", c)
	}
	var summary struct {
		PaymentMethod *struct{ ID string } `json:"payment_method"`
	}
	if status := e.api("GET", "/v1/accounts/"+devdata.DemoAccountID+"/billing-summary", devdata.DemoCustomerKey, nil, &summary); status != 200 ||
		summary.PaymentMethod == nil || summary.PaymentMethod.ID != first.ID {
		t.Errorf("billing summary: %d %+v, want the approved card %s", status, summary.PaymentMethod, first.ID)
	}

	// Bob decides the third card while Alice's page still offers it: hers is refused, and
	// she sees Bob's decision.
	var byBob card
	if status := e.api("POST", "/v1/rep/payment-methods/"+third.ID+"/decision", bob,
		map[string]any{"decision": "reject", "reason": "stolen card report"}, &byBob); status != 200 || byBob.Status != "rejected" {
		t.Fatalf("bob's rejection: %d %+v", status, byBob)
	}
	if err := chromedp.Do(tab,
		chromedp.Click(chromedp.CSS("#approve-"+third.ID)),
		chromedp.SendKeys(chromedp.CSS("#reason-"+third.ID), "looks fine"),
		chromedp.Click(chromedp.CSS("#send-"+third.ID)),
		chromedp.WaitVisible(chromedp.CSS("#decided-"+third.ID)),
	); err != nil {
		t.Fatalf("decide a card bob decided: %v", err)
	}
	if msg := textOf(t, tab, "#decided-"+third.ID); !strings.Contains(msg, "Bob Durand") || !strings.Contains(msg, "rejected") {
		t.Errorf("the card bob decided shows %q, want his rejection", msg)
	}
	shot(t, tab, dir, "already-decided")
	if c := e.card(third.ID); c.Status != "rejected" || c.DecidedBy == nil || *c.DecidedBy != "Bob Durand" {
		t.Errorf("bob's decision was overwritten: %+v", c)
	}

	// The history, filtered by rep.
	if err := chromedp.Do(tab,
		chromedp.Navigate(e.base+"/rep/decisions"),
		chromedp.WaitVisible(chromedp.CSS("#decision-"+third.ID)),
	); err != nil {
		t.Fatalf("history: %v", err)
	}
	if who, why := textOf(t, tab, "#decision-"+third.ID+" .who"), textOf(t, tab, "#decision-"+third.ID+" .why"); who != "Bob Durand" || why != "stolen card report" {
		t.Errorf("history of %s: %q %q", third.ID, who, why)
	}
	shot(t, tab, dir, "decisions")
	if err := chromedp.Do(tab,
		chromedp.SetValue(chromedp.CSS("#filter-outcome"), "validated"),
		chromedp.Click(chromedp.CSS("#filter")),
		// Only the filtered page marks the option selected in its markup.
		chromedp.WaitReady(chromedp.CSS(`#filter-outcome option[value="validated"][selected]`)),
		chromedp.WaitVisible(chromedp.CSS("#decision-"+first.ID)),
	); err != nil {
		t.Fatalf("filter the history: %v", err)
	}
	if exists(t, tab, "#decision-"+third.ID) {
		t.Errorf("approvals only, yet bob's rejection is listed")
	}
	shot(t, tab, dir, "decisions-approved")
	if err := chromedp.Do(tab,
		chromedp.SetValue(chromedp.CSS("#filter-outcome"), ""),
		chromedp.SetValue(chromedp.CSS("#filter-rep"), bobRep.KeyID),
		chromedp.Click(chromedp.CSS("#filter")),
		chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#filter-rep option[value=%q][selected]`, bobRep.KeyID))),
		chromedp.WaitVisible(chromedp.CSS("#decision-"+third.ID)),
	); err != nil {
		t.Fatalf("filter the history by rep: %v", err)
	}
	if exists(t, tab, "#decision-"+first.ID) {
		t.Errorf("bob's decisions only, yet alice's approval is listed")
	}
	shot(t, tab, dir, "decisions-by-rep")

	// French, by the switch.
	if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/rep?lang=fr"), chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
		t.Fatal(err)
	}
	if h1 := textOf(t, tab, "h1"); h1 != "Cartes à valider" {
		t.Errorf("French queue's title: %q", h1)
	}
	shot(t, tab, dir, "queue-fr")

	// Alice is disabled: her next page sends her to sign in, her key is refused everywhere.
	if _, err := e.db.DisableRep(ctx, "Alice Martin"); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(tab, chromedp.Navigate(e.base+"/rep?lang=en"), chromedp.WaitVisible(chromedp.CSS("#key"))); err != nil {
		t.Fatalf("a disabled rep's page: %v", err)
	}
	if exists(t, tab, "#rep-name") {
		t.Errorf("a disabled rep is still signed in")
	}
	if status := e.api("GET", "/v1/rep/payment-methods", alice, nil, nil); status != http.StatusUnauthorized {
		t.Errorf("a disabled rep's key on the API: %d, want 401", status)
	}
	if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS("#key"), alice),
		chromedp.Click(chromedp.CSS("#sign-in")), chromedp.WaitVisible(chromedp.CSS("#error"))); err != nil {
		t.Fatalf("sign in with a disabled key: %v", err)
	}
	shot(t, tab, dir, "disabled-rep-refused")
}

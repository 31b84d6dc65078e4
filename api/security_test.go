package api_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
)

// The fakes below stand in for every service behind the router. Like Postgres, they cannot
// take a NUL or invalid UTF-8 (that is a 500), so a test seeing a 500 knows such a value got
// past the API. They find nothing else.

// pgText fails the way Postgres does on text it cannot store.
func pgText(values ...string) error {
	for _, v := range values {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			return errors.New(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)
		}
	}
	return nil
}

type strictBilling struct{}

func (strictBilling) Summary(_ context.Context, accountID string) (billing.Summary, error) {
	if err := pgText(accountID); err != nil {
		return billing.Summary{}, err
	}
	return billing.Summary{}, billing.NotFound("account")
}

func (strictBilling) Account(_ context.Context, accountID string) (billing.Account, error) {
	if err := pgText(accountID); err != nil {
		return billing.Account{}, err
	}
	return billing.Account{}, billing.NotFound("account")
}

func (strictBilling) SetMailLanguage(_ context.Context, accountID, lang string) (billing.Account, error) {
	if err := pgText(accountID, lang); err != nil {
		return billing.Account{}, err
	}
	if err := billing.ValidateMailLanguage(lang); err != nil {
		return billing.Account{}, err
	}
	return billing.Account{}, billing.NotFound("account")
}

func (strictBilling) Invoices(_ context.Context, accountID string, _ billing.InvoiceType, p billing.ListParams) ([]billing.Invoice, bool, error) {
	return nil, false, pgText(accountID, p.StartingAfter)
}

func (strictBilling) EachInvoiceBatch(_ context.Context, accountID string, _ billing.InvoiceType, _ billing.CreatedRange,
	_ func([]billing.Invoice) error) error {
	return pgText(accountID)
}

func (strictBilling) Invoice(_ context.Context, accountID, invoiceID string) (billing.Invoice, error) {
	if err := pgText(accountID, invoiceID); err != nil {
		return billing.Invoice{}, err
	}
	return billing.Invoice{}, billing.NotFound("invoice")
}

func (strictBilling) InvoiceItem(_ context.Context, accountID, invoiceID, itemID string) (billing.InvoiceItem, error) {
	if err := pgText(accountID, invoiceID, itemID); err != nil {
		return billing.InvoiceItem{}, err
	}
	return billing.InvoiceItem{}, billing.NotFound("invoice item")
}

func (strictBilling) InvoicePDF(_ context.Context, accountID, invoiceID, _ string) (billing.InvoicePDF, error) {
	if err := pgText(accountID, invoiceID); err != nil {
		return billing.InvoicePDF{}, err
	}
	return billing.InvoicePDF{}, billing.NotFound("invoice")
}

type strictCards struct{ added []portal.NewCard }

func (f *strictCards) Add(_ context.Context, accountID string, in portal.NewCard) (billing.PaymentMethod, bool, error) {
	texts := []string{accountID, in.IdempotencyKey, in.Card.HolderName, in.ContactEmail}
	for k, v := range in.Metadata {
		texts = append(texts, k, v)
	}
	if a := in.BillingAddress; a != nil {
		texts = append(texts, a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country)
	}
	if err := pgText(texts...); err != nil {
		return billing.PaymentMethod{}, false, err
	}
	f.added = append(f.added, in)
	return cardOnFile("pm_new", accountID, billing.PMPendingValidation), false, nil
}

func (f *strictCards) List(_ context.Context, accountID string, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return nil, false, pgText(accountID, p.StartingAfter)
}

func (f *strictCards) Get(_ context.Context, accountID, id string) (billing.PaymentMethod, error) {
	if err := pgText(accountID, id); err != nil {
		return billing.PaymentMethod{}, err
	}
	return billing.PaymentMethod{}, billing.NotFound("payment method")
}

func (f *strictCards) Pending(_ context.Context, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return nil, false, pgText(p.StartingAfter)
}

func (f *strictCards) Decide(_ context.Context, repKeyID, pmID string, d billing.Decision, reason, idempotencyKey string) (billing.PaymentMethod, bool, error) {
	if err := pgText(pmID, reason, idempotencyKey); err != nil {
		return billing.PaymentMethod{}, false, err
	}
	pm := cardOnFile(pmID, "acct_demo", billing.PMRejected)
	pm.DecidedAt, pm.DecisionReason = &cardNow, reason
	return pm, false, nil
}

type strictPayments struct {
	created []portal.NewPayment
	landed  *billing.Payment // what the return links answer for the order LANDED
}

func (f *strictPayments) Create(_ context.Context, accountID string, in portal.NewPayment) (billing.Payment, bool, error) {
	texts := []string{accountID, in.IdempotencyKey, in.ReturnURL}
	for k, v := range in.Metadata {
		texts = append(texts, k, v)
	}
	if in.Card != nil {
		texts = append(texts, in.Card.HolderName)
	}
	if a := in.BillingAddress; a != nil {
		texts = append(texts, a.Line1, a.Line2, a.City, a.State, a.PostalCode, a.Country)
	}
	if err := pgText(texts...); err != nil {
		return billing.Payment{}, false, err
	}
	f.created = append(f.created, in)
	return billing.Payment{ID: "pay_new", Status: billing.PaymentProcessing, Method: in.Method, Amount: in.Amount,
		ReturnURL: in.ReturnURL, CreatedAt: cardNow}, true, nil
}

func (f *strictPayments) List(_ context.Context, accountID string, p billing.ListParams) ([]billing.Payment, bool, error) {
	return nil, false, pgText(accountID, p.StartingAfter)
}

func (f *strictPayments) Get(_ context.Context, accountID, id string) (billing.Payment, error) {
	if err := pgText(accountID, id); err != nil {
		return billing.Payment{}, err
	}
	return billing.Payment{}, billing.NotFound("payment")
}

func (f *strictPayments) Cancel(_ context.Context, accountID, id, idempotencyKey string) (billing.Payment, bool, error) {
	if err := pgText(idempotencyKey); err != nil {
		return billing.Payment{}, false, err
	}
	p, err := f.Get(context.Background(), accountID, id)
	return p, false, err
}

// CardAuthenticationReturn knows no authorization.
func (f *strictPayments) CardAuthenticationReturn(_ context.Context, authorizationID string) (billing.Payment, bool, error) {
	if err := pgText(authorizationID); err != nil {
		return billing.Payment{}, false, err
	}
	return billing.Payment{}, false, billing.NotFound("payment")
}

// PayPalReturn knows two orders whose payments go back to returnURL: ORDER1, whose payment
// was waiting for the buyer, and ORDER2, whose payment had ended before the visit.
func (f *strictPayments) PayPalReturn(_ context.Context, orderID string, _ bool) (billing.Payment, bool, error) {
	if err := pgText(orderID); err != nil {
		return billing.Payment{}, false, err
	}
	switch {
	case orderID == "LANDED" && f.landed != nil:
		return *f.landed, false, nil
	case orderID == "ORDER1":
		return billing.Payment{ID: "pay_pp", Status: billing.PaymentProcessing, Method: billing.MethodPayPal,
			Amount: billing.Money{Amount: 2000, Currency: "USD"}, ReturnURL: "https://shop.example/back", CreatedAt: cardNow}, true, nil
	case orderID == "ORDER2":
		return billing.Payment{ID: "pay_pp2", Status: billing.PaymentSucceeded, Method: billing.MethodPayPal,
			Amount: billing.Money{Amount: 2000, Currency: "USD"}, ReturnURL: "https://shop.example/back", CreatedAt: cardNow}, false, nil
	}
	return billing.Payment{}, false, billing.NotFound("payment")
}

// PayPalOrderPayment knows ORDER1's payment, of Acme Corp's account acct_demo.
func (f *strictPayments) PayPalOrderPayment(_ context.Context, orderID string) (billing.Payment, billing.Account, error) {
	if err := pgText(orderID); err != nil {
		return billing.Payment{}, billing.Account{}, err
	}
	if orderID != "ORDER1" {
		return billing.Payment{}, billing.Account{}, billing.NotFound("payment")
	}
	return billing.Payment{ID: "pay_pp", AccountID: "acct_demo", Status: billing.PaymentRequiresAction, Method: billing.MethodPayPal,
			Amount: billing.Money{Amount: 2000, Currency: "USD"}, CreatedAt: cardNow},
		billing.Account{ID: "acct_demo", CompanyName: "Acme <Corp>", Currency: "USD"}, nil
}

// strictCheckout is the sandbox's order store with one open order, ORDER1.
type strictCheckout struct{ description string }

func (f *strictCheckout) Order(_ context.Context, orderID string) (sandbox.PayPalOrder, error) {
	if err := pgText(orderID); err != nil {
		return sandbox.PayPalOrder{}, err
	}
	if orderID != "ORDER1" {
		return sandbox.PayPalOrder{}, fmt.Errorf("order %s: %w", orderID, gateway.ErrNotFound)
	}
	return sandbox.PayPalOrder{ID: orderID, Status: sandbox.OrderCreated, Description: f.description,
		Amount: billing.Money{Amount: 2000, Currency: "USD"}}, nil
}

func (f *strictCheckout) Approve(ctx context.Context, orderID string) error {
	_, err := f.Order(ctx, orderID)
	return err
}

func (f *strictCheckout) Cancel(ctx context.Context, orderID string) error {
	_, err := f.Order(ctx, orderID)
	return err
}

type securityServer struct {
	base     string
	cards    *strictCards
	payments *strictPayments
	checkout *strictCheckout
	registry *prometheus.Registry
}

func startSecurityServer(t *testing.T, limits api.RateLimits, edits ...func(*api.Server)) *securityServer {
	t.Helper()
	s := &securityServer{cards: &strictCards{}, payments: &strictPayments{}, checkout: &strictCheckout{description: "PayPortal payment pay_pp"},
		registry: prometheus.NewRegistry()}
	srv := &api.Server{
		Auth: cardKeys{
			"cust": {KeyID: "key_cust", AccountID: "acct_demo"},
			"rep":  {KeyID: "key_rep", Rep: true},
		},
		Billing:  strictBilling{},
		Cards:    s.cards,
		Payments: s.payments,
		PDFs:     strictBilling{},
		Checkout: s.checkout,
		Limits:   limits,
		Registry: s.registry,
		Clock:    &billing.FixedClock{T: cardNow},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		// As in development without PAYPORTAL_RETURN_URL_HOSTS: any host.
		ReturnURLHosts: api.ReturnURLHosts{AnyWhenEmpty: true},
	}
	for _, edit := range edits {
		edit(srv)
	}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	s.base = ts.URL
	return s
}

type secRequest struct {
	method, path, key, body string
	header                  map[string]string
}

func (s *securityServer) do(t *testing.T, r secRequest) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	req, err := http.NewRequest(r.method, s.base+r.path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.key != "" {
		req.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// TestOddPathAndQueryValuesAreClientErrors sends a NUL, invalid UTF-8 and other odd bytes in
// every ID in a path, in starting_after and in the PayPal token: each is a 404 or a 422 in
// the contract's shape, never a 500 from the database.
func TestOddPathAndQueryValuesAreClientErrors(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	acct := "/v1/accounts/acct_demo"
	for _, odd := range []string{"%00", "inv_%00", "%FF", "pay_%C3%28", "pm_%E2%80%AE", "x%0D%0Ay", strings.Repeat("a", 300)} {
		notFound := []secRequest{
			{path: acct + "/invoices/" + odd, key: "cust"},
			{path: acct + "/invoices/" + odd, key: "rep"},
			{path: acct + "/invoices/inv_1/items/" + odd, key: "cust"},
			{path: acct + "/invoices/" + odd + "/items/ii_1", key: "cust"},
			{path: acct + "/invoices/" + odd + "/pdf", key: "cust"},
			{path: acct + "/payment-methods/" + odd, key: "cust"},
			{path: acct + "/payments/" + odd, key: "cust"},
			{method: "POST", path: acct + "/payments/" + odd + "/cancel", key: "cust"},
			{path: "/v1/accounts/" + odd + "/billing-summary", key: "rep"},
			{path: "/v1/accounts/" + odd + "/invoices", key: "rep"},
			{method: "POST", path: "/v1/rep/payment-methods/" + odd + "/decision", key: "rep", body: `{"decision":"approve"}`},
		}
		for _, r := range notFound {
			resp, raw := s.do(t, r)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(raw, `"type":"not_found"`) {
				t.Errorf("%s %s (%s): %d %s, want 404 not_found", r.method, r.path, r.key, resp.StatusCode, raw)
			}
		}
		invalid := []secRequest{
			{path: acct + "/invoices?starting_after=" + odd, key: "cust"},
			{path: acct + "/payment-methods?starting_after=" + odd, key: "cust"},
			{path: acct + "/payments?starting_after=" + odd, key: "cust"},
			{path: "/v1/rep/payment-methods?starting_after=" + odd, key: "rep"},
			{path: "/v1/paypal/return?token=" + odd},
			{path: "/v1/paypal/cancel?token=" + odd},
			{path: "/sandbox/paypal/checkout?token=" + odd},
			{method: "POST", path: "/sandbox/paypal/checkout/approve?token=" + odd},
		}
		for _, r := range invalid {
			resp, raw := s.do(t, r)
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"type":"invalid_request"`) {
				t.Errorf("%s %s: %d %s, want 422 invalid_request", r.method, r.path, resp.StatusCode, raw)
			}
		}
	}
}

// TestControlCharactersInTextFieldsAre422 puts a NUL (which Postgres cannot store) and other
// control characters in every free-text field: each is a 422 naming the field, never a 500,
// and never reaches a service (a rep's reason with a NUL used to wedge the card's workflow).
func TestControlCharactersInTextFieldsAre422(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	card := `{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":%s}`
	addr := func(field, value string) string {
		a := map[string]string{"line1": `"1 Main St"`, "city": `"Springfield"`, "postal_code": `"12345"`, "country": `"US"`}
		a[field] = value
		return fmt.Sprintf(`{"line1":%s,"line2":%s,"city":%s,"state":%s,"postal_code":%s,"country":%s}`,
			a["line1"], or(a["line2"], `""`), a["city"], or(a["state"], `""`), a["postal_code"], a["country"])
	}
	for _, bad := range []string{`"Ada\u0000Lovelace"`, `"Ada\u0007"`, `"Ada\u001b[31m"`, `"Ada\u0085Lovelace"`} {
		for _, tc := range []struct {
			name, path, body, param string
		}{
			{"card holder", "/payment-methods", `{"card":` + fmt.Sprintf(card, bad) + `,"use_company_info":true,"contact_email":"a@b.example"}`, "card.holder_name"},
			{"payment card holder", "/payments", `{"amount":100,"currency":"USD","method":"card","card":` + fmt.Sprintf(card, bad) + `,"use_company_info":true}`, "card.holder_name"},
		} {
			resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo" + tc.path, key: "cust", body: tc.body,
				header: map[string]string{"Idempotency-Key": "k1"}})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"param":"`+tc.param+`"`) {
				t.Errorf("%s %s: %d %s, want 422 on %s", tc.name, bad, resp.StatusCode, raw, tc.param)
			}
		}
		for _, field := range []string{"line1", "line2", "city", "state", "postal_code"} {
			for _, route := range []struct{ path, body string }{
				{"/payment-methods", `{"card":` + fmt.Sprintf(card, `"Ada"`) + `,"billing_address":` + addr(field, bad) + `,"contact_email":"a@b.example"}`},
				{"/payments", `{"amount":100,"currency":"USD","method":"card","card":` + fmt.Sprintf(card, `"Ada"`) + `,"billing_address":` + addr(field, bad) + `}`},
			} {
				resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo" + route.path, key: "cust", body: route.body,
					header: map[string]string{"Idempotency-Key": "k1"}})
				if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"param":"billing_address.`+field+`"`) {
					t.Errorf("%s billing_address.%s %s: %d %s, want 422 on billing_address.%s", route.path, field, bad, resp.StatusCode, raw, field)
				}
			}
		}
		if bad == `"Ada\u0085Lovelace"` {
			continue // NEL is whitespace too: a reason folds it into a space, as it does line breaks
		}
		resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/rep/payment-methods/pm_1/decision", key: "rep",
			body: `{"decision":"reject","reason":` + bad + `}`})
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"param":"reason"`) {
			t.Errorf("reason %s: %d %s, want 422 on reason", bad, resp.StatusCode, raw)
		}
	}
	if len(s.cards.added) != 0 || len(s.payments.created) != 0 {
		t.Errorf("control characters reached the services: %d cards, %d payments", len(s.cards.added), len(s.payments.created))
	}
	// Line breaks in a reason are only whitespace, folded into spaces as before.
	resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/rep/payment-methods/pm_1/decision", key: "rep",
		body: `{"decision":"reject","reason":"called\r\n\tthe bank"}`})
	if resp.StatusCode != http.StatusOK || !strings.Contains(raw, `"decision_reason":"called the bank"`) {
		t.Errorf("multi-line reason: %d %s, want 200 with the reason on one line", resp.StatusCode, raw)
	}
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// TestPaymentHolderNameIsBoundedLikeACardOnFile: a one-time card payment limits the holder's
// name as adding a card does.
func TestPaymentHolderNameIsBoundedLikeACardOnFile(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	body := `{"amount":100,"currency":"USD","method":"card","use_company_info":true,"card":{"number":"4242424242424242",` +
		`"exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"` + strings.Repeat("a", 201) + `"}}`
	resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust", body: body,
		header: map[string]string{"Idempotency-Key": "k1"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"param":"card.holder_name"`) {
		t.Errorf("201-character holder name: %d %s, want 422 on card.holder_name", resp.StatusCode, raw)
	}
}

// TestReturnURLMustBeAPlainAbsoluteHTTPURL: /v1/paypal/return redirects to return_url, so only
// an absolute http(s) URL without user info or blanks is accepted (no javascript:, no
// scheme-relative //host, no "https://bank.example@evil.example").
func TestReturnURLMustBeAPlainAbsoluteHTTPURL(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	pay := func(returnURL string) (*http.Response, string) {
		return s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust",
			body:   fmt.Sprintf(`{"amount":100,"currency":"USD","method":"paypal","return_url":%q}`, returnURL),
			header: map[string]string{"Idempotency-Key": fmt.Sprintf("k-%x", sha256.Sum256([]byte(returnURL)))}})
	}
	for _, bad := range []string{
		"javascript:alert(1)", "//evil.example/x", "/relative", "ftp://shop.example/", "https:///evil.example",
		"https://shop.example@evil.example/", "https://user:pw@shop.example/", "https://shop.example/a b",
		"https://shop.example/\u00a0x", "https:\\\\evil.example", "https://shop.example/" + strings.Repeat("a", 2048), "https://",
	} {
		if resp, raw := pay(bad); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(raw, `"param":"return_url"`) {
			t.Errorf("return_url %q: %d %s, want 422 on return_url", bad, resp.StatusCode, raw)
		}
	}
	for _, good := range []string{"https://shop.example/back?order=7#done", "http://127.0.0.1:3000/paid", " https://shop.example/x "} {
		if resp, raw := pay(good); resp.StatusCode != http.StatusAccepted {
			t.Errorf("return_url %q: %d %s, want 202", good, resp.StatusCode, raw)
		}
	}
}

// TestErrorsNeverRepeatACardNumber: an unknown field is named in the answer, but a "field"
// that is not a field name (a card number pasted as a key, say) is not repeated.
func TestErrorsNeverRepeatACardNumber(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for _, body := range []string{
		`{"4242424242424242":"123"}`,
		`{"card":{"number":"4242424242424242","4242 4242 4242 4242":1}}`,
		`{"card":{"number":"4242424242424242","cvc":"123" x}}`,
		`{"card":{"number":4242424242424242}}`,
		`{"card":{"number":"4242424242424242","exp_month":"4242424242424242"}}`,
	} {
		resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payment-methods", key: "cust", body: body})
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(raw, "4242") {
			t.Errorf("%s: %d %s, want a 400 that does not repeat the number", body, resp.StatusCode, raw)
		}
	}
	resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payment-methods", key: "cust", body: `{"cardd":{}}`})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, `"param":"cardd"`) {
		t.Errorf("a misspelt field: %d %s, want 400 naming cardd", resp.StatusCode, raw)
	}
}

// TestAmbiguousJSONIsRefused: a key given twice (also in another case, which encoding/json
// matches to the same field) would let the last value win silently, so a proxy or log
// reading the first sees another request than the one served; a body that is not UTF-8 would
// be silently altered.
func TestAmbiguousJSONIsRefused(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for _, body := range []string{
		`{"amount":1,"amount":100000,"currency":"USD","method":"paypal"}`,
		`{"amount":100,"currency":"USD","method":"paypal","Amount":100000}`,
		`{"amount":100,"currency":"USD","method":"card","use_company_info":true,"card":{"number":"4000000000000002","number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"Ada"}}`,
		"{\"amount\":100,\"currency\":\"USD\",\"method\":\"paypal\",\"return_url\":\"https://shop.example/\xff\"}",
	} {
		resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust", body: body,
			header: map[string]string{"Idempotency-Key": fmt.Sprintf("k-%x", sha256.Sum256([]byte(body)))}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, `"code":"malformed_json"`) {
			t.Errorf("%q: %d %s, want 400 malformed_json", body, resp.StatusCode, raw)
		}
	}
	if len(s.payments.created) != 0 {
		t.Errorf("ambiguous bodies reached the payment service %d times", len(s.payments.created))
	}
	// The same key in different objects is fine.
	resp, raw := s.do(t, secRequest{method: "POST", path: "/v1/accounts/acct_demo/payments", key: "cust",
		body: `{"amount":100,"currency":"USD","method":"card","card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"Ada"},` +
			`"billing_address":{"line1":"1 Main St","city":"Springfield","postal_code":"12345","country":"US"}}`,
		header: map[string]string{"Idempotency-Key": "k-ok"}})
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("a plain card payment: %d %s", resp.StatusCode, raw)
	}
}

// TestUnauthenticatedLimitsCannotBeDodged: the per-address limit keys on the connection's
// address, not on an X-Forwarded-For anyone can send, and unknown API keys count against it,
// so keys cannot be guessed at full speed.
func TestUnauthenticatedLimitsCannotBeDodged(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 0.001, Burst: 3})
	limited := 0
	for i := range 6 {
		resp, _ := s.do(t, secRequest{path: "/v1/paypal/return?token=NOPE" + fmt.Sprint(i),
			header: map[string]string{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i), "X-Real-IP": fmt.Sprintf("10.0.1.%d", i)}})
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 3 {
		t.Errorf("%d of 6 PayPal returns from one address with varying X-Forwarded-For were limited, want 3", limited)
	}

	s = startSecurityServer(t, api.RateLimits{PerSecond: 0.001, Burst: 3})
	var statuses []int
	for i := range 6 {
		resp, raw := s.do(t, secRequest{path: "/v1/accounts/acct_demo/billing-summary", key: fmt.Sprintf("guess%d", i)})
		statuses = append(statuses, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests && (!strings.Contains(raw, `"type":"rate_limited"`) || resp.Header.Get("Retry-After") == "") {
			t.Errorf("429 without the contract's shape or Retry-After: %s", raw)
		}
	}
	if fmt.Sprint(statuses) != "[401 401 401 429 429 429]" {
		t.Errorf("6 unknown keys from one address answered %v, want 3 × 401 then 429", statuses)
	}
	// Until the address's budget refills nothing is looked up from it, so a guess that
	// happened to be right would not be told either.
	if resp, raw := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", key: "cust"}); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a valid key from the guessing address: %d %s, want 429", resp.StatusCode, raw)
	}
	// Valid keys do not spend the address's budget: only failures do.
	s = startSecurityServer(t, api.RateLimits{PerSecond: 0.001, Burst: 3})
	for i := range 6 {
		if resp, raw := s.do(t, secRequest{path: "/v1/accounts/acct_demo/payments", key: []string{"cust", "rep"}[i%2]}); resp.StatusCode != http.StatusOK {
			t.Fatalf("valid key, call %d: %d %s", i+1, resp.StatusCode, raw)
		}
	}
}

// TestMetricsLabelsStayBounded: a client inventing HTTP methods must not add a time series
// per method to /metrics.
func TestMetricsLabelsStayBounded(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for i := range 20 {
		s.do(t, secRequest{method: fmt.Sprintf("X%d", i), path: "/healthz"})
	}
	families, err := s.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "method" {
					methods[l.GetValue()] = true
				}
			}
		}
	}
	if len(methods) > 2 {
		t.Errorf("20 invented methods gave the method label %d values: %v", len(methods), methods)
	}
}

// TestSecurityHeaders: API answers are never sniffed or cached; the sandbox's HTML page runs
// no script, cannot be framed and leaks its token to nobody.
func TestSecurityHeaders(t *testing.T) {
	s := startSecurityServer(t, api.RateLimits{PerSecond: 1e6, Burst: 1e6})
	for _, r := range []secRequest{
		{path: "/v1/accounts/acct_demo/payments", key: "cust"},
		{path: "/v1/accounts/acct_demo/invoices/inv_nope", key: "cust"},
		{path: "/v1/accounts/acct_demo/billing-summary"},
		{path: "/v1/paypal/return?token=ORDER1"},
		{path: "/healthz"},
	} {
		resp, raw := s.do(t, r)
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%d %s): X-Content-Type-Options %q, Cache-Control %q; want nosniff, no-store", r.path, resp.StatusCode, raw,
				resp.Header.Get("X-Content-Type-Options"), resp.Header.Get("Cache-Control"))
		}
	}
	resp, _ := s.do(t, secRequest{path: "/v1/paypal/return?token=ORDER1"})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://shop.example/back" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("PayPal return: %d to %q, Referrer-Policy %q; want 302 to the return_url with no-referrer",
			resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Referrer-Policy"))
	}

	s.checkout.description = `<script>alert("x")</script><img src=x onerror=alert(1)>`
	resp, page := s.do(t, secRequest{path: "/sandbox/paypal/checkout?token=ORDER1"})
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "<script>") || strings.Contains(page, "<img") {
		t.Errorf("checkout page: %d, not escaped:\n%s", resp.StatusCode, page)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("checkout page CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || resp.Header.Get("X-Frame-Options") != "DENY" ||
		resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("checkout page headers: %v", resp.Header)
	}
	// The page still renders its amount and both buttons under that policy.
	for _, want := range []string{"$20.00", `id="approve"`, `id="cancel"`, `action="/sandbox/paypal/checkout/approve?token=ORDER1"`} {
		if !strings.Contains(page, want) {
			t.Errorf("checkout page lacks %q", want)
		}
	}
	resp, _ = s.do(t, secRequest{method: "POST", path: "/sandbox/paypal/checkout/approve?token=ORDER1"})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/v1/paypal/return?token=ORDER1" {
		t.Errorf("approve: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

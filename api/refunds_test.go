package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/openapitest"
	"github.com/payportal/payportal/internal/portal"
	"github.com/payportal/payportal/internal/testenv"
)

// fakeRefunds records what the rep routes ask of the refund service.
type fakeRefunds struct {
	mu      sync.Mutex
	refunds []portal.NewRefund
	credits []portal.NewCredit
}

func (f *fakeRefunds) Refund(_ context.Context, in portal.NewRefund) (billing.Refund, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refunds = append(f.refunds, in)
	return billing.Refund{ID: "rf_1", PaymentID: in.PaymentID, AccountID: "acct_demo", Status: billing.RefundPending,
		Amount: billing.Money{Amount: in.Amount, Currency: "USD"}, Reason: in.Reason, CreatedByName: "Demo Rep",
		WorkflowID: "refund/rf_1", CreatedAt: cardNow}, len(f.refunds) > 1, nil
}

func (f *fakeRefunds) Get(_ context.Context, id string) (billing.Refund, error) {
	return billing.Refund{}, billing.NotFound("refund")
}

func (f *fakeRefunds) PaymentRefunds(context.Context, string) ([]billing.Refund, error) {
	return nil, nil
}

func (f *fakeRefunds) Credit(_ context.Context, in portal.NewCredit) (billing.Credit, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.credits = append(f.credits, in)
	return billing.Credit{ID: "cr_1", AccountID: in.AccountID, Status: billing.CreditIssued, Amount: in.Amount, Reason: in.Reason,
		CreatedByName: "Demo Rep", InvoiceID: "inv_1", WorkflowID: "credit/cr_1", CreatedAt: cardNow, IssuedAt: &cardNow}, false, nil
}

func (f *fakeRefunds) GetCredit(context.Context, string) (billing.Credit, error) {
	return billing.Credit{}, billing.NotFound("credit")
}

func (f *fakeRefunds) AccountCredits(context.Context, string) ([]billing.Credit, error) {
	return nil, nil
}

func TestRepRefundAndCreditRoutes(t *testing.T) {
	refunds := &fakeRefunds{}
	srv := &api.Server{
		Auth:    cardKeys{"cust": {KeyID: "key_cust", AccountID: "acct_demo"}, "rep": {KeyID: "key_rep", Rep: true}},
		Refunds: refunds,
		Clock:   &billing.FixedClock{T: cardNow},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	ts := httptest.NewServer(openapitest.Handler(t, srv.Handler()))
	t.Cleanup(ts.Close)
	refundPath, creditPath := "/v1/rep/payments/pay_1/refunds", "/v1/rep/accounts/acct_demo/credits"
	key := map[string]string{"Idempotency-Key": "k1"}
	for _, tc := range []struct {
		name, method, path, apiKey, body string
		header                           map[string]string
		status                           int
		code                             string
	}{
		{"no key", "POST", refundPath, "", `{"amount":100,"reason":"x"}`, key, 401, "missing_api_key"},
		{"customer key", "POST", refundPath, "cust", `{"amount":100,"reason":"x"}`, key, 403, "rep_only"},
		{"customer key reading", "GET", "/v1/rep/refunds/rf_1", "cust", "", nil, 403, "rep_only"},
		{"customer key on credits", "POST", creditPath, "cust", `{"amount":100,"currency":"USD","reason":"x"}`, key, 403, "rep_only"},
		{"no idempotency key", "POST", refundPath, "rep", `{"amount":100,"reason":"x"}`, nil, 400, "idempotency_key_required"},
		{"no amount", "POST", refundPath, "rep", `{"reason":"x"}`, key, 422, "missing_field"},
		{"unknown field", "POST", refundPath, "rep", `{"amount":1,"reason":"x","to":"me"}`, key, 400, "unknown_field"},
		{"not a payment id", "POST", "/v1/rep/payments/inv_1/refunds", "rep", `{"amount":1,"reason":"x"}`, key, 404, "resource_missing"},
		{"unknown refund", "GET", "/v1/rep/refunds/rf_nope", "rep", "", nil, 404, "resource_missing"},
		{"not a credit id", "GET", "/v1/rep/credits/pay_1", "rep", "", nil, 404, "resource_missing"},
		{"credit without currency", "POST", creditPath, "rep", `{"amount":100,"reason":"x"}`, key, 422, "missing_field"},
		{"credit in no currency", "POST", creditPath, "rep", `{"amount":100,"currency":"dollars","reason":"x"}`, key, 422, "invalid_value"},
	} {
		resp, raw := testenv.Do(t, ts.URL, testenv.Request{Method: tc.method, Path: tc.path, Key: tc.apiKey, Body: orNil(tc.body), Header: tc.header})
		var out struct{ Error struct{ Code string } }
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode != tc.status || out.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, resp.StatusCode, raw, tc.status, tc.code)
		}
	}
	if len(refunds.refunds) != 0 || len(refunds.credits) != 0 {
		t.Fatalf("refused requests reached the service: %+v %+v", refunds.refunds, refunds.credits)
	}

	resp, raw := testenv.Do(t, ts.URL, testenv.Request{Method: "POST", Path: refundPath, Key: "rep", Body: `{"amount":1250,"reason":"duplicate"}`, Header: key})
	if resp.StatusCode != 202 || !strings.Contains(string(raw), `"created_by":"Demo Rep"`) {
		t.Fatalf("refund: %d %s", resp.StatusCode, raw)
	}
	if got := refunds.refunds[0]; got != (portal.NewRefund{PaymentID: "pay_1", Amount: 1250, Reason: "duplicate", RepKeyID: "key_rep", IdempotencyKey: "k1"}) {
		t.Fatalf("service got %+v", got)
	}
	resp, _ = testenv.Do(t, ts.URL, testenv.Request{Method: "POST", Path: refundPath, Key: "rep", Body: `{"amount":1250,"reason":"duplicate"}`, Header: key})
	if resp.StatusCode != 202 || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v", resp.StatusCode, resp.Header)
	}
	resp, raw = testenv.Do(t, ts.URL, testenv.Request{Method: "POST", Path: creditPath, Key: "rep", Body: `{"amount":900,"currency":"USD","reason":"outage"}`, Header: key})
	if resp.StatusCode != 202 || !strings.Contains(string(raw), `"status":"issued"`) {
		t.Fatalf("credit: %d %s", resp.StatusCode, raw)
	}
}

func orNil(body string) any {
	if body == "" {
		return nil
	}
	return body
}

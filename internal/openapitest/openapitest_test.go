package openapitest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/openapitest"
)

// reports collects what the validator reports instead of failing the test.
type reports struct{ errs []string }

func (r *reports) Helper() {}
func (r *reports) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

const (
	paymentPath  = "/v1/accounts/acct_demo/payments/pay_1"
	validPayment = `{"id":"pay_1","status":"succeeded","method":"card","amount":5000,"currency":"USD",
		"card":{"brand":"visa","last4":"4242"},"approval_url":null,"return_url":null,"failure":null,
		"refund_id":null,"created_at":"2026-01-02T03:04:05Z","completed_at":"2026-01-02T03:04:06Z",
		"workflow_id":"payment-pay_1","invoice_id":null,"metadata":{}}`
	errorJSON = `{"error":{"type":"not_found","code":"not_found","message":"no such payment"}}`
)

// answer is a fake router answering every request with status, content type and body.
func answer(status int, contentType, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
}

func TestHandlerReportsWhatBreaksTheContract(t *testing.T) {
	cases := []struct {
		name              string
		method, path      string
		status            int
		contentType, body string
		wantReport        string // "" when the answer keeps the contract
	}{
		{"documented payment", "GET", paymentPath, 200, "application/json; charset=utf-8", validPayment, ""},
		{"documented error", "GET", paymentPath, 404, "application/json; charset=utf-8", errorJSON, ""},
		{"undocumented status", "GET", paymentPath, http.StatusTeapot, "application/json", errorJSON, "does not document status 418"},
		{"body off its schema", "GET", paymentPath, 200, "application/json", `{"id":"pay_1"}`, `status`}, // the missing property, however the validator words it
		{"timestamp not RFC 3339", "GET", paymentPath, 200, "application/json",
			strings.Replace(validPayment, "2026-01-02T03:04:05Z", "02/01/2026", 1), "created_at"},
		{"error off its schema", "GET", paymentPath, 404, "application/json", `{"message":"gone"}`, "missing property 'error'"},
		{"wrong content type", "GET", paymentPath, 200, "text/plain", "ok", `content type "text/plain"`},
		{"PDF checked for its type only", "GET", "/v1/accounts/acct_demo/invoices/inv_1/pdf", 200, "application/pdf", "%PDF-1.3", ""},
		{"PDF as another type", "GET", "/v1/accounts/acct_demo/invoices/inv_1/pdf", 200, "text/html", "<p>", `content type "text/html"`},
		{"documented redirect", "GET", "/v1/paypal/return?token=ORDER1", 302, "", "", ""},
		{"304 where none is documented", "GET", paymentPath, 304, "", "", "does not document status 304"},
		{"unknown path answered 404", "GET", "/v2/nothing", 404, "application/json", errorJSON, ""},
		{"unknown path answered 200", "GET", "/v2/nothing", 200, "application/json", validPayment, "should be 404"},
		{"unknown method answered 405", "DELETE", paymentPath, 405, "application/json",
			`{"error":{"type":"invalid_request","code":"method_not_allowed","message":"DELETE is not allowed here"}}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r reports
			ts := httptest.NewServer(openapitest.Handler(&r, answer(tc.status, tc.contentType, tc.body)))
			defer ts.Close()
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("the wrapped handler's status %d did not reach the client (got %d)", tc.status, resp.StatusCode)
			}
			switch {
			case tc.wantReport == "" && len(r.errs) > 0:
				t.Errorf("reported a valid answer: %v", r.errs)
			case tc.wantReport != "" && len(r.errs) == 0:
				t.Errorf("did not report the answer (want a report naming %q)", tc.wantReport)
			case tc.wantReport != "" && !strings.Contains(strings.Join(r.errs, "\n"), tc.wantReport):
				t.Errorf("report %v does not name %q", r.errs, tc.wantReport)
			}
		})
	}
}

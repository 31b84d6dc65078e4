package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// decodeTarget stands in for a request body with nested and typed fields.
type decodeTarget struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
	Inner struct {
		Flag bool `json:"flag"`
	} `json:"inner"`
}

// decodeBody runs decodeJSON on body; chunked sends it without a Content-Length, as a client
// streaming a body would, so only the reader's limit can stop it.
func decodeBody(t *testing.T, body io.Reader, chunked bool) (decodeTarget, error) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/", body)
	if chunked {
		c.Request.ContentLength = -1
	}
	var v decodeTarget
	err := decodeJSON(c, &v)
	return v, err
}

func TestDecodeJSONNamesWhatIsWrong(t *testing.T) {
	cases := []struct {
		name        string
		body        string
		kind        billing.Kind
		code, param string
	}{
		{"empty body", ``, billing.KindMalformed, billing.CodeMalformedJSON, ""},
		{"truncated", `{"name": "x`, billing.KindMalformed, billing.CodeMalformedJSON, ""},
		{"not JSON", `name=x`, billing.KindMalformed, billing.CodeMalformedJSON, ""},
		{"trailing data", `{"name": "x"} {"name": "y"}`, billing.KindMalformed, billing.CodeMalformedJSON, ""},
		{"unknown field", `{"name": "x", "colour": "red"}`, billing.KindMalformed, billing.CodeUnknownField, "colour"},
		{"wrong type", `{"count": "3"}`, billing.KindMalformed, billing.CodeWrongType, "count"},
		{"wrong nested type", `{"inner": {"flag": "yes"}}`, billing.KindMalformed, billing.CodeWrongType, "inner.flag"},
		{"array instead of object", `[1, 2]`, billing.KindMalformed, billing.CodeWrongType, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeBody(t, strings.NewReader(tc.body), false)
			e := billing.ErrorOf(err)
			if e == nil {
				t.Fatalf("decodeJSON(%q) = %v, want a %s error", tc.body, err, tc.code)
			}
			if e.Kind != tc.kind || e.Code != tc.code || e.Param != tc.param || e.Message == "" {
				t.Errorf("decodeJSON(%q) = {%s %s %q %q}, want {%s %s %q}", tc.body, e.Kind, e.Code, e.Param, e.Message, tc.kind, tc.code, tc.param)
			}
		})
	}
}

func TestDecodeJSONAcceptsAWellFormedBody(t *testing.T) {
	v, err := decodeBody(t, strings.NewReader(`{"name": "Ada", "count": 3, "inner": {"flag": true}}`+"\n"), false)
	if err != nil || v.Name != "Ada" || v.Count != 3 || !v.Inner.Flag {
		t.Fatalf("decoded %+v, %v", v, err)
	}
}

func TestDecodeJSONRefusesBodiesOver64KiB(t *testing.T) {
	big := `{"name": "` + strings.Repeat("a", maxBodyBytes) + `"}`
	for _, chunked := range []bool{false, true} {
		_, err := decodeBody(t, strings.NewReader(big), chunked)
		if e := billing.ErrorOf(err); e == nil || e.Kind != billing.KindTooLarge || e.Code != billing.CodeBodyTooLarge {
			t.Errorf("chunked=%v: %d-byte body gave %v, want body_too_large", chunked, len(big), err)
		}
	}
	// Exactly at the limit is fine.
	fits := `{"name": "` + strings.Repeat("a", maxBodyBytes-len(`{"name": ""}`)) + `"}`
	if _, err := decodeBody(t, bytes.NewReader([]byte(fits)), true); err != nil {
		t.Errorf("%d-byte body: %v", len(fits), err)
	}
}

func TestEveryErrorKindMapsToTheContractStatus(t *testing.T) {
	cases := []struct {
		kind   billing.Kind
		status int
		typ    string
	}{
		{billing.KindMalformed, 400, "invalid_request"},
		{billing.KindInvalid, 422, "invalid_request"},
		{billing.KindUnauthenticated, 401, "authentication"},
		{billing.KindForbidden, 403, "authorization"},
		{billing.KindNotFound, 404, "not_found"},
		{billing.KindConflict, 409, "conflict"},
		{billing.KindTooLarge, 413, "invalid_request"},
		{billing.KindRateLimited, 429, "rate_limited"},
		{billing.KindUnavailable, 503, "internal"},
		{billing.KindInternal, 500, "internal"},
	}
	for _, tc := range cases {
		if status, typ := statusOf(tc.kind); status != tc.status || typ != tc.typ {
			t.Errorf("statusOf(%s) = %d %s, want %d %s", tc.kind, status, typ, tc.status, tc.typ)
		}
	}
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest(http.MethodGet, "/v1/accounts/acct_demo/invoices", nil)
	secret := "pq: password authentication failed for user payportal at 10.0.0.7"
	s.writeError(c, &wrapped{secret})

	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "10.0.0.7") || !strings.Contains(rec.Body.String(), `"code":"internal_error"`) {
		t.Errorf("answer %s leaks the internal error or lacks internal_error", rec.Body)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the internal error was not logged: %s", logs.String())
	}
}

type wrapped struct{ msg string }

func (w *wrapped) Error() string { return w.msg }

package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Request is one call a test makes to the API under test.
type Request struct {
	Method string // GET when empty
	Path   string // appended to the base URL, query included
	Key    string // API key, sent as Authorization: Bearer <Key> when set
	// Body is sent as is when it is []byte or string, as JSON otherwise; nil sends none. Any
	// body goes with Content-Type: application/json.
	Body   any
	Header map[string]string // set last, so it may override Authorization or Content-Type
}

// Do sends r to the server at base and answers the response with its body read. A request
// that cannot be sent or read fails the test.
func Do(t testing.TB, base string, r Request) (*http.Response, []byte) {
	t.Helper()
	if r.Method == "" {
		r.Method = http.MethodGet
	}
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = bytes.NewReader([]byte(b))
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode the body of %s %s: %v", r.Method, r.Path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(r.Method, base+r.Path, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", r.Method, r.Path, err)
	}
	if r.Key != "" {
		req.Header.Set("Authorization", "Bearer "+r.Key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer to %s %s: %v", r.Method, r.Path, err)
	}
	return resp, raw
}

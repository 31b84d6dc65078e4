package codec_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/payportal/payportal/internal/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

func startCodecServer(t *testing.T, c *codec.Codec, token string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/codec/", codec.Handler(c, codec.HandlerOptions{AllowedOrigins: []string{uiOrigin, "http://localhost:8233"}, Token: token}))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts.URL + "/codec"
}

func post(t *testing.T, url string, body []byte, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func encryptedPayloadsJSON(t *testing.T, c *codec.Codec, values ...any) []byte {
	t.Helper()
	ps, err := c.DataConverter().ToPayloads(values...)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := protojson.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestCodecServerDecodesForTheUI(t *testing.T) {
	c := codec.New(codec.DevelopmentKeyRing())
	base := startCodecServer(t, c, "")
	body := encryptedPayloadsJSON(t, c, map[string]string{"contact": secret})
	if strings.Contains(string(body), "ada@") {
		t.Fatal("the request already shows the secret")
	}

	resp, raw := post(t, base+"/decode", body, map[string]string{"Origin": uiOrigin, "X-Namespace": "default"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %d %s", resp.StatusCode, raw)
	}
	var got commonpb.Payloads
	if err := protojson.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("decode answer %s: %v", raw, err)
	}
	if len(got.Payloads) != 1 || string(got.Payloads[0].GetMetadata()["encoding"]) != "json/plain" ||
		!strings.Contains(string(got.Payloads[0].GetData()), "ada@example.com") {
		t.Errorf("decoded %s", raw)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("decode answer headers %v", resp.Header)
	}

	// Encode is the inverse: what the UI sends when ops start a workflow or signal by hand.
	plainJSON, _ := protojson.Marshal(&got)
	resp, raw = post(t, base+"/encode", plainJSON, nil)
	var enc commonpb.Payloads
	if resp.StatusCode != http.StatusOK || protojson.Unmarshal([]byte(raw), &enc) != nil ||
		string(enc.Payloads[0].GetMetadata()["encoding"]) != "binary/encrypted" {
		t.Errorf("encode: %d %s", resp.StatusCode, raw)
	}
}

func TestCodecServerCORS(t *testing.T) {
	base := startCodecServer(t, codec.New(codec.DevelopmentKeyRing()), "")
	req, _ := http.NewRequest(http.MethodOptions, base+"/decode", nil)
	req.Header.Set("Origin", "http://localhost:8233")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace,authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:8233" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"x-namespace", "authorization", "content-type"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
		}
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("Access-Control-Allow-Methods %q", resp.Header.Get("Access-Control-Allow-Methods"))
	}

	// Another site's page may not use the codec server to decrypt.
	resp, raw := post(t, base+"/decode", []byte(`{"payloads":[]}`), map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin: %d %s %v", resp.StatusCode, raw, resp.Header)
	}
	r, err := http.Get(base + "/decode")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /decode: %d", r.StatusCode)
	}
}

func TestCodecServerToken(t *testing.T) {
	c := codec.New(codec.DevelopmentKeyRing())
	base := startCodecServer(t, c, "s3cret-token")
	body := encryptedPayloadsJSON(t, c, "x")
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer wrong", http.StatusUnauthorized},
		{"Basic s3cret-token", http.StatusUnauthorized},
		{"Bearer s3cret-token", http.StatusOK},
		{"bearer s3cret-token", http.StatusOK},
	} {
		h := map[string]string{"Origin": uiOrigin}
		if tc.auth != "" {
			h["Authorization"] = tc.auth
		}
		resp, raw := post(t, base+"/decode", body, h)
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d %s, want %d", tc.auth, resp.StatusCode, raw, tc.want)
		}
		if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Errorf("a 401 without CORS headers: the UI cannot tell the user why")
		}
	}
	// The preflight carries no credentials and must pass.
	req, _ := http.NewRequest(http.MethodOptions, base+"/decode", nil)
	req.Header.Set("Origin", uiOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Errorf("preflight with a token set: %d", resp.StatusCode)
	}
}

package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/payportal/payportal/api"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/openapitest"
)

// openAPIServer mounts every route the binary can serve, the PayPal sandbox's checkout pages
// and the card sandbox's tokenization endpoint and 3-D Secure page included. Nothing is called while building the router, so no service is needed.
func openAPIServer() *api.Server {
	return &api.Server{
		Checkout:     sandbox.NewPayPal(nil, "http://127.0.0.1:8080"),
		SandboxCards: sandbox.NewCardProcessor(nil, nil),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func loadOpenAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.yaml is not YAML: %v", err)
	}
	return doc
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// ginPathParam matches :name and *name path segments.
var ginPathParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// TestOpenAPIDescribesExactlyTheRouter: every route the router serves is documented with its
// method, and every documented operation is served.
func TestOpenAPIDescribesExactlyTheRouter(t *testing.T) {
	engine, ok := openAPIServer().Handler().(*gin.Engine)
	if !ok {
		t.Fatal("Handler() is not a *gin.Engine")
	}
	routes := map[string]bool{}
	for _, r := range engine.Routes() {
		routes[r.Method+" "+ginPathParam.ReplaceAllString(r.Path, "{$1}")] = true
	}

	doc := loadOpenAPIDoc(t)
	paths, ok := doc["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml has no paths")
	}
	documented := map[string]bool{}
	operationIDs := map[string]string{}
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method, op := range ops {
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			id, _ := op.(map[string]any)["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", key)
			} else if prev, dup := operationIDs[id]; dup {
				t.Errorf("operationId %s names both %s and %s", id, prev, key)
			}
			operationIDs[id] = key
		}
	}

	for _, r := range sortedRouteKeys(routes) {
		if !documented[r] {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for _, op := range sortedRouteKeys(documented) {
		if !routes[op] {
			t.Errorf("openapi.yaml documents %s, which the router does not serve", op)
		}
	}
	for _, want := range []string{"GET /sandbox/paypal/checkout", "GET /v1/paypal/return", "GET /openapi.json"} {
		if !routes[want] {
			t.Errorf("the router lacks %s", want)
		}
	}
}

// TestOpenAPIReferencesResolve keeps the document usable by generators: every $ref points at
// a component that exists.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := loadOpenAPIDoc(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !refResolves(doc, ref) {
					t.Errorf("$ref %s resolves to nothing", ref)
				}
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
}

func refResolves(doc map[string]any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	var node any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := node.(map[string]any)
		if !ok {
			return false
		}
		if node, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestServedOpenAPIMatchesTheYAML: /openapi.json is valid JSON with the same content as the
// YAML source, and /openapi.yaml is the source itself.
func TestServedOpenAPIMatchesTheYAML(t *testing.T) {
	ts := httptest.NewServer(openapitest.Handler(t, openAPIServer().Handler()))
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var served any
	if err := json.NewDecoder(resp.Body).Decode(&served); err != nil {
		t.Fatalf("/openapi.json is not JSON: %v", err)
	}
	// The YAML as JSON sees it: through a JSON round trip, so numbers and maps compare alike.
	b, err := json.Marshal(loadOpenAPIDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(served, want) {
		t.Error("/openapi.json differs from openapi.yaml")
	}

	yresp, err := http.Get(ts.URL + "/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer yresp.Body.Close()
	got, _ := io.ReadAll(yresp.Body)
	source, _ := os.ReadFile("openapi.yaml")
	if yresp.StatusCode != http.StatusOK || string(got) != string(source) {
		t.Errorf("/openapi.yaml: status %d, %d bytes; want 200 and the %d-byte source", yresp.StatusCode, len(got), len(source))
	}
}

func sortedRouteKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

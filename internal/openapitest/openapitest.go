// Package openapitest holds tests to the contract: Handler wraps the API's router so that
// every answer a test gets is checked against api/openapi.yaml (the status is documented for
// the route, the content type is the documented one, a JSON body matches its schema).
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/payportal/payportal/api"
)

// Reporter is the part of testing.TB the validator needs.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// contract is the embedded document, loaded and routed once per test binary.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var loadContract = sync.OnceValues(func() (*contract, error) {
	raw, err := api.OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	// Tests serve on any host and port: match paths only, not the document's server URL.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.yaml: %w", err)
	}
	return &contract{doc: doc, router: router}, nil
})

// Handler serves next and reports through t.Errorf every answer that breaks the contract,
// naming the request, the status and what is wrong. An answer to a path or method the
// document does not describe must be the router's 404 or 405 in the error shape.
func Handler(t Reporter, next http.Handler) http.Handler {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Errorf("openapitest: %v", err)
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request as the handler received it: handlers may replace r.Body, never the URL.
		req := r.Clone(r.Context())
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if err := c.check(req, rec); err != nil {
			t.Errorf("openapitest: %s %s answered %d: %v", req.Method, req.URL.RequestURI(), rec.status(), err)
		}
	})
}

// check is Handler's verdict on one answer.
func (c *contract) check(req *http.Request, rec *recorder) error {
	status := rec.status()
	route, params, err := c.router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrPathNotFound):
		return c.checkUnrouted(rec, http.StatusNotFound)
	case errors.Is(err, routers.ErrMethodNotAllowed):
		return c.checkUnrouted(rec, http.StatusMethodNotAllowed)
	case err != nil:
		return fmt.Errorf("no route in openapi.yaml: %w", err)
	}
	where := req.Method + " " + route.Path
	doc := route.Operation.Responses.Status(status)
	if doc == nil || doc.Value == nil {
		return fmt.Errorf("%s does not document status %d", where, status)
	}
	ct := rec.Header().Get("Content-Type")
	media, _, _ := mime.ParseMediaType(ct)
	// With no body documented (302, 303, 304) only the headers are checked.
	if len(doc.Value.Content) > 0 && doc.Value.Content.Get(ct) == nil {
		return fmt.Errorf("%s %d: content type %q is not documented (want one of %v)", where, status, ct, slices.Sorted(maps.Keys(doc.Value.Content)))
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			// A PDF, a CSV or an HTML page is checked for its status, headers and type only.
			ExcludeResponseBody: !isJSON(media),
			// Formats (date-time, date, uri, email) are part of the contract too.
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.EnableFormatValidation()},
		},
	}
	input.Options.WithCustomSchemaErrorFunc(schemaError)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("%s %d: %w", where, status, err)
	}
	return nil
}

// checkUnrouted: what the router answers outside the document is its 404 or 405, as the
// contract's error JSON.
func (c *contract) checkUnrouted(rec *recorder, want int) error {
	if got := rec.status(); got != want {
		return fmt.Errorf("the path or method is not in openapi.yaml, so the answer should be %d, not %d", want, got)
	}
	media, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if !isJSON(media) {
		return fmt.Errorf("an error answer's content type is %q, not JSON", rec.Header().Get("Content-Type"))
	}
	var body any
	if err := json.Unmarshal(rec.body.Bytes(), &body); err != nil {
		return fmt.Errorf("the error answer is not JSON: %w", err)
	}
	schema := c.doc.Components.Schemas["Error"]
	if schema == nil || schema.Value == nil {
		return errors.New("openapi.yaml has no Error schema")
	}
	if err := schema.Value.VisitJSON(body, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors(), openapi3.SetSchemaErrorMessageCustomizer(schemaError)); err != nil {
		return fmt.Errorf("the error answer does not match the Error schema: %w", err)
	}
	return nil
}

// schemaError names where the body breaks its schema and why, without printing the schema
// (it is in openapi.yaml) or the value (the report names the request).
func schemaError(err *openapi3.SchemaError) string {
	if ptr := err.JSONPointer(); len(ptr) > 0 {
		return "at /" + strings.Join(ptr, "/") + ": " + err.Reason
	}
	return err.Reason
}

func isJSON(media string) bool {
	return media == "application/json" || strings.HasSuffix(media, "+json")
}

// recorder passes the answer on while keeping its status and a copy of its body.
type recorder struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK // nothing written: net/http answers 200
	}
	return r.code
}

// Flush keeps streaming answers streaming.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

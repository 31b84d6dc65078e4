package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// maxBodyBytes is the contract's request body limit.
const maxBodyBytes = 64 << 10

// decodeJSON reads the body strictly into v: malformed JSON, unknown fields, wrong types,
// trailing data, bytes that are not UTF-8 and a key given twice in one object are 400s naming
// what is wrong; a body over 64 KiB is a 413.
func decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return billing.Errorf(billing.KindTooLarge, billing.CodeBodyTooLarge, "request body exceeds %d bytes", maxBodyBytes)
	}
	if err != nil {
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "could not read the request body")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn such bytes into U+FFFD and store that.
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "unexpected data after the JSON object")
	}
	if key, dup := duplicateKey(body); dup {
		e := billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body gives %s more than once", fieldLabel(key))
		e.Param = fieldParam(key)
		return e
	}
	return nil
}

// duplicateKey finds a key given twice in one object of a well-formed body, comparing keys
// the way encoding/json matches them to fields (without regard to case). encoding/json lets
// the last one win, so a proxy, a log or a client check reading the first would see another
// request than the one served. The keys of the top-level "metadata" object are the
// customer's own, decoded into a map, where case matters: there only the same key twice is
// a duplicate.
func duplicateKey(body []byte) (string, bool) {
	type level struct {
		keys     map[string]bool // nil for an array
		expected bool            // the next token of this object is a key
		exact    bool            // keys compare as they are (metadata), not folded
		lastKey  string          // the key whose value comes next
	}
	var stack []*level
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false // io.EOF; the body was decoded once already, so nothing else
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.keys != nil && top.expected {
			folded := foldKey(key)
			if top.exact {
				folded = key
			}
			if top.keys[folded] {
				return key, true
			}
			top.keys[folded], top.expected, top.lastKey = true, false, key
			continue
		}
		if top != nil && top.keys != nil {
			top.expected = true // this token is a value (or the object's end)
		}
		switch tok {
		case json.Delim('{'):
			metadata := len(stack) == 1 && foldKey(top.lastKey) == foldKey("metadata")
			stack = append(stack, &level{keys: map[string]bool{}, expected: true, exact: metadata})
		case json.Delim('['):
			stack = append(stack, &level{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// foldKey maps keys encoding/json treats as the same field name to one string: each rune
// becomes the smallest of its simple case-folding orbit ("K", "k" and the Kelvin sign alike).
func foldKey(key string) string {
	return strings.Map(func(r rune) rune {
		for {
			next := unicode.SimpleFold(r)
			if next <= r {
				return next
			}
			r = next
		}
	}, key)
}

func decodeError(err error) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr):
		e := billing.Errorf(billing.KindMalformed, billing.CodeWrongType, "%s must be %s", fieldName(typeErr.Field), jsonKind(typeErr.Type.Kind().String()))
		e.Param = typeErr.Field
		return e
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body is not valid JSON")
	case errors.Is(err, io.EOF):
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body is empty; a JSON object is expected")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := billing.Errorf(billing.KindMalformed, billing.CodeUnknownField, "unknown %s", fieldLabel(field))
		e.Param = fieldParam(field)
		return e
	default:
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body is not valid JSON")
	}
}

// fieldParam is a key from the body as an error may name it: only a plausible field name is
// repeated, never arbitrary text such as a card number sent as a key ("x4242424242424242"
// included: no field name holds more than a few digits).
func fieldParam(key string) string {
	if key == "" || len(key) > 64 {
		return ""
	}
	digits := 0
	for i, r := range key {
		if r >= '0' && r <= '9' {
			digits++
		}
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || i > 0 && r >= '0' && r <= '9') || digits > 4 {
			return ""
		}
	}
	return key
}

// fieldLabel names a key in an error message, quoted when fieldParam may repeat it.
func fieldLabel(key string) string {
	if p := fieldParam(key); p != "" {
		return "field " + strconv.Quote(p)
	}
	return "key (not a field name; not repeated here)"
}

func fieldName(f string) string {
	if f == "" {
		return "the body"
	}
	return f
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	default:
		return "an object"
	}
}

// missing is a 422 for a required field left out.
func missing(param string) error {
	return billing.Invalid(billing.CodeMissingField, param, "%s is required", param)
}

package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
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
		return decodeError(err, body)
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

func decodeError(err error, body []byte) error {
	var (
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &typeErr) && isAmountField(typeErr):
		e := billing.Errorf(billing.KindMalformed, billing.CodeWrongType, "%s", amountTypeMessage(typeErr.Field, body))
		e.Param = typeErr.Field
		return e
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

// isAmountField reports whether the type error is about an amount of money in minor units
// (amount, unit_amount, ...): an integer field whose name ends in "amount".
func isAmountField(e *json.UnmarshalTypeError) bool {
	k := e.Type.Kind().String()
	return strings.HasSuffix(e.Field, "amount") && strings.HasPrefix(k, "int")
}

// amountTypeMessage teaches minor units: a newcomer who sent 50.00 and is told only "must be
// an integer" sends 50 and pays 0.50. The example converts what was sent when it is a plain
// decimal (12.5 USD is 1250), in the body's currency when that is a valid one (USD if not).
func amountTypeMessage(field string, body []byte) string {
	var top map[string]json.RawMessage
	_ = json.Unmarshal(body, &top) // the body is well-formed: decoding got as far as a type
	currency := "USD"
	var sent string
	if !strings.Contains(field, ".") {
		if raw, ok := lookupKey(top, "currency"); ok {
			var c string
			if json.Unmarshal(raw, &c) == nil && billing.ValidCurrency(c) {
				currency = c
			}
		}
		if raw, ok := lookupKey(top, field); ok {
			sent = strings.TrimSpace(string(raw))
			var str string
			if json.Unmarshal(raw, &str) == nil {
				sent = strings.TrimSpace(str)
			}
		}
	}
	if raw, _ := lookupKey(top, field); sent != "" && allDigits(strings.TrimPrefix(sent, "-")) && string(raw) == sent {
		return fmt.Sprintf("%s is out of range: an amount is at most %d minor units", field, int64(math.MaxInt64))
	}
	major, minor, ok := toMinorUnits(sent, currency)
	if !ok || !strings.Contains(sent, ".") {
		// Not a decimal (a string "5000", a boolean, too many decimals): the standard example.
		minor = 5000 * pow10(i18n.Exponent(currency)) / 100
		major = decimalAmount(minor, currency)
	}
	return fmt.Sprintf("%s must be an integer number of minor units: %s %s is %d", field, major, currency, minor)
}

// lookupKey finds key in a decoded object as encoding/json matches field names.
func lookupKey(obj map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if raw, ok := obj[key]; ok {
		return raw, true
	}
	for k, raw := range obj {
		if strings.EqualFold(k, key) {
			return raw, true
		}
	}
	return nil, false
}

// toMinorUnits converts a plain decimal ("12.5", "-0.05") to minor units of currency, exactly
// or not at all: more decimals than the currency has, an exponent, or overflow is !ok.
func toMinorUnits(s, currency string) (decimal string, minor int64, ok bool) {
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if whole == "" || len(whole) > 15 || !allDigits(whole) || !allDigits(frac) {
		return "", 0, false
	}
	exp := i18n.Exponent(currency)
	if trimmed := strings.TrimRight(frac, "0"); len(trimmed) > exp {
		return "", 0, false
	}
	if len(frac) < exp {
		frac += strings.Repeat("0", exp-len(frac))
	}
	n, err := strconv.ParseInt(whole+frac[:exp], 10, 64)
	if err != nil {
		return "", 0, false
	}
	if strings.HasPrefix(s, "-") {
		n = -n
	}
	return s, n, true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// badCurrency states the rule, not only an example; a code sent in lower case is named in the
// upper case it needs.
func badCurrency(sent string) error {
	msg := "currency must be three upper-case letters (ISO 4217), e.g. USD"
	if up := strings.ToUpper(sent); billing.ValidCurrency(up) {
		msg += fmt.Sprintf(": send %s, not %s", up, sent)
	}
	return billing.Invalid(billing.CodeInvalidValue, "currency", "%s", msg)
}

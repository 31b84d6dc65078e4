package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// maxBodyBytes is the contract's request body limit.
const maxBodyBytes = 64 << 10

// decodeJSON reads the body strictly into v: malformed JSON, unknown fields, wrong types and
// trailing data are 400s naming what is wrong; a body over 64 KiB is a 413.
func decodeJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return billing.Errorf(billing.KindTooLarge, billing.CodeBodyTooLarge, "request body exceeds %d bytes", maxBodyBytes)
	}
	if err != nil {
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "could not read the request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "unexpected data after the JSON object")
	}
	return nil
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
		e := billing.Errorf(billing.KindMalformed, billing.CodeUnknownField, "unknown field %q", field)
		e.Param = field
		return e
	default:
		return billing.Errorf(billing.KindMalformed, billing.CodeMalformedJSON, "the body is not valid JSON")
	}
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

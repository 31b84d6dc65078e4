package api

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// Metadata limits, as Stripe's: what a customer may attach to a payment or a card on file.
const (
	maxMetadataKeys     = 50
	maxMetadataKeyLen   = 40  // characters
	maxMetadataValueLen = 500 // characters
)

// requestMetadata is metadata as a body sends it: values of any JSON type, so that a value
// that is not a string is metadata's own 422 rather than a decoding error naming the key.
type requestMetadata map[string]any

// checkMetadata holds metadata to its limits and answers it as strings: at most 50 keys, each
// 1 to 40 characters without control characters, each value a string (nothing nested) of at
// most 500 characters without a NUL (which Postgres cannot store), and no card number in
// either. A key is named in the message only when it reads as a field name, so nothing the
// customer wrote that could be a secret is repeated.
func checkMetadata(raw requestMetadata) (map[string]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > maxMetadataKeys {
		return nil, invalidMetadata("metadata has %d keys; at most %d are allowed", len(raw), maxMetadataKeys)
	}
	m := make(map[string]string, len(raw))
	for k, value := range raw {
		v, isString := value.(string)
		switch {
		case !isString:
			return nil, invalidMetadata("the value of metadata %s must be a string: metadata holds no numbers, booleans, nulls, objects or arrays", metadataKeyLabel(k))
		case k == "":
			return nil, invalidMetadata("metadata keys must not be empty")
		case utf8.RuneCountInString(k) > maxMetadataKeyLen:
			return nil, invalidMetadata("metadata %s is longer than %d characters", metadataKeyLabel(k), maxMetadataKeyLen)
		case strings.IndexFunc(k, unicode.IsControl) >= 0:
			return nil, invalidMetadata("metadata keys must not contain control characters")
		case utf8.RuneCountInString(v) > maxMetadataValueLen:
			return nil, invalidMetadata("the value of metadata %s is longer than %d characters", metadataKeyLabel(k), maxMetadataValueLen)
		case strings.ContainsRune(v, 0):
			return nil, invalidMetadata("the value of metadata %s contains a NUL character", metadataKeyLabel(k))
		case gateway.ContainsCardNumber(k) || gateway.ContainsCardNumber(v):
			return nil, invalidMetadata("metadata must not hold a card number")
		}
		m[k] = v
	}
	return m, nil
}

func invalidMetadata(format string, args ...any) error {
	return billing.Invalid(billing.CodeInvalidMetadata, "metadata", format, args...)
}

// metadataKeyLabel names a key in an error message, quoted when it reads as a field name.
func metadataKeyLabel(key string) string {
	if p := fieldParam(key); p != "" {
		return "key \"" + p + "\""
	}
	return "key"
}

// metadataView is metadata as every answer shows it: an object, {} when there is none.
func metadataView(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

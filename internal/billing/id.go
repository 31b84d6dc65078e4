package billing

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// ID prefixes from the contract: every ID says what it names.
const (
	PrefixAccount       = "acct_"
	PrefixInvoice       = "inv_"
	PrefixInvoiceItem   = "ii_"
	PrefixItemDetail    = "iid_"
	PrefixPaymentMethod = "pm_"
	PrefixPayment       = "pay_"
	PrefixAPIKey        = "key_"
	PrefixEvent         = "evt_"
	PrefixWebhook       = "we_"
	PrefixRefund        = "rf_"
	PrefixCredit        = "cr_"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewID returns prefix followed by 80 random bits, lower-case base32.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return prefix + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// HasPrefix reports whether id is non-empty after prefix and made of safe characters.
func HasPrefix(id, prefix string) bool {
	if !strings.HasPrefix(id, prefix) || len(id) == len(prefix) || len(id) > 64 {
		return false
	}
	for _, r := range id[len(prefix):] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// Package sandbox holds PayPortal's default processors for development and tests: a card
// processor and a PayPal that behave as the contract's "Sandbox processors" table says.
//
// Their state lives in PostgreSQL (tables sandbox_*, migration 00002), not in memory, so a
// payment survives a worker killed mid-flight and the API and worker processes see the same
// orders. Unique constraints, not process memory, make every idempotency key safe to repeat.
package sandbox

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// Operations a Fault is told about.
const (
	OpTokenize      = "tokenize"
	OpVerify        = "verify"
	OpAuthorize     = "authorize"
	OpCapture       = "capture"
	OpVoid          = "void"
	OpRefund        = "refund"
	OpCreateOrder   = "create_order"
	OpCaptureOrder  = "capture_order"
	OpRefundCapture = "refund_capture"
	OpVoidOrder     = "void_order"
	OpLookup        = "lookup" // LookupCharge and LookupOrder
)

// Fault lets tests make a processor misbehave. It is called before each operation
// (committed=false) and again once the operation has taken effect (committed=true); an error
// it returns is returned instead of the result. Before: the processor failed. After: the
// processor did the work but its answer was lost, which is what idempotency keys are for.
// Returning a *gateway.Decline or a gateway.Transient error imitates the processor saying so.
type Fault func(op string, committed bool) error

// faults holds the current Fault; tests may swap it while calls are running.
type faults struct{ f atomic.Pointer[Fault] }

// SetFault installs f; nil removes it.
func (fs *faults) SetFault(f Fault) {
	if f == nil {
		fs.f.Store(nil)
		return
	}
	fs.f.Store(&f)
}

func (fs *faults) inject(op string, committed bool) error {
	f := fs.f.Load()
	if f == nil {
		return nil
	}
	return (*f)(op, committed)
}

// behaviour is what a sandbox card number makes the processor do. It is derived from the
// number at tokenization and stored instead of the number.
type behaviour string

const (
	behaviourOK behaviour = "ok"
	// behaviourAuthenticate wants 3-D Secure for every charge: on session the cardholder
	// meets the challenge page, off session the charge declines authentication_required. A
	// zero-amount check (Verify) passes without a challenge.
	behaviourAuthenticate behaviour = "authenticate"
)

// behaviours follows the contract's table; any other valid number succeeds.
var behaviours = map[string]behaviour{
	"4000000000000002": "decline:" + billing.CodeCardDeclined,
	"4000000000009995": "decline:" + billing.CodeInsufficientFunds,
	"4000000000000069": "decline:" + billing.CodeExpiredCard,
	"4000000000000127": "decline:" + billing.CodeIncorrectCVC,
	"4000000000000119": "transient:2",
	"4000000000000341": "charge_decline:" + billing.CodeCardDeclined,
	"4000002500003155": behaviourAuthenticate, // Stripe's test card for 3-D Secure
}

func behaviourOf(number string) behaviour {
	if b, ok := behaviours[gateway.NormalizeCardNumber(number)]; ok {
		return b
	}
	return behaviourOK
}

// declinesOnVerify is the decline code Verify answers, if any.
func (b behaviour) declinesOnVerify() string {
	kind, code, _ := strings.Cut(string(b), ":")
	if kind == "decline" {
		return code
	}
	return ""
}

// declinesOnAuthorize is the decline code Authorize answers, if any.
func (b behaviour) declinesOnAuthorize() string {
	kind, code, _ := strings.Cut(string(b), ":")
	if kind == "decline" || kind == "charge_decline" {
		return code
	}
	return ""
}

// transientAttempts is how many Authorize attempts per idempotency key fail before one
// succeeds.
func (b behaviour) transientAttempts() int {
	kind, n, _ := strings.Cut(string(b), ":")
	if kind != "transient" {
		return 0
	}
	v, _ := strconv.Atoi(n)
	return v
}

var declineMessages = map[string]string{
	billing.CodeCardDeclined:      "The card was declined.",
	billing.CodeInsufficientFunds: "The card has insufficient funds.",
	billing.CodeExpiredCard:       "The card has expired.",
	billing.CodeIncorrectCVC:      "The card's security code is incorrect.",
}

func decline(code string) *gateway.Decline {
	return &gateway.Decline{Code: code, Message: declineMessages[code]}
}

// querier is what both a pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// checkMoney refuses what no processor would accept.
func checkMoney(m billing.Money) error {
	if m.Amount <= 0 {
		return fmt.Errorf("%w: amount %d must be positive", gateway.ErrInvalidRequest, m.Amount)
	}
	if !billing.ValidCurrency(m.Currency) {
		return fmt.Errorf("%w: currency %q is not an ISO 4217 code", gateway.ErrInvalidRequest, m.Currency)
	}
	return nil
}

func checkKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("%w: an idempotency key is required", gateway.ErrInvalidRequest)
	}
	return nil
}

// newPayPalID looks like PayPal's ids: 17 upper-case alphanumerics.
func newPayPalID() string { return rand.Text()[:17] }

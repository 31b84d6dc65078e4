// Package gateway is PayPortal's side of the payment processors: raw card data, the card
// processor and PayPal behind two small interfaces, and the three ways a call can fail.
//
// A failed call is one of:
//   - a *Decline: the processor said no; final, never retried, shown to the customer;
//   - a transient error (IsTransient): processing_error, timeouts, 5xx; retry with backoff;
//   - a permanent error (IsPermanent): a decline, a format problem (*billing.Error), an
//     unknown object, a state that forbids the operation; retrying cannot help;
//   - anything else is unexpected (database down, bug). It is safe to retry because every
//     mutating call carries an idempotency key.
//
// Sandbox processors live in gateway/sandbox, the real ones in gateway/stripe and
// gateway/paypal.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/payportal/payportal/internal/billing"
)

// Card is raw card data, on its way from the request to Tokenize. It must never be logged,
// stored or serialized: fmt and slog print it redacted ("visa ****4242"), and encoding it to
// JSON or gob fails, so it can never end up in Temporal history or a log line by accident.
// Decoding a request body into it is fine.
type Card struct {
	Number     string `json:"number"`
	ExpMonth   int    `json:"exp_month"`
	ExpYear    int    `json:"exp_year"`
	CVC        string `json:"cvc"`
	HolderName string `json:"holder_name"`
}

// ErrCardNotSerializable is returned by every attempt to encode a Card.
var ErrCardNotSerializable = errors.New("raw card data must not be serialized: tokenize it first")

// Brand is the card network read from the number ("visa", ...), or "" when unknown.
func (c Card) Brand() string { return BrandOf(c.Number) }

// Last4 is the last four digits of the number, or "" when the number is too short to show
// any without revealing most of it.
func (c Card) Last4() string {
	d := NormalizeCardNumber(c.Number)
	if len(d) < 12 || !allDigits(d) {
		return ""
	}
	return d[len(d)-4:]
}

// String is the redacted form, e.g. "visa ****4242".
func (c Card) String() string {
	brand := c.Brand()
	if brand == "" {
		brand = "card"
	}
	return brand + " ****" + c.Last4()
}

// GoString keeps %#v redacted too.
func (c Card) GoString() string { return "gateway.Card{" + c.String() + "}" }

// Format redacts every verb, including %v and %+v of structs that contain a Card.
func (c Card) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// LogValue redacts the card in slog records.
func (c Card) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalJSON refuses: raw card data never leaves the process.
func (c Card) MarshalJSON() ([]byte, error) { return nil, ErrCardNotSerializable }

// GobEncode refuses for the same reason.
func (c Card) GobEncode() ([]byte, error) { return nil, ErrCardNotSerializable }

// TokenizedCard is what PayPortal keeps of a card: the processor's token and the public facts
// a customer recognises their card by.
type TokenizedCard struct {
	Token    string `json:"token"`
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// ChargeRequest asks to authorize Amount on a tokenized card.
type ChargeRequest struct {
	Token          string        `json:"token"`
	Amount         billing.Money `json:"amount"`
	IdempotencyKey string        `json:"idempotency_key"`
	Description    string        `json:"description"`
}

// CardProcessor charges cards in two steps, authorize then capture, so a payment can be
// abandoned (void) without money moving.
//
// Idempotency keys make every mutating call safe to repeat: the same key returns the same
// authorization, capture or refund, never a second one. Use one key per operation (e.g.
// "pay_x/authorize", "pay_x/capture"): Stripe refuses a key reused on another endpoint.
type CardProcessor interface {
	// Tokenize exchanges raw card data for a token. It never declines; it fails only on
	// format problems, as a *billing.Error naming the field.
	Tokenize(ctx context.Context, card Card, addr billing.Address) (TokenizedCard, error)
	// Verify checks a card on file without charging it; it may return a *Decline.
	Verify(ctx context.Context, token string) error
	// Authorize holds req.Amount on the card; it may return a *Decline or a transient error.
	Authorize(ctx context.Context, req ChargeRequest) (authorizationID string, err error)
	// Capture moves the held money; there is at most one capture per authorization.
	Capture(ctx context.Context, authorizationID string, amount billing.Money, idempotencyKey string) (captureID string, err error)
	// Void releases an authorization that will not be captured; voiding twice is fine.
	Void(ctx context.Context, authorizationID, idempotencyKey string) error
	// Refund gives back part or all of a capture.
	Refund(ctx context.Context, captureID string, amount billing.Money, idempotencyKey string) (refundID string, err error)
	// LookupCharge tells where the charge that Authorize made under authorizeKey stands, from
	// the processor's own records: what a saga asks when a step's answer was lost. A key
	// that made no authorization answers Status ChargeNone, not an error.
	LookupCharge(ctx context.Context, authorizeKey string) (Charge, error)

	// RedeemToken takes a token made in the customer's browser (Stripe.js's PaymentMethod,
	// the sandbox's tokenization endpoint) for a card on file or a payment, and answers the
	// card's public facts. A token the processor does not know, or, where tokens are single
	// use, one expired or already redeemed, is a *billing.Error on "token".
	RedeemToken(ctx context.Context, token string) (TokenizedCard, error)
	// AuthorizeOnSession is Authorize while the cardholder is present: a card that wants
	// 3-D Secure is not declined but answers an Authorization waiting at RedirectURL, from
	// where the processor sends the cardholder to returnURL with ?payment_intent=<the
	// authorization's id>. The same idempotency key answers the same authorization.
	AuthorizeOnSession(ctx context.Context, req ChargeRequest, returnURL string) (Authorization, error)
	// LookupAuthorization tells where an authorization stands by its id: requires_action
	// while the cardholder has not authenticated, authorized once they did, none when the
	// authentication failed.
	LookupAuthorization(ctx context.Context, authorizationID string) (Charge, error)
}

// Authorization is the answer of AuthorizeOnSession: the money is held, or, with RedirectURL
// set, the cardholder must authenticate there (3-D Secure) first.
type Authorization struct {
	ID          string `json:"id"`
	RedirectURL string `json:"redirect_url,omitempty"`
}

// ChargeStatus is where a card charge stands at the processor.
type ChargeStatus string

const (
	ChargeNone       ChargeStatus = "none"       // no authorization was made: no money held
	ChargeAuthorized ChargeStatus = "authorized" // money held, not taken
	ChargeCaptured   ChargeStatus = "captured"   // money taken (Refunded says how much went back)
	ChargeVoided     ChargeStatus = "voided"     // the hold was released
	// ChargeRequiresAction: waiting for the cardholder's 3-D Secure; nothing is held yet, but
	// completing it would hold the money, so a payment giving up on it voids it.
	ChargeRequiresAction ChargeStatus = "requires_action"
)

// Charge is the processor's truth about one card charge.
type Charge struct {
	Status          ChargeStatus  `json:"status"`
	AuthorizationID string        `json:"authorization_id,omitempty"`
	Amount          billing.Money `json:"amount"`
	CaptureID       string        `json:"capture_id,omitempty"`
	Refunded        int64         `json:"refunded,omitempty"` // minor units refunded so far
}

// OrderRequest asks PayPal for an order the buyer approves on PayPal's side. RequestID is the
// idempotency key.
type OrderRequest struct {
	Amount      billing.Money `json:"amount"`
	RequestID   string        `json:"request_id"`
	ReturnURL   string        `json:"return_url"`
	CancelURL   string        `json:"cancel_url"`
	Description string        `json:"description"`
}

// Order is a PayPal order waiting for the buyer at ApprovalURL.
type Order struct {
	ID          string `json:"id"`
	ApprovalURL string `json:"approval_url"`
}

// PayPal takes payments the buyer approves on PayPal: create an order, send the buyer to its
// approval URL, capture it once they come back.
type PayPal interface {
	CreateOrder(ctx context.Context, req OrderRequest) (Order, error)
	// CaptureOrder returns a *Decline (order_not_approved, instrument_declined, ...) when the
	// order cannot be paid. An order is captured at most once: capturing it again returns the
	// existing capture.
	CaptureOrder(ctx context.Context, orderID, requestID string) (captureID string, err error)
	RefundCapture(ctx context.Context, captureID string, amount billing.Money, requestID string) (refundID string, err error)
	// VoidOrder abandons an order that will not be captured; voiding twice is fine.
	VoidOrder(ctx context.Context, orderID string) error
	// LookupOrder tells where an order stands at PayPal: what a saga asks when a capture's
	// answer was lost. An unknown order is ErrNotFound.
	LookupOrder(ctx context.Context, orderID string) (OrderState, error)
}

// OrderStatus is where a PayPal order stands.
type OrderStatus string

const (
	OrderCreated  OrderStatus = "created"  // waiting for the buyer: no money taken
	OrderApproved OrderStatus = "approved" // the buyer approved; not captured yet
	OrderCaptured OrderStatus = "captured" // money taken (Refunded says how much went back)
	OrderClosed   OrderStatus = "closed"   // voided, cancelled or expired: no money taken
)

// OrderState is PayPal's truth about one order.
type OrderState struct {
	ID        string        `json:"id"`
	Status    OrderStatus   `json:"status"`
	Amount    billing.Money `json:"amount"`
	CaptureID string        `json:"capture_id,omitempty"`
	Refunded  int64         `json:"refunded,omitempty"` // minor units refunded so far
}

// Capture is one capture as the processor lists it, for the reconciler's cross-check of the
// processor's books against PayPortal's.
type Capture struct {
	CaptureID string        `json:"capture_id"`
	PaymentID string        `json:"payment_id"` // from the idempotency key or metadata PayPortal sent
	Amount    billing.Money `json:"amount"`
	Refunded  int64         `json:"refunded"`
	CreatedAt time.Time     `json:"created_at"`
}

// CaptureLister is implemented by processors that can list their captures; the reconciler
// uses it to find money taken that PayPortal's books do not know of.
type CaptureLister interface {
	CapturesSince(ctx context.Context, since time.Time) ([]Capture, error)
}

// Decline codes beyond the card codes billing already names.
const (
	CodeOrderNotApproved       = "order_not_approved"
	CodeInstrumentDeclined     = "instrument_declined"
	CodeAuthenticationRequired = billing.CodeAuthenticationRequired
	// CodeAuthenticationFailed: the cardholder failed or abandoned 3-D Secure.
	CodeAuthenticationFailed = billing.CodeAuthenticationFailed
)

// Error codes of a card token (param "token") that cannot be used.
const (
	CodeTokenInvalid     = "token_invalid"      // unknown to the processor, or expired
	CodeTokenAlreadyUsed = "token_already_used" // single-use, and redeemed before
	ParamToken           = "token"
)

// Decline is the processor's final no (card_declined, insufficient_funds, expired_card,
// incorrect_cvc, order_not_approved, ...). Retrying cannot change it.
type Decline struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (d *Decline) Error() string {
	if d.Message == "" {
		return "declined: " + d.Code
	}
	return fmt.Sprintf("declined: %s: %s", d.Code, d.Message)
}

// AsDecline returns the *Decline inside err, if any.
func AsDecline(err error) (*Decline, bool) {
	var d *Decline
	ok := errors.As(err, &d)
	return d, ok
}

// TransientError is a failure that may go away: processing_error, a timeout, a 5xx, a rate
// limit. Because every mutating call is idempotent, retrying it is safe.
type TransientError struct {
	Code    string // e.g. processing_error
	Message string
	Err     error // the underlying cause, if any
}

func (e *TransientError) Error() string {
	msg := "transient " + e.Code
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *TransientError) Unwrap() error { return e.Err }

// Transient wraps cause as a transient error with code.
func Transient(code string, cause error) *TransientError {
	return &TransientError{Code: code, Err: cause}
}

// IsTransient reports whether err is worth retrying with backoff.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// Sentinel causes of permanent failures that are not declines; processors wrap them.
var (
	// ErrNotFound: the processor does not know the token, authorization, capture or order.
	ErrNotFound = errors.New("unknown to the processor")
	// ErrInvalidState: the object's state forbids the operation (capturing a voided
	// authorization, refunding more than was captured, an idempotency key reused with other
	// parameters).
	ErrInvalidState = errors.New("not allowed in the current state")
	// ErrInvalidRequest: the processor refused the request itself (non-positive amount,
	// missing idempotency key, unsupported currency).
	ErrInvalidRequest = errors.New("refused by the processor")
)

// IsPermanent reports whether retrying err cannot help: a decline, a format problem, or one of
// the sentinel errors above. Transient errors are never permanent.
func IsPermanent(err error) bool {
	if err == nil || IsTransient(err) {
		return false
	}
	if _, ok := AsDecline(err); ok {
		return true
	}
	if billing.ErrorOf(err) != nil {
		return true
	}
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalidState) || errors.Is(err, ErrInvalidRequest)
}

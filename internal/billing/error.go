package billing

import (
	"errors"
	"fmt"
)

// Kind is the class of an error as the outside contract sees it; api/ maps each kind to one
// HTTP status and error type in a single place.
type Kind string

const (
	KindMalformed       Kind = "malformed"       // 400 invalid_request
	KindInvalid         Kind = "invalid"         // 422 invalid_request
	KindUnauthenticated Kind = "unauthenticated" // 401 authentication
	KindForbidden       Kind = "forbidden"       // 403 authorization
	KindNotFound        Kind = "not_found"       // 404 not_found
	KindConflict        Kind = "conflict"        // 409 conflict
	KindTooLarge        Kind = "too_large"       // 413 invalid_request
	KindRateLimited     Kind = "rate_limited"    // 429 rate_limited
	KindUnavailable     Kind = "unavailable"     // 503 internal
	KindInternal        Kind = "internal"        // 500 internal
)

// Error codes the contract names. Validation codes name the rule broken; param names the field.
const (
	CodeMalformedJSON        = "malformed_json"
	CodeUnknownField         = "unknown_field"
	CodeWrongType            = "wrong_type"
	CodeMissingField         = "missing_field"
	CodeInvalidValue         = "invalid_value"
	CodeInvalidCardNumber    = "invalid_card_number"
	CodeCardExpired          = "card_expired"
	CodeInvalidExpiry        = "invalid_expiry"
	CodeInvalidCVC           = "invalid_cvc"
	CodeInvalidEmail         = "invalid_email"
	CodeAmountNotPositive    = "amount_not_positive"
	CodeAmountExceedsBalance = "amount_exceeds_balance"
	CodeCurrencyMismatch     = "currency_mismatch"
	CodeInvalidLimit         = "invalid_limit"
	CodeInvalidCursor        = "invalid_starting_after"
	CodeInvalidEndingBefore  = "invalid_ending_before"
	// CodeCursorConflict: starting_after and ending_before in one request.
	CodeCursorConflict = "cursor_conflict"
	// CodeInvalidCreated: created[gte] or created[lt] is no RFC 3339 time, or the range is empty.
	CodeInvalidCreated = "invalid_created"
	// CodeInvalidMetadata: metadata breaks one of its limits (the message says which).
	CodeInvalidMetadata      = "invalid_metadata"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	CodeIdempotencyKeyNeeded = "idempotency_key_required"
	CodeAlreadyDecided       = "already_decided"
	CodeNotCancelable        = "not_cancelable"
	CodeMissingKey           = "missing_api_key"
	CodeInvalidKey           = "invalid_api_key"
	CodeRepOnly              = "rep_only"
	CodeCustomerOnly         = "customer_only"
	CodeNotFound             = "resource_missing"
	CodeBodyTooLarge         = "body_too_large"
	CodeRateLimited          = "rate_limited"
	CodeInternal             = "internal_error"
	CodeUnavailable          = "dependency_unavailable"
	CodeCardDeclined         = "card_declined"
	CodeInsufficientFunds    = "insufficient_funds"
	CodeExpiredCard          = "expired_card"
	CodeIncorrectCVC         = "incorrect_cvc"
	CodeProcessingError      = "processing_error"
	// CodePaymentInterrupted: the payment's workflow stopped before it completed (terminated
	// by ops); the reconciler found no money taken and failed it.
	CodePaymentInterrupted = "payment_interrupted"
	// CodePaymentInProgress: a recurring charge was not tried because another payment was
	// still in flight when dunning's next date came.
	CodePaymentInProgress = "payment_in_progress"
	// CodePaymentCanceled names a cancellation in mails; a canceled payment has no failure.
	CodePaymentCanceled = "payment_canceled"
	// CodeRawCardNotAllowed: a raw card number was sent where only processor tokens are
	// taken (production without PAYPORTAL_ALLOW_RAW_CARDS); tokenize it in the browser.
	CodeRawCardNotAllowed = "raw_card_not_allowed"
	// 3-D Secure failures: a card wanting it charged off session (required), the cardholder
	// failing or abandoning it (failed), or not completing it in time (timeout).
	CodeAuthenticationRequired = "authentication_required"
	CodeAuthenticationFailed   = "authentication_failed"
	CodeAuthenticationTimeout  = "authentication_timeout"
)

// Refund codes.
const (
	// CodeAmountExceedsRefundable: a refund larger than what is left of the payment.
	CodeAmountExceedsRefundable = "amount_exceeds_refundable"
	// CodeNotRefundable: the payment has not succeeded, so no money can go back.
	CodeNotRefundable = "payment_not_refundable"
)

// Error is an error the caller may see. Anything that is not an *Error is internal: logged,
// never shown.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Param   string
}

func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Param)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds an *Error of the given kind and code.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid is a 422: the request was well-formed but breaks a rule about param.
func Invalid(code, param, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// NotFound says what was not found without saying whether it exists for someone else.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Code: CodeNotFound, Message: "no such " + what}
}

// Conflict is a 409.
func Conflict(code, format string, args ...any) *Error {
	return &Error{Kind: KindConflict, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorOf returns the *Error inside err, or nil when err is internal.
func ErrorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// KindOf returns err's kind; anything not an *Error is KindInternal.
func KindOf(err error) Kind {
	if e := ErrorOf(err); e != nil {
		return e.Kind
	}
	return KindInternal
}

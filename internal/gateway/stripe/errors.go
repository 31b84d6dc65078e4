package stripe

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/stripe/stripe-go/v82"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// apiError carries a *stripe.Error with a short message of our own: stripe.Error's Error()
// dumps the whole JSON answer, intents and their client secrets included, which must not
// reach logs or Temporal history. errors.As still finds the *stripe.Error, and errors.Is the
// gateway sentinel it was classified as.
type apiError struct {
	se   *stripe.Error
	kind error // gateway.ErrNotFound, ErrInvalidState, ErrInvalidRequest or nil
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("stripe %s", e.se.Type)
	if e.se.Code != "" {
		msg += " " + string(e.se.Code)
	}
	if e.se.DeclineCode != "" {
		msg += "/" + string(e.se.DeclineCode)
	}
	msg += fmt.Sprintf(" (status %d, request %s)", e.se.HTTPStatusCode, e.se.RequestID)
	if e.se.Msg != "" {
		msg += ": " + e.se.Msg
	}
	return msg
}

func (e *apiError) Unwrap() []error {
	if e.kind == nil {
		return []error{e.se}
	}
	return []error{e.kind, e.se}
}

// classify turns what stripe-go returns into PayPortal's three kinds of failure: card
// errors are declines (except processing_error, which the contract retries), 5xx, 409, 429
// and network trouble are transient, the rest permanent.
func classify(err error) error {
	var se *stripe.Error
	if !errors.As(err, &se) {
		// No answer from Stripe: connection refused, timeout, cancelled context. The
		// idempotency key makes trying again safe.
		return gateway.Transient(billing.CodeProcessingError, err)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard && (se.Code == stripe.ErrorCodeProcessingError || se.DeclineCode == stripe.DeclineCodeProcessingError):
		return &gateway.TransientError{Code: billing.CodeProcessingError, Message: se.Msg, Err: &apiError{se: se}}
	case se.Type == stripe.ErrorTypeCard:
		return &gateway.Decline{Code: declineCode(se), Message: se.Msg}
	case se.HTTPStatusCode >= 500, se.Type == stripe.ErrorTypeAPI,
		se.HTTPStatusCode == http.StatusTooManyRequests,
		// 409: another request with the same idempotency key is still running.
		se.HTTPStatusCode == http.StatusConflict, se.Code == stripe.ErrorCodeIdempotencyKeyInUse:
		return &gateway.TransientError{Code: billing.CodeProcessingError, Err: &apiError{se: se}}
	case se.HTTPStatusCode == http.StatusNotFound, se.Code == stripe.ErrorCodeResourceMissing:
		return &apiError{se: se, kind: gateway.ErrNotFound}
	case se.Type == stripe.ErrorTypeIdempotency, se.Code == stripe.ErrorCodePaymentIntentUnexpectedState:
		return &apiError{se: se, kind: gateway.ErrInvalidState}
	case se.HTTPStatusCode == http.StatusBadRequest:
		return &apiError{se: se, kind: gateway.ErrInvalidRequest}
	}
	// 401, 403: a wrong or restricted key; configuration, not the payment.
	return &apiError{se: se}
}

// declineCode prefers Stripe's decline_code when it says more than the generic
// card_declined: insufficient_funds rather than card_declined, card_declined rather than
// generic_decline.
func declineCode(se *stripe.Error) string {
	if se.Code == stripe.ErrorCodeCardDeclined && se.DeclineCode != "" && se.DeclineCode != stripe.DeclineCodeGenericDecline {
		return string(se.DeclineCode)
	}
	if se.Code != "" {
		return string(se.Code)
	}
	return billing.CodeCardDeclined
}

// declineOf reads the decline from an intent that ended without an error answer.
func declineOf(last *stripe.Error, why string) *gateway.Decline {
	if last != nil {
		return &gateway.Decline{Code: declineCode(last), Message: last.Msg}
	}
	return &gateway.Decline{Code: billing.CodeCardDeclined, Message: "The card was declined (" + why + ")."}
}

// tokenizeError turns Stripe's card-format complaints into the field errors ValidateCard
// gives, since Tokenize fails only on format.
func tokenizeError(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		switch se.Code {
		case stripe.ErrorCodeIncorrectNumber, stripe.ErrorCodeInvalidNumber:
			return billing.Invalid(billing.CodeInvalidCardNumber, gateway.ParamCardNumber, "the card number is not valid")
		case stripe.ErrorCodeInvalidExpiryMonth:
			return billing.Invalid(billing.CodeInvalidExpiry, gateway.ParamCardExpMonth, "the expiry month is not valid")
		case stripe.ErrorCodeInvalidExpiryYear:
			return billing.Invalid(billing.CodeInvalidExpiry, gateway.ParamCardExpYear, "the expiry year is not valid")
		case stripe.ErrorCodeExpiredCard:
			return billing.Invalid(billing.CodeCardExpired, gateway.ParamCardExpYear, "the card has expired")
		case stripe.ErrorCodeInvalidCVC, stripe.ErrorCodeIncorrectCVC:
			return billing.Invalid(billing.CodeInvalidCVC, gateway.ParamCardCVC, "the security code is not valid")
		}
	}
	return classify(err)
}

package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/mail"
)

// When a processor step's outcome is unknown (its retries ran out, its answers were lost, the
// saga was cancelled mid-step), the saga does not guess: it asks the processor where the money
// stands and acts on the answer. A charge found captured is booked; a hold found is released.

// ResolveInput names the payment whose money is to be found.
type ResolveInput struct {
	PaymentID string
	OrderID   string // PayPal: the order, when the saga knows it; else the payment's is used
}

// Resolution is where the payment's money stands once resolved: taken (CaptureID), or not
// taken, any hold released.
type Resolution struct {
	Captured  bool
	CaptureID string
	// Refunded: the capture was already given back in full (by an earlier compensation or a
	// person); nothing is left to book.
	Refunded bool
}

// ErrTypeChargeUnresolved: the processor's answer does not let the money be resolved (it was
// captured meanwhile by a stray attempt); retried, so the next lookup sees the capture.
const ErrTypeChargeUnresolved = "charge_unresolved"

// ResolveCardCharge finds the charge the payment's Authorize made (by its idempotency key,
// so also an authorization whose answer was lost) and settles it: captured → reported, so
// the saga books it; authorized → voided; voided or never made → nothing to do. The
// outcome is recorded on the payment.
func (p *Payments) ResolveCardCharge(ctx context.Context, in ResolveInput) (Resolution, error) {
	c, err := p.Cards.LookupCharge(ctx, in.PaymentID+"/authorize")
	if err != nil {
		return Resolution{}, processorError("look up the charge of payment "+in.PaymentID, err)
	}
	switch c.Status {
	case gateway.ChargeCaptured:
		if err := p.DB.RecordCardCapture(ctx, in.PaymentID, c.AuthorizationID, c.CaptureID); err != nil {
			return Resolution{}, err
		}
		return Resolution{Captured: true, CaptureID: c.CaptureID, Refunded: c.Refunded >= c.Amount.Amount}, nil
	case gateway.ChargeAuthorized:
		if err := p.Cards.Void(ctx, c.AuthorizationID, in.PaymentID+"/void"); err != nil {
			if errors.Is(err, gateway.ErrInvalidState) {
				// Captured between the lookup and the void: look again.
				return Resolution{}, temporal.NewApplicationErrorWithCause("the charge changed while it was resolved",
					ErrTypeChargeUnresolved, err)
			}
			return Resolution{}, processorError("void the hold of payment "+in.PaymentID, err)
		}
		if err := p.DB.RecordPaymentAuthorization(ctx, in.PaymentID, c.AuthorizationID); err != nil {
			return Resolution{}, err
		}
		p.logger().InfoContext(ctx, "card hold released", "payment_id", in.PaymentID, "authorization_id", c.AuthorizationID)
		return Resolution{}, p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationHoldReleased, p.Clock.Now())
	case gateway.ChargeVoided:
		return Resolution{}, p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationHoldReleased, p.Clock.Now())
	case gateway.ChargeRequiresAction:
		// Waiting for 3-D Secure: nothing is held, but a late completion would hold the
		// money of a payment that has given up. Void it so the challenge can no longer be
		// completed; no hold was released, so none is recorded.
		if err := p.Cards.Void(ctx, c.AuthorizationID, in.PaymentID+"/void"); err != nil {
			if errors.Is(err, gateway.ErrInvalidState) {
				return Resolution{}, temporal.NewApplicationErrorWithCause("the charge changed while it was resolved",
					ErrTypeChargeUnresolved, err)
			}
			return Resolution{}, processorError("void the unauthenticated charge of payment "+in.PaymentID, err)
		}
		return Resolution{}, nil
	}
	return Resolution{}, nil // no authorization was ever made: no money moved
}

// ResolvePayPalOrder asks PayPal where the payment's order stands and settles it: captured →
// reported, so the saga books it; created or approved → voided; closed or unknown → nothing
// to do.
func (p *Payments) ResolvePayPalOrder(ctx context.Context, in ResolveInput) (Resolution, error) {
	orderID := in.OrderID
	if orderID == "" {
		pay, err := p.DB.PaymentByID(ctx, in.PaymentID)
		if err != nil {
			return Resolution{}, err
		}
		if orderID = pay.PayPalOrderID; orderID == "" {
			return Resolution{}, nil // no order was recorded: nobody could approve one
		}
	}
	o, err := p.PayPal.LookupOrder(ctx, orderID)
	if errors.Is(err, gateway.ErrNotFound) {
		return Resolution{}, nil
	}
	if err != nil {
		return Resolution{}, processorError("look up the paypal order of payment "+in.PaymentID, err)
	}
	switch o.Status {
	case gateway.OrderCaptured:
		if err := p.DB.RecordPaymentCapture(ctx, in.PaymentID, o.CaptureID); err != nil {
			return Resolution{}, err
		}
		return Resolution{Captured: true, CaptureID: o.CaptureID, Refunded: o.Refunded >= o.Amount.Amount}, nil
	case gateway.OrderCreated, gateway.OrderApproved:
		if err := p.PayPal.VoidOrder(ctx, orderID); err != nil {
			if errors.Is(err, gateway.ErrInvalidState) {
				return Resolution{}, temporal.NewApplicationErrorWithCause("the order changed while it was resolved",
					ErrTypeChargeUnresolved, err)
			}
			return Resolution{}, processorError("void the paypal order of payment "+in.PaymentID, err)
		}
	}
	return Resolution{}, p.DB.RecordCompensation(ctx, in.PaymentID, billing.CompensationHoldReleased, p.Clock.Now())
}

// moneyOutcome says what happened to a payment's money that did not succeed, for the failure
// mail: the payment's own record first (a refund, a refused refund), then the processor's.
// An answer it cannot get is "unknown", and the mail then claims nothing.
func (p *Payments) moneyOutcome(ctx context.Context, pay billing.Payment) mail.MoneyOutcome {
	switch pay.Compensation {
	case billing.CompensationRefunded:
		return mail.MoneyRefunded
	case billing.CompensationRefundRefused:
		return mail.MoneyTaken
	}
	var captured bool
	switch pay.Method {
	case billing.MethodCard:
		c, err := p.Cards.LookupCharge(ctx, pay.ID+"/authorize")
		if err != nil {
			p.logger().WarnContext(ctx, "charge lookup for the failure mail failed", "payment_id", pay.ID, "err", err)
			return ""
		}
		captured = c.Status == gateway.ChargeCaptured && c.Refunded < c.Amount.Amount
	case billing.MethodPayPal:
		if pay.PayPalOrderID == "" {
			return mail.MoneyNotTaken
		}
		o, err := p.PayPal.LookupOrder(ctx, pay.PayPalOrderID)
		if errors.Is(err, gateway.ErrNotFound) {
			return mail.MoneyNotTaken
		}
		if err != nil {
			p.logger().WarnContext(ctx, "order lookup for the failure mail failed", "payment_id", pay.ID, "err", err)
			return ""
		}
		captured = o.Status == gateway.OrderCaptured && o.Refunded < o.Amount.Amount
	}
	if captured {
		return mail.MoneyTaken
	}
	return mail.MoneyNotTaken
}

// isFinal reports whether Temporal will not retry err.
func isFinal(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

package paypal

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/payportal/payportal/internal/gateway"
)

// LookupOrder reads the order from PayPal (GET /v2/checkout/orders/{id}) and tells where it
// stands: what a saga asks when a capture's answer was lost. An order PayPal does not know
// (404 RESOURCE_NOT_FOUND) is gateway.ErrNotFound; network trouble, 5xx and 429 are
// transient, as for every call.
func (c *Client) LookupOrder(ctx context.Context, orderID string) (gateway.OrderState, error) {
	if orderID == "" {
		return gateway.OrderState{}, fmt.Errorf("look up paypal order: %w: an order id is required", gateway.ErrInvalidRequest)
	}
	var o order
	if err := c.call(ctx, http.MethodGet, "/v2/checkout/orders/"+url.PathEscape(orderID), "", nil, &o); err != nil {
		return gateway.OrderState{}, fmt.Errorf("look up paypal order %s: %w", orderID, err)
	}
	s, err := orderStateOf(o)
	if err != nil {
		return gateway.OrderState{}, fmt.Errorf("look up paypal order %s: %w", orderID, err)
	}
	return s, nil
}

// orderStateOf reads an order as a gateway.OrderState. A capture that took money makes the
// order captured whatever the order's own status says: money first.
func orderStateOf(o order) (gateway.OrderState, error) {
	s := gateway.OrderState{ID: o.ID}
	if len(o.PurchaseUnits) > 0 && o.PurchaseUnits[0].Amount != nil {
		m, err := fromAmount(*o.PurchaseUnits[0].Amount)
		if err != nil {
			return gateway.OrderState{}, fmt.Errorf("order amount: %w", err)
		}
		s.Amount = m
	}

	declined := false
	for _, pu := range o.PurchaseUnits {
		for _, cp := range pu.Payments.Captures {
			switch cp.Status {
			case "COMPLETED", "PENDING", "REFUNDED", "PARTIALLY_REFUNDED":
				// PENDING: PayPal holds the money for review and settles it later; the
				// buyer has paid (as CaptureOrder counts it).
				return capturedState(s, cp, pu.Payments.Refunds)
			case "DECLINED", "FAILED":
				declined = true
			}
		}
	}

	switch o.Status {
	case "CREATED", "SAVED", "PAYER_ACTION_REQUIRED":
		// Waiting for the buyer (SAVED: kept for later in PayPal's vault flows).
		s.Status = gateway.OrderCreated
	case "APPROVED":
		// Approved, not captured. A capture declined on an approved order leaves it here,
		// so it may still be captured with another funding source.
		s.Status = gateway.OrderApproved
	case "VOIDED":
		s.Status = gateway.OrderClosed
	case "COMPLETED":
		if !declined {
			return gateway.OrderState{}, fmt.Errorf("order is COMPLETED with no capture")
		}
		// Completed by a capture PayPal declined: no money was taken, and a completed
		// order cannot be captured again.
		s.Status = gateway.OrderClosed
	default:
		return gateway.OrderState{}, fmt.Errorf("order has the unknown status %q", o.Status)
	}
	return s, nil
}

// capturedState completes s for an order whose capture cp took money. Refunded is the sum of
// the order's refunds that went or are going back (COMPLETED, PENDING). When PayPal lists no
// refund amounts, a REFUNDED capture was refunded in full; a PARTIALLY_REFUNDED one is an
// error, since any number would be a guess.
func capturedState(s gateway.OrderState, cp capture, refunds []refund) (gateway.OrderState, error) {
	s.Status, s.CaptureID = gateway.OrderCaptured, cp.ID
	if cp.Amount != nil {
		m, err := fromAmount(*cp.Amount)
		if err != nil {
			return gateway.OrderState{}, fmt.Errorf("capture %s amount: %w", cp.ID, err)
		}
		s.Amount = m
	}
	for _, r := range refunds {
		if r.Status != "COMPLETED" && r.Status != "PENDING" {
			continue
		}
		if r.Amount == nil {
			return gateway.OrderState{}, fmt.Errorf("refund %s of capture %s has no amount", r.ID, cp.ID)
		}
		m, err := fromAmount(*r.Amount)
		if err != nil {
			return gateway.OrderState{}, fmt.Errorf("refund %s of capture %s: %w", r.ID, cp.ID, err)
		}
		if m.Currency != s.Amount.Currency {
			return gateway.OrderState{}, fmt.Errorf("refund %s in %s of capture %s in %s", r.ID, m.Currency, cp.ID, s.Amount.Currency)
		}
		s.Refunded += m.Amount
	}
	switch {
	case cp.Status == "REFUNDED":
		s.Refunded = max(s.Refunded, s.Amount.Amount)
	case cp.Status == "PARTIALLY_REFUNDED" && s.Refunded == 0:
		return gateway.OrderState{}, fmt.Errorf("capture %s is PARTIALLY_REFUNDED but PayPal lists no refund amounts", cp.ID)
	}
	return s, nil
}

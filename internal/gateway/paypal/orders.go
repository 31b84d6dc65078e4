package paypal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// maxDescription is PayPal's limit on a purchase unit's description.
const maxDescription = 127

type link struct {
	Href   string `json:"href"`
	Rel    string `json:"rel"`
	Method string `json:"method"`
}

type capture struct {
	ID     string  `json:"id"`
	Status string  `json:"status"` // COMPLETED, PENDING, DECLINED, FAILED, REFUNDED, PARTIALLY_REFUNDED
	Amount *amount `json:"amount"`
}

type refund struct {
	ID     string  `json:"id"`
	Status string  `json:"status"` // COMPLETED, PENDING, FAILED, CANCELLED
	Amount *amount `json:"amount"`
}

// order is the part of PayPal's order resource PayPortal reads.
type order struct {
	ID            string `json:"id"`
	Status        string `json:"status"`
	Links         []link `json:"links"`
	PurchaseUnits []struct {
		Amount   *amount `json:"amount"`
		Payments struct {
			Captures []capture `json:"captures"`
			Refunds  []refund  `json:"refunds"`
		} `json:"payments"`
	} `json:"purchase_units"`
}

// createOrderRequest is POST /v2/checkout/orders. The buyer's return and cancel pages go in
// payment_source.paypal.experience_context, which replaced application_context.
type createOrderRequest struct {
	Intent        string         `json:"intent"`
	PurchaseUnits []purchaseUnit `json:"purchase_units"`
	PaymentSource paymentSource  `json:"payment_source"`
}

type purchaseUnit struct {
	ReferenceID string `json:"reference_id,omitempty"`
	Description string `json:"description,omitempty"`
	Amount      amount `json:"amount"`
}

type paymentSource struct {
	PayPal struct {
		ExperienceContext experienceContext `json:"experience_context"`
	} `json:"paypal"`
}

type experienceContext struct {
	ReturnURL          string `json:"return_url,omitempty"`
	CancelURL          string `json:"cancel_url,omitempty"`
	UserAction         string `json:"user_action"`
	ShippingPreference string `json:"shipping_preference"`
}

// CreateOrder creates a CAPTURE-intent order and returns where to send the buyer.
func (c *Client) CreateOrder(ctx context.Context, req gateway.OrderRequest) (gateway.Order, error) {
	if req.RequestID == "" {
		return gateway.Order{}, fmt.Errorf("create paypal order: %w: a request id is required", gateway.ErrInvalidRequest)
	}
	amt, err := toAmount(req.Amount)
	if err != nil {
		return gateway.Order{}, fmt.Errorf("create paypal order: %w", err)
	}
	body := createOrderRequest{
		Intent: "CAPTURE",
		PurchaseUnits: []purchaseUnit{{
			ReferenceID: req.RequestID,
			Description: truncate(req.Description, maxDescription),
			Amount:      amt,
		}},
	}
	body.PaymentSource.PayPal.ExperienceContext = experienceContext{
		ReturnURL:          req.ReturnURL,
		CancelURL:          req.CancelURL,
		UserAction:         "PAY_NOW",     // the buyer pays on PayPal; we capture on return
		ShippingPreference: "NO_SHIPPING", // nothing is shipped
	}
	var o order
	if err := c.call(ctx, http.MethodPost, "/v2/checkout/orders", req.RequestID, body, &o); err != nil {
		return gateway.Order{}, fmt.Errorf("create paypal order for %s: %w", req.Amount, err)
	}
	approval := approvalLink(o.Links)
	if o.ID == "" || approval == "" {
		return gateway.Order{}, fmt.Errorf("create paypal order for %s: answer has no id or approval link", req.Amount)
	}
	return gateway.Order{ID: o.ID, ApprovalURL: approval}, nil
}

// approvalLink is "payer-action" when the order names a payment source, "approve" in the
// older flow.
func approvalLink(links []link) string {
	for _, l := range links {
		if l.Rel == "payer-action" || l.Rel == "approve" {
			return l.Href
		}
	}
	return ""
}

// CaptureOrder captures an approved order. A 422 (ORDER_NOT_APPROVED, INSTRUMENT_DECLINED,
// PAYER_ACTION_REQUIRED, ...) is PayPal's final no and becomes a *gateway.Decline with the
// issue in lower case. An order already captured, even under another request id, answers its
// existing capture: an order is paid once.
func (c *Client) CaptureOrder(ctx context.Context, orderID, requestID string) (string, error) {
	if requestID == "" {
		return "", fmt.Errorf("capture paypal order %s: %w: a request id is required", orderID, gateway.ErrInvalidRequest)
	}
	var o order
	err := c.call(ctx, http.MethodPost, "/v2/checkout/orders/"+url.PathEscape(orderID)+"/capture", requestID, nil, &o)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
		if apiErr.Issue() == "ORDER_ALREADY_CAPTURED" {
			return c.existingCapture(ctx, orderID)
		}
		return "", fmt.Errorf("capture paypal order %s: %w", orderID, &gateway.Decline{
			Code: strings.ToLower(apiErr.Issue()), Message: issueDescription(apiErr)})
	}
	if err != nil {
		return "", fmt.Errorf("capture paypal order %s: %w", orderID, err)
	}
	return captureOf(orderID, o)
}

// existingCapture reads the capture of an order captured earlier.
func (c *Client) existingCapture(ctx context.Context, orderID string) (string, error) {
	var o order
	if err := c.call(ctx, http.MethodGet, "/v2/checkout/orders/"+url.PathEscape(orderID), "", nil, &o); err != nil {
		return "", fmt.Errorf("read captured paypal order %s: %w", orderID, err)
	}
	return captureOf(orderID, o)
}

// captureOf reads the capture from an order. PENDING counts as captured: PayPal holds the
// money for review and settles it later, and the buyer has paid.
func captureOf(orderID string, o order) (string, error) {
	for _, pu := range o.PurchaseUnits {
		for _, cp := range pu.Payments.Captures {
			switch cp.Status {
			case "COMPLETED", "PENDING":
				return cp.ID, nil
			case "DECLINED", "FAILED":
				return "", fmt.Errorf("capture paypal order %s: %w", orderID, &gateway.Decline{
					Code: gateway.CodeInstrumentDeclined, Message: "PayPal declined the capture (" + cp.Status + ")."})
			}
		}
	}
	return "", fmt.Errorf("capture paypal order %s: order is %s with no capture", orderID, o.Status)
}

func issueDescription(e *APIError) string {
	if len(e.Details) > 0 && e.Details[0].Description != "" {
		return e.Details[0].Description
	}
	return e.Message
}

// RefundCapture refunds part or all of a capture.
func (c *Client) RefundCapture(ctx context.Context, captureID string, amt billing.Money, requestID string) (string, error) {
	if requestID == "" {
		return "", fmt.Errorf("refund paypal capture %s: %w: a request id is required", captureID, gateway.ErrInvalidRequest)
	}
	value, err := toAmount(amt)
	if err != nil {
		return "", fmt.Errorf("refund paypal capture %s: %w", captureID, err)
	}
	var r struct {
		ID     string `json:"id"`
		Status string `json:"status"` // COMPLETED, PENDING, FAILED, CANCELLED
	}
	body := struct {
		Amount amount `json:"amount"`
	}{value}
	if err := c.call(ctx, http.MethodPost, "/v2/payments/captures/"+url.PathEscape(captureID)+"/refund", requestID, body, &r); err != nil {
		return "", fmt.Errorf("refund %s of paypal capture %s: %w", amt, captureID, err)
	}
	if r.Status == "FAILED" || r.Status == "CANCELLED" {
		return "", fmt.Errorf("refund %s of paypal capture %s: %w: refund %s is %s", amt, captureID, gateway.ErrInvalidState, r.ID, r.Status)
	}
	return r.ID, nil
}

// VoidOrder does nothing: PayPal cannot void a CAPTURE-intent order (only authorizations of
// AUTHORIZE-intent orders). An uncaptured order simply expires, and since PayPortal only
// captures from its own workflow, an abandoned order never moves money.
func (c *Client) VoidOrder(ctx context.Context, orderID string) error { return nil }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// CheckoutPath is where the server shows the sandbox's approval page; ApprovalURL points
// there with the order id as token, as PayPal's own approval links do.
const CheckoutPath = "/sandbox/paypal/checkout"

// OrderStatus is where a sandbox PayPal order stands.
type OrderStatus string

const (
	OrderCreated  OrderStatus = "created"  // waiting for the buyer
	OrderApproved OrderStatus = "approved" // the buyer approved; ready to capture
	OrderCanceled OrderStatus = "canceled" // the buyer cancelled on the checkout page
	OrderCaptured OrderStatus = "captured"
	OrderVoided   OrderStatus = "voided" // PayPortal abandoned it (timeout, cancel)
)

// PayPal is the sandbox PayPal: the buyer "approves" on a page of our own server instead of
// paypal.com.
type PayPal struct {
	faults
	pool    *pgxpool.Pool
	baseURL string
}

var _ gateway.PayPal = (*PayPal)(nil)

// NewPayPal returns a sandbox PayPal keeping orders in pool's database; baseURL is where this
// server answers, e.g. "http://127.0.0.1:8080", and prefixes approval URLs.
func NewPayPal(pool *pgxpool.Pool, baseURL string) *PayPal {
	return &PayPal{pool: pool, baseURL: strings.TrimRight(baseURL, "/")}
}

// PayPalOrder is everything the sandbox holds about an order; the checkout page shows it.
type PayPalOrder struct {
	ID          string
	Status      OrderStatus
	Amount      billing.Money
	Description string
	ReturnURL   string
	CancelURL   string
	ApprovalURL string
	CaptureID   string // "" until captured
	CreatedAt   time.Time
}

// CreateOrder stores a new order waiting for the buyer; the same RequestID returns the same
// order.
func (p *PayPal) CreateOrder(ctx context.Context, req gateway.OrderRequest) (gateway.Order, error) {
	if err := p.inject(OpCreateOrder, false); err != nil {
		return gateway.Order{}, err
	}
	o, err := p.createOrder(ctx, req)
	if err != nil {
		return gateway.Order{}, fmt.Errorf("create paypal order for %s: %w", req.Amount, err)
	}
	if err := p.inject(OpCreateOrder, true); err != nil {
		return gateway.Order{}, err
	}
	return o, nil
}

func (p *PayPal) createOrder(ctx context.Context, req gateway.OrderRequest) (gateway.Order, error) {
	if err := checkKey(req.RequestID); err != nil {
		return gateway.Order{}, err
	}
	if err := checkMoney(req.Amount); err != nil {
		return gateway.Order{}, err
	}
	id := newPayPalID()
	o := gateway.Order{ID: id, ApprovalURL: p.baseURL + CheckoutPath + "?token=" + url.QueryEscape(id)}
	tag, err := p.pool.Exec(ctx, `
		INSERT INTO sandbox_paypal_orders (id, request_id, amount, currency, description, return_url, cancel_url, approval_url, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'created')
		ON CONFLICT (request_id) DO NOTHING`,
		o.ID, req.RequestID, req.Amount.Amount, req.Amount.Currency, req.Description, req.ReturnURL, req.CancelURL, o.ApprovalURL)
	if err != nil {
		return gateway.Order{}, fmt.Errorf("store order: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return o, nil
	}
	// The request id already made an order: answer it again.
	var amount int64
	var currency string
	err = p.pool.QueryRow(ctx, `
		SELECT id, approval_url, amount, currency FROM sandbox_paypal_orders WHERE request_id = $1`,
		req.RequestID).Scan(&o.ID, &o.ApprovalURL, &amount, &currency)
	if err != nil {
		return gateway.Order{}, fmt.Errorf("look up request id: %w", err)
	}
	if amount != req.Amount.Amount || currency != req.Amount.Currency {
		return gateway.Order{}, fmt.Errorf("%w: request id %q was used for another order", gateway.ErrInvalidState, req.RequestID)
	}
	return o, nil
}

// Order returns the order for the checkout page and tests.
func (p *PayPal) Order(ctx context.Context, orderID string) (PayPalOrder, error) {
	o := PayPalOrder{ID: orderID}
	var captureID *string
	err := p.pool.QueryRow(ctx, `
		SELECT o.status, o.amount, o.currency, o.description, o.return_url, o.cancel_url, o.approval_url, c.id, o.created_at
		FROM sandbox_paypal_orders o LEFT JOIN sandbox_paypal_captures c ON c.order_id = o.id
		WHERE o.id = $1`, orderID).Scan(&o.Status, &o.Amount.Amount, &o.Amount.Currency, &o.Description,
		&o.ReturnURL, &o.CancelURL, &o.ApprovalURL, &captureID, &o.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, fmt.Errorf("paypal order %s: %w", orderID, gateway.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("paypal order %s: %w", orderID, err)
	}
	if captureID != nil {
		o.CaptureID = *captureID
	}
	return o, nil
}

// Approve is the buyer saying yes on the checkout page. Approving again, or after the
// capture, changes nothing.
func (p *PayPal) Approve(ctx context.Context, orderID string) error {
	err := p.transition(ctx, orderID, func(s OrderStatus) (OrderStatus, error) {
		switch s {
		case OrderCreated:
			return OrderApproved, nil
		case OrderApproved, OrderCaptured:
			return s, nil
		}
		return s, fmt.Errorf("%w: the order is %s", gateway.ErrInvalidState, s)
	})
	if err != nil {
		return fmt.Errorf("approve paypal order %s: %w", orderID, err)
	}
	return nil
}

// Cancel is the buyer going back without paying. An order the buyer approved can still be
// cancelled until it is captured.
func (p *PayPal) Cancel(ctx context.Context, orderID string) error {
	err := p.transition(ctx, orderID, func(s OrderStatus) (OrderStatus, error) {
		switch s {
		case OrderCreated, OrderApproved:
			return OrderCanceled, nil
		case OrderCanceled, OrderVoided:
			return s, nil
		}
		return s, fmt.Errorf("%w: the order is %s", gateway.ErrInvalidState, s)
	})
	if err != nil {
		return fmt.Errorf("cancel paypal order %s: %w", orderID, err)
	}
	return nil
}

// VoidOrder abandons an order that was not captured; voiding twice is fine.
func (p *PayPal) VoidOrder(ctx context.Context, orderID string) error {
	if err := p.inject(OpVoidOrder, false); err != nil {
		return err
	}
	err := p.transition(ctx, orderID, func(s OrderStatus) (OrderStatus, error) {
		switch s {
		case OrderCreated, OrderApproved, OrderCanceled:
			return OrderVoided, nil
		case OrderVoided:
			return s, nil
		}
		return s, fmt.Errorf("%w: the order was captured; refund it instead", gateway.ErrInvalidState)
	})
	if err != nil {
		return fmt.Errorf("void paypal order %s: %w", orderID, err)
	}
	return p.inject(OpVoidOrder, true)
}

// transition moves an order to the status next decides from the current one, under a row
// lock so the buyer's click and PayPortal's capture or void cannot interleave.
func (p *PayPal) transition(ctx context.Context, orderID string, next func(OrderStatus) (OrderStatus, error)) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		status, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		to, err := next(status)
		if err != nil || to == status {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sandbox_paypal_orders SET status = $2, updated_at = now() WHERE id = $1`, orderID, string(to))
		return err
	})
}

func lockOrder(ctx context.Context, tx pgx.Tx, orderID string) (OrderStatus, error) {
	var status OrderStatus
	err := tx.QueryRow(ctx, `SELECT status FROM sandbox_paypal_orders WHERE id = $1 FOR UPDATE`, orderID).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("order: %w", gateway.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("lock order: %w", err)
	}
	return status, nil
}

// CaptureOrder takes the money of an approved order. An order is captured once: asking again,
// with any request id, returns that capture. Any other status declines order_not_approved.
func (p *PayPal) CaptureOrder(ctx context.Context, orderID, requestID string) (string, error) {
	if err := p.inject(OpCaptureOrder, false); err != nil {
		return "", err
	}
	id, err := p.captureOrder(ctx, orderID, requestID)
	if err != nil {
		return "", fmt.Errorf("capture paypal order %s: %w", orderID, err)
	}
	if err := p.inject(OpCaptureOrder, true); err != nil {
		return "", err
	}
	return id, nil
}

func (p *PayPal) captureOrder(ctx context.Context, orderID, requestID string) (captureID string, err error) {
	if err := checkKey(requestID); err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		status, err := lockOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		switch status {
		case OrderCaptured:
			return tx.QueryRow(ctx, `SELECT id FROM sandbox_paypal_captures WHERE order_id = $1`, orderID).Scan(&captureID)
		case OrderApproved:
		default:
			return &gateway.Decline{Code: gateway.CodeOrderNotApproved, Message: notApprovedMessages[status]}
		}
		captureID = newPayPalID()
		if _, err := tx.Exec(ctx, `
			INSERT INTO sandbox_paypal_captures (id, order_id, request_id, amount, currency)
			SELECT $2, id, $3, amount, currency FROM sandbox_paypal_orders WHERE id = $1`,
			orderID, captureID, requestID); err != nil {
			return fmt.Errorf("store capture: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE sandbox_paypal_orders SET status = 'captured', updated_at = now() WHERE id = $1`, orderID)
		return err
	})
	return captureID, err
}

var notApprovedMessages = map[OrderStatus]string{
	OrderCreated:  "The buyer has not approved the order.",
	OrderCanceled: "The buyer cancelled the order.",
	OrderVoided:   "The order was voided.",
}

// RefundCapture gives back part or all of a PayPal capture; the same request id returns the
// same refund.
func (p *PayPal) RefundCapture(ctx context.Context, captureID string, amount billing.Money, requestID string) (string, error) {
	if err := p.inject(OpRefundCapture, false); err != nil {
		return "", err
	}
	id, err := refund(ctx, p.pool, paypalRefunds, captureID, amount, requestID, newPayPalID())
	if err != nil {
		return "", fmt.Errorf("refund %s of paypal capture %s: %w", amount, captureID, err)
	}
	if err := p.inject(OpRefundCapture, true); err != nil {
		return "", err
	}
	return id, nil
}

// Captures counts the captures of an order: 0 or 1.
func (p *PayPal) Captures(ctx context.Context, orderID string) (int, error) {
	return count(ctx, p.pool, `SELECT count(*) FROM sandbox_paypal_captures WHERE order_id = $1`, orderID)
}

// Refunds counts the refunds of a capture.
func (p *PayPal) Refunds(ctx context.Context, captureID string) (int, error) {
	return count(ctx, p.pool, `SELECT count(*) FROM sandbox_paypal_refunds WHERE capture_id = $1`, captureID)
}

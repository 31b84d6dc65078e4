package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/gateway"
)

// The processors' own records, for the sagas' and the reconciler's questions. Lookups carry
// no fault injection before the read: a fault after it imitates a lost answer, as for every
// other call.

var (
	_ gateway.CaptureLister = (*CardProcessor)(nil)
	_ gateway.CaptureLister = (*PayPal)(nil)
)

// LookupCharge answers where the charge authorized under authorizeKey stands.
func (p *CardProcessor) LookupCharge(ctx context.Context, authorizeKey string) (gateway.Charge, error) {
	if err := p.inject(OpLookup, false); err != nil {
		return gateway.Charge{}, err
	}
	c := gateway.Charge{Status: gateway.ChargeNone}
	var status string
	var captureID *string
	err := p.pool.QueryRow(ctx, `
		SELECT a.id, a.status, a.amount, a.currency, c.id,
		       (SELECT COALESCE(sum(r.amount), 0) FROM sandbox_refunds r WHERE r.capture_id = c.id)
		FROM sandbox_authorizations a LEFT JOIN sandbox_captures c ON c.authorization_id = a.id
		WHERE a.idempotency_key = $1`, authorizeKey).
		Scan(&c.AuthorizationID, &status, &c.Amount.Amount, &c.Amount.Currency, &captureID, &c.Refunded)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, p.inject(OpLookup, true)
	case err != nil:
		return gateway.Charge{}, fmt.Errorf("look up charge %s: %w", authorizeKey, err)
	}
	c.Status = chargeStatus(status)
	if captureID != nil {
		c.CaptureID = *captureID
	}
	return c, p.inject(OpLookup, true)
}

// LookupOrder answers where an order stands.
func (p *PayPal) LookupOrder(ctx context.Context, orderID string) (gateway.OrderState, error) {
	if err := p.inject(OpLookup, false); err != nil {
		return gateway.OrderState{}, err
	}
	o, err := p.Order(ctx, orderID)
	if err != nil {
		return gateway.OrderState{}, err
	}
	s := gateway.OrderState{ID: o.ID, Amount: o.Amount, CaptureID: o.CaptureID}
	switch o.Status {
	case OrderCreated:
		s.Status = gateway.OrderCreated
	case OrderApproved:
		s.Status = gateway.OrderApproved
	case OrderCaptured:
		s.Status = gateway.OrderCaptured
	default: // canceled by the buyer, voided by PayPortal: no money can be taken any more
		s.Status = gateway.OrderClosed
	}
	if o.CaptureID != "" {
		if err := p.pool.QueryRow(ctx, `SELECT COALESCE(sum(amount), 0) FROM sandbox_paypal_refunds WHERE capture_id = $1`,
			o.CaptureID).Scan(&s.Refunded); err != nil {
			return gateway.OrderState{}, fmt.Errorf("sum refunds of %s: %w", o.CaptureID, err)
		}
	}
	return s, p.inject(OpLookup, true)
}

// CapturesSince lists the card captures made since, with the payment each was made for (the
// prefix of its idempotency key, "pay_x/capture").
func (p *CardProcessor) CapturesSince(ctx context.Context, since time.Time) ([]gateway.Capture, error) {
	return capturesSince(ctx, p, `
		SELECT c.id, c.idempotency_key, c.amount, c.currency, c.created_at,
		       (SELECT COALESCE(sum(r.amount), 0) FROM sandbox_refunds r WHERE r.capture_id = c.id)
		FROM sandbox_captures c WHERE c.created_at >= $1 ORDER BY c.created_at, c.id`, since)
}

// CapturesSince lists the PayPal captures made since, with the payment each was made for.
func (p *PayPal) CapturesSince(ctx context.Context, since time.Time) ([]gateway.Capture, error) {
	return capturesSince(ctx, p, `
		SELECT c.id, c.request_id, c.amount, c.currency, c.created_at,
		       (SELECT COALESCE(sum(r.amount), 0) FROM sandbox_paypal_refunds r WHERE r.capture_id = c.id)
		FROM sandbox_paypal_captures c WHERE c.created_at >= $1 ORDER BY c.created_at, c.id`, since)
}

func capturesSince(ctx context.Context, p interface{ db() querierPool }, sql string, since time.Time) ([]gateway.Capture, error) {
	rows, err := p.db().Query(ctx, sql, since)
	if err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	captures, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (gateway.Capture, error) {
		var c gateway.Capture
		var key string
		err := r.Scan(&c.CaptureID, &key, &c.Amount.Amount, &c.Amount.Currency, &c.CreatedAt, &c.Refunded)
		c.PaymentID, _, _ = strings.Cut(key, "/")
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	return captures, nil
}

// querierPool is what listing needs of the pool.
type querierPool interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (p *CardProcessor) db() querierPool { return p.pool }
func (p *PayPal) db() querierPool        { return p.pool }

// chargeStatus reads a sandbox authorization's status: the gateway's, but for a failed 3-D
// Secure, which held nothing.
func chargeStatus(status string) gateway.ChargeStatus {
	if status == "authentication_failed" {
		return gateway.ChargeNone
	}
	return gateway.ChargeStatus(status)
}

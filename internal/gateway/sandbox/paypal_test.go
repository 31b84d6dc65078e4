package sandbox

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

var paypalID = regexp.MustCompile(`^[A-Z0-9]{17}$`)

func createOrder(t *testing.T, pp *PayPal, requestID string) gateway.Order {
	t.Helper()
	o, err := pp.CreateOrder(context.Background(), gateway.OrderRequest{
		Amount: usd(4200), RequestID: requestID, Description: "Payment pay_1",
		ReturnURL: "http://127.0.0.1:8080/v1/paypal/return", CancelURL: "http://127.0.0.1:8080/v1/paypal/cancel",
	})
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	return o
}

func TestSandboxPayPalApproveAndCapture(t *testing.T) {
	ctx := context.Background()
	pp := NewPayPal(newTestPool(t), "http://127.0.0.1:8080/")
	o := createOrder(t, pp, "pay_1/order")

	if !paypalID.MatchString(o.ID) {
		t.Errorf("order id %q does not look like PayPal's", o.ID)
	}
	u, err := url.Parse(o.ApprovalURL)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != "http://127.0.0.1:8080"+CheckoutPath || u.Query().Get("token") != o.ID {
		t.Errorf("ApprovalURL = %s", o.ApprovalURL)
	}
	if again := createOrder(t, pp, "pay_1/order"); again != o {
		t.Errorf("same request id made %+v, then %+v", o, again)
	}

	// Not approved yet: a final decline.
	_, err = pp.CaptureOrder(ctx, o.ID, "pay_1/capture")
	wantDecline(t, err, gateway.CodeOrderNotApproved)

	got, err := pp.Order(ctx, o.ID)
	if err != nil || got.Status != OrderCreated || got.Amount != usd(4200) || got.ReturnURL == "" || got.Description != "Payment pay_1" {
		t.Fatalf("Order = %+v, %v", got, err)
	}

	for range 2 {
		if err := pp.Approve(ctx, o.ID); err != nil {
			t.Fatalf("Approve: %v", err)
		}
	}
	capIDs := repeat(t, 6, func() (string, error) { return pp.CaptureOrder(ctx, o.ID, "pay_1/capture") })
	if !paypalID.MatchString(capIDs) {
		t.Errorf("capture id %q does not look like PayPal's", capIDs)
	}
	// A retry under another request id still finds the one capture.
	if again, err := pp.CaptureOrder(ctx, o.ID, "pay_1/capture-retry"); err != nil || again != capIDs {
		t.Errorf("capture again = %q, %v; want %q", again, err, capIDs)
	}
	if n, _ := pp.Captures(ctx, o.ID); n != 1 {
		t.Errorf("Captures = %d, want 1", n)
	}
	if got, _ := pp.Order(ctx, o.ID); got.Status != OrderCaptured || got.CaptureID != capIDs {
		t.Errorf("Order after capture = %+v", got)
	}

	refID := repeat(t, 4, func() (string, error) { return pp.RefundCapture(ctx, capIDs, usd(200), "pay_1/refund") })
	if refID == "" {
		t.Fatal("no refund id")
	}
	if n, _ := pp.Refunds(ctx, capIDs); n != 1 {
		t.Errorf("Refunds = %d, want 1", n)
	}
	if _, err := pp.RefundCapture(ctx, capIDs, usd(4001), "pay_1/refund-2"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("over-refund: %v", err)
	}
	if err := pp.VoidOrder(ctx, o.ID); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("void after capture: %v", err)
	}
	if err := pp.Cancel(ctx, o.ID); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("cancel after capture: %v", err)
	}
}

func TestSandboxPayPalCancelAndVoid(t *testing.T) {
	ctx := context.Background()
	pp := NewPayPal(newTestPool(t), "http://localhost:9999")

	canceled := createOrder(t, pp, "pay_2/order")
	if err := pp.Cancel(ctx, canceled.ID); err != nil {
		t.Fatal(err)
	}
	_, err := pp.CaptureOrder(ctx, canceled.ID, "pay_2/capture")
	wantDecline(t, err, gateway.CodeOrderNotApproved)
	if err := pp.Approve(ctx, canceled.ID); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("approve after cancel: %v", err)
	}

	voided := createOrder(t, pp, "pay_3/order")
	if err := pp.Approve(ctx, voided.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := pp.VoidOrder(ctx, voided.ID); err != nil {
			t.Fatalf("VoidOrder: %v", err)
		}
	}
	_, err = pp.CaptureOrder(ctx, voided.ID, "pay_3/capture")
	wantDecline(t, err, gateway.CodeOrderNotApproved)
	if got, _ := pp.Order(ctx, voided.ID); got.Status != OrderVoided {
		t.Errorf("status = %s, want voided", got.Status)
	}

	if _, err := pp.Order(ctx, "NOSUCHORDER000000"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Order(unknown) = %v", err)
	}
	if err := pp.Approve(ctx, "NOSUCHORDER000000"); !errors.Is(err, gateway.ErrNotFound) {
		t.Errorf("Approve(unknown) = %v", err)
	}
	if _, err := pp.CreateOrder(ctx, gateway.OrderRequest{Amount: usd(1), RequestID: "pay_2/order"}); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("request id reused for another amount: %v", err)
	}
	if _, err := pp.CreateOrder(ctx, gateway.OrderRequest{Amount: billing.Money{Amount: 1, Currency: "usd"}, RequestID: "r"}); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Errorf("bad currency: %v", err)
	}
}

// The API process approves on its checkout page while a worker process captures: both only
// share the database.
func TestSandboxPayPalSharedBetweenProcesses(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	api, worker := NewPayPal(pool, "http://127.0.0.1:8080"), NewPayPal(pool, "http://127.0.0.1:8080")
	o := createOrder(t, worker, "pay_4/order")
	if err := api.Approve(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	worker.SetFault(func(op string, committed bool) error {
		if op == OpCaptureOrder && committed {
			return gateway.Transient(billing.CodeProcessingError, errors.New("answer lost"))
		}
		return nil
	})
	if _, err := worker.CaptureOrder(ctx, o.ID, "pay_4/capture"); !gateway.IsTransient(err) {
		t.Fatalf("want the injected transient error, got %v", err)
	}
	worker.SetFault(nil)
	capID, err := worker.CaptureOrder(ctx, o.ID, "pay_4/capture")
	if err != nil || capID == "" {
		t.Fatalf("retry = %q, %v", capID, err)
	}
	if n, _ := api.Captures(ctx, o.ID); n != 1 {
		t.Fatalf("Captures = %d, want 1", n)
	}
}

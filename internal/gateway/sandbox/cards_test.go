package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

var now = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func usd(amount int64) billing.Money { return billing.Money{Amount: amount, Currency: "USD"} }

func testCard(number string) gateway.Card {
	cvc := "123"
	if gateway.BrandOf(number) == gateway.BrandAmex {
		cvc = "1234"
	}
	return gateway.Card{Number: number, ExpMonth: 12, ExpYear: 2030, CVC: cvc, HolderName: "Ada Lovelace"}
}

func tokenize(t *testing.T, p *CardProcessor, number string) gateway.TokenizedCard {
	t.Helper()
	tc, err := p.Tokenize(context.Background(), testCard(number), billing.Address{Country: "US"})
	if err != nil {
		t.Fatalf("Tokenize(%s): %v", number, err)
	}
	return tc
}

func wantDecline(t *testing.T, err error, code string) {
	t.Helper()
	d, ok := gateway.AsDecline(err)
	if !ok || d.Code != code {
		t.Fatalf("err = %v, want decline %s", err, code)
	}
	if gateway.IsTransient(err) || !gateway.IsPermanent(err) {
		t.Fatalf("a decline must be permanent: %v", err)
	}
}

func TestSandboxCardTable(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})

	tests := []struct {
		number        string
		verifyDecline string
		chargeDecline string
	}{
		{"4242424242424242", "", ""},
		{"5555555555554444", "", ""},
		{"378282246310005", "", ""},
		{"6011111111111117", "", ""}, // any other valid number
		{"4000000000000002", billing.CodeCardDeclined, billing.CodeCardDeclined},
		{"4000000000009995", billing.CodeInsufficientFunds, billing.CodeInsufficientFunds},
		{"4000000000000069", billing.CodeExpiredCard, billing.CodeExpiredCard},
		{"4000000000000127", billing.CodeIncorrectCVC, billing.CodeIncorrectCVC},
		{"4000000000000341", "", billing.CodeCardDeclined},
	}
	for _, tt := range tests {
		t.Run(tt.number, func(t *testing.T) {
			tc := tokenize(t, p, tt.number)
			if tc.Brand != gateway.BrandOf(tt.number) || tc.Last4 != tt.number[len(tt.number)-4:] || tc.ExpMonth != 12 || tc.ExpYear != 2030 {
				t.Errorf("Tokenize = %+v", tc)
			}
			err := p.Verify(ctx, tc.Token)
			if tt.verifyDecline == "" && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.verifyDecline != "" {
				wantDecline(t, err, tt.verifyDecline)
			}

			key := "pay_" + tt.number + "/authorize"
			authID, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(1000), IdempotencyKey: key})
			if tt.chargeDecline != "" {
				wantDecline(t, err, tt.chargeDecline)
				if n, _ := p.Attempts(ctx, key); n != 1 {
					t.Errorf("Attempts = %d, want 1", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			capID, err := p.Capture(ctx, authID, usd(1000), key+"/capture")
			if err != nil || capID == "" {
				t.Fatalf("Capture = %q, %v", capID, err)
			}
		})
	}
}

func TestSandboxNeverStoresTheNumber(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	p := NewCardProcessor(pool, &billing.FixedClock{T: now})
	tokenize(t, p, "4000000000000119")
	var dump string
	if err := pool.QueryRow(ctx, `
		SELECT string_agg(concat_ws(',', token, brand, last4, exp_month, exp_year, behaviour), ';') FROM sandbox_cards`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(dump, "4000000000000119") || strings.Contains(dump, ",123,") {
		t.Fatalf("sandbox_cards holds the number or CVC: %s", dump)
	}
	if !strings.Contains(dump, "transient:2") || !strings.Contains(dump, "0119") {
		t.Fatalf("sandbox_cards lacks behaviour or last4: %s", dump)
	}
}

func TestSandboxTokenizeRejectsFormat(t *testing.T) {
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})
	card := testCard("4242424242424241")
	_, err := p.Tokenize(context.Background(), card, billing.Address{})
	if e := billing.ErrorOf(err); e == nil || e.Code != billing.CodeInvalidCardNumber || e.Param != gateway.ParamCardNumber {
		t.Fatalf("Tokenize = %v, want invalid_card_number", err)
	}
	if strings.Contains(err.Error(), "4242424242424241") {
		t.Fatalf("error leaks the number: %v", err)
	}
}

func TestSandboxTransientThenSuccess(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4000000000000119")

	// Each charge (idempotency key) fails twice, then succeeds, then replays.
	for _, key := range []string{"pay_a/authorize", "pay_b/authorize"} {
		req := gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: key}
		for attempt := 1; attempt <= 2; attempt++ {
			_, err := p.Authorize(ctx, req)
			var te *gateway.TransientError
			if !errors.As(err, &te) || te.Code != billing.CodeProcessingError || gateway.IsPermanent(err) {
				t.Fatalf("%s attempt %d: %v, want transient processing_error", key, attempt, err)
			}
		}
		first, err := p.Authorize(ctx, req)
		if err != nil {
			t.Fatalf("%s attempt 3: %v", key, err)
		}
		again, err := p.Authorize(ctx, req)
		if err != nil || again != first {
			t.Fatalf("%s replay = %q, %v; want %q", key, again, err, first)
		}
		if n, _ := p.Attempts(ctx, key); n != 4 {
			t.Errorf("Attempts(%s) = %d, want 4", key, n)
		}
	}
	// Verify is not a charge: it passes.
	if err := p.Verify(ctx, tc.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestSandboxIdempotency(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")
	req := gateway.ChargeRequest{Token: tc.Token, Amount: usd(1000), IdempotencyKey: "pay_1/authorize"}

	// Concurrent repeats of every call yield one authorization, one capture, one refund.
	authIDs := repeat(t, 8, func() (string, error) { return p.Authorize(ctx, req) })
	capIDs := repeat(t, 8, func() (string, error) { return p.Capture(ctx, authIDs, usd(1000), "pay_1/capture") })
	repeat(t, 8, func() (string, error) { return p.Refund(ctx, capIDs, usd(400), "pay_1/refund") })

	if n, _ := p.Captures(ctx, authIDs); n != 1 {
		t.Errorf("Captures = %d, want 1", n)
	}
	if n, _ := p.Refunds(ctx, capIDs); n != 1 {
		t.Errorf("Refunds = %d, want 1", n)
	}
	a, err := p.Authorization(ctx, authIDs)
	if err != nil || a.Status != "captured" || a.CaptureID != capIDs || a.Amount != usd(1000) {
		t.Errorf("Authorization = %+v, %v", a, err)
	}

	// Another key cannot capture the same authorization a second time.
	if _, err := p.Capture(ctx, authIDs, usd(1000), "pay_1/capture-again"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("second capture: %v, want ErrInvalidState", err)
	}
	// A key reused for another charge is refused.
	other := req
	other.Amount = usd(999)
	if _, err := p.Authorize(ctx, other); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("reused key: %v, want ErrInvalidState", err)
	}
	// Refunds never exceed the capture.
	if _, err := p.Refund(ctx, capIDs, usd(600), "pay_1/refund-2"); err != nil {
		t.Errorf("refund of the rest: %v", err)
	}
	if _, err := p.Refund(ctx, capIDs, usd(1), "pay_1/refund-3"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("over-refund: %v, want ErrInvalidState", err)
	}
	// Voiding a captured authorization is refused.
	if err := p.Void(ctx, authIDs, "pay_1/void"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Errorf("void after capture: %v, want ErrInvalidState", err)
	}

	s, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Cards: 1, Authorizations: 1, Captures: 1, Refunds: 2, CapturedAmount: 1000, RefundedAmount: 1000}
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

// repeat runs call n times at once and checks every call answered the same id.
func repeat(t *testing.T, n int, call func() (string, error)) string {
	t.Helper()
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ids[i], errs[i] = call() })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if ids[i] == "" || ids[i] != ids[0] {
			t.Fatalf("calls answered %v, want one id", ids)
		}
	}
	return ids[0]
}

// A capture with a key that a concurrent call is using waits on the authorization's lock and
// then answers that call's capture, even though the capture was committed while it waited.
func TestSandboxCaptureWaitsForTheSameKey(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	p := NewCardProcessor(pool, &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")
	authID, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: "pay_w/authorize"})
	if err != nil {
		t.Fatal(err)
	}

	// The other call holds the lock, as capture does.
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Rollback(ctx) }()
	if _, err := other.Exec(ctx, `SELECT 1 FROM sandbox_authorizations WHERE id = $1 FOR UPDATE`, authID); err != nil {
		t.Fatal(err)
	}

	type result struct {
		id  string
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := p.Capture(ctx, authID, usd(500), "pay_w/capture")
		done <- result{id, err}
	}()
	for waiting := 0; waiting == 0; {
		select {
		case r := <-done:
			t.Fatalf("Capture did not wait for the lock: %+v", r)
		case <-time.After(10 * time.Millisecond):
		}
		if err := pool.QueryRow(ctx, `
			SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := other.Exec(ctx, `
		INSERT INTO sandbox_captures (id, authorization_id, idempotency_key, amount, currency)
		VALUES ('cap_other', $1, 'pay_w/capture', 500, 'USD')`, authID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, `UPDATE sandbox_authorizations SET status = 'captured' WHERE id = $1`, authID); err != nil {
		t.Fatal(err)
	}
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.id != "cap_other" {
		t.Fatalf("Capture = %q, %v; want the other call's cap_other", r.id, r.err)
	}
	if n, _ := p.Captures(ctx, authID); n != 1 {
		t.Fatalf("Captures = %d, want 1", n)
	}
}

func TestSandboxVoid(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now})
	tc := tokenize(t, p, "5555555555554444")
	authID, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(700), IdempotencyKey: "k/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := p.Void(ctx, authID, fmt.Sprintf("k/void-%d", i)); err != nil {
			t.Fatalf("Void #%d: %v", i, err)
		}
	}
	if _, err := p.Capture(ctx, authID, usd(700), "k/capture"); !errors.Is(err, gateway.ErrInvalidState) {
		t.Fatalf("capture after void: %v, want ErrInvalidState", err)
	}
	if err := p.Void(ctx, "auth_missing", "k"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("void unknown: %v, want ErrNotFound", err)
	}
	if _, err := p.Authorize(ctx, gateway.ChargeRequest{Token: "tok_missing", Amount: usd(1), IdempotencyKey: "x"}); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("authorize unknown token: %v, want ErrNotFound", err)
	}
	if _, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(0), IdempotencyKey: "y"}); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Fatalf("authorize zero: %v, want ErrInvalidRequest", err)
	}
	if _, err := p.Capture(ctx, authID, usd(1), ""); !errors.Is(err, gateway.ErrInvalidRequest) {
		t.Fatalf("capture without key: %v, want ErrInvalidRequest", err)
	}
}

func TestSandboxCardExpiresOnFile(t *testing.T) {
	ctx := context.Background()
	clock := &billing.FixedClock{T: now}
	p := NewCardProcessor(newTestPool(t), clock)
	card := testCard("4242424242424242")
	card.ExpMonth, card.ExpYear = 4, 2026
	tc, err := p.Tokenize(ctx, card, billing.Address{})
	if err != nil {
		t.Fatal(err)
	}
	clock.T = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	wantDecline(t, p.Verify(ctx, tc.Token), billing.CodeExpiredCard)
	_, err = p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(1), IdempotencyKey: "monthly"})
	wantDecline(t, err, billing.CodeExpiredCard)
}

// A capture whose answer is lost is found again with the same key, and a second processor on
// the same database (another worker) sees it: exactly one capture.
func TestSandboxLostAnswerAndRestart(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	p := NewCardProcessor(pool, &billing.FixedClock{T: now})
	tc := tokenize(t, p, "4242424242424242")
	authID, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(2500), IdempotencyKey: "pay_9/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	lost := errors.New("connection reset after commit")
	p.SetFault(func(op string, committed bool) error {
		if op == OpCapture && committed {
			return gateway.Transient(billing.CodeProcessingError, lost)
		}
		return nil
	})
	if _, err := p.Capture(ctx, authID, usd(2500), "pay_9/capture"); !errors.Is(err, lost) || !gateway.IsTransient(err) {
		t.Fatalf("Capture with lost answer: %v", err)
	}

	restarted := NewCardProcessor(pool, &billing.FixedClock{T: now})
	capID, err := restarted.Capture(ctx, authID, usd(2500), "pay_9/capture")
	if err != nil {
		t.Fatalf("retry after restart: %v", err)
	}
	if n, _ := restarted.Captures(ctx, authID); n != 1 {
		t.Fatalf("Captures = %d, want 1", n)
	}
	a, _ := restarted.Authorization(ctx, authID)
	if a.CaptureID != capID {
		t.Fatalf("capture %s, authorization shows %s", capID, a.CaptureID)
	}

	p.SetFault(func(op string, committed bool) error {
		if op == OpAuthorize && !committed {
			return &gateway.Decline{Code: "do_not_honor"}
		}
		return nil
	})
	_, err = p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(1), IdempotencyKey: "forced"})
	wantDecline(t, err, "do_not_honor")
	p.SetFault(nil)
}

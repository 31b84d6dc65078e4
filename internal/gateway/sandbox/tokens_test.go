package sandbox

import (
	"context"
	"errors"
	"testing"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// A browser token is redeemed once, before it expires, and answers the card's public facts.
func TestSandboxBrowserTokenIsSingleUseAndShortLived(t *testing.T) {
	ctx := context.Background()
	clock := &billing.FixedClock{T: now}
	p := NewCardProcessor(newTestPool(t), clock)

	card := testCard("4242424242424242")
	card.HolderName = "" // a payment form need not ask
	tok, err := p.CreateBrowserToken(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Card.Brand != gateway.BrandVisa || tok.Card.Last4 != "4242" || tok.Card.ExpMonth != 12 || tok.Card.ExpYear != 2030 {
		t.Fatalf("token card = %+v", tok.Card)
	}
	got, err := p.RedeemToken(ctx, tok.Card.Token)
	if err != nil || got != tok.Card {
		t.Fatalf("RedeemToken = %+v, %v; want %+v", got, err, tok.Card)
	}
	if _, err := p.RedeemToken(ctx, tok.Card.Token); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Code != gateway.CodeTokenAlreadyUsed {
		t.Fatalf("second RedeemToken: %v, want %s", err, gateway.CodeTokenAlreadyUsed)
	}

	late, err := p.CreateBrowserToken(ctx, card)
	if err != nil {
		t.Fatal(err)
	}
	clock.T = now.Add(TokenLifetime)
	if _, err := p.RedeemToken(ctx, late.Card.Token); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Code != gateway.CodeTokenInvalid {
		t.Fatalf("RedeemToken after %s: %v, want %s", TokenLifetime, err, gateway.CodeTokenInvalid)
	}
	// A token PayPortal made from a raw card cannot be taken again as a browser token.
	server := tokenize(t, p, "4242424242424242")
	if _, err := p.RedeemToken(ctx, server.Token); billing.ErrorOf(err) == nil {
		t.Fatalf("RedeemToken of a server-made token succeeded")
	}
	if _, err := p.RedeemToken(ctx, "tok_unknown"); billing.ErrorOf(err) == nil || billing.ErrorOf(err).Code != gateway.CodeTokenInvalid {
		t.Fatalf("RedeemToken(unknown): %v", err)
	}
	if _, err := p.CreateBrowserToken(ctx, testCard("4242424242424241")); billing.ErrorOf(err) == nil {
		t.Fatalf("a number failing Luhn was tokenized: %v", err)
	}
}

// The 3-D Secure card: verified without a challenge, declined off session, and on session
// held only once the cardholder completes the challenge.
func TestSandbox3DSCard(t *testing.T) {
	ctx := context.Background()
	p := NewCardProcessor(newTestPool(t), &billing.FixedClock{T: now}).WithPublicURL("http://portal.test/")
	tc := tokenize(t, p, "4000002500003155")
	if err := p.Verify(ctx, tc.Token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	_, err := p.Authorize(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: "off/authorize"})
	wantDecline(t, err, gateway.CodeAuthenticationRequired)

	for _, completed := range []bool{true, false} {
		key := "pay_3ds_" + map[bool]string{true: "ok", false: "ko"}[completed] + "/authorize"
		a, err := p.AuthorizeOnSession(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: key}, "http://portal.test/back")
		if err != nil {
			t.Fatal(err)
		}
		if want := "http://portal.test" + ChallengePath + "?authorization=" + a.ID; a.RedirectURL != want {
			t.Fatalf("RedirectURL = %q, want %q", a.RedirectURL, want)
		}
		again, err := p.AuthorizeOnSession(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: key}, "http://portal.test/back")
		if err != nil || again != a {
			t.Fatalf("the same key answered %+v, %v; want %+v", again, err, a)
		}
		if _, err := p.Capture(ctx, a.ID, usd(500), key+"/capture"); !errors.Is(err, gateway.ErrInvalidState) {
			t.Fatalf("capture before authentication: %v, want ErrInvalidState", err)
		}
		if c, err := p.LookupCharge(ctx, key); err != nil || c.Status != gateway.ChargeRequiresAction {
			t.Fatalf("LookupCharge = %+v, %v; want requires_action", c, err)
		}
		back, err := p.Authenticate(ctx, a.ID, completed)
		if err != nil || back != "http://portal.test/back" {
			t.Fatalf("Authenticate = %q, %v", back, err)
		}
		want := gateway.ChargeNone
		if completed {
			want = gateway.ChargeAuthorized
		}
		if c, err := p.LookupAuthorization(ctx, a.ID); err != nil || c.Status != want {
			t.Fatalf("LookupAuthorization after completed=%v: %+v, %v; want %s", completed, c, err, want)
		}
		if _, err := p.Authenticate(ctx, a.ID, !completed); !errors.Is(err, gateway.ErrInvalidState) {
			t.Fatalf("the other button after the first: %v, want ErrInvalidState", err)
		}
	}

	// A challenge the payment gave up on (voided) can no longer be completed.
	a, err := p.AuthorizeOnSession(ctx, gateway.ChargeRequest{Token: tc.Token, Amount: usd(500), IdempotencyKey: "pay_void/authorize"}, "http://portal.test/back")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Void(ctx, a.ID, "pay_void/void"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Authenticate(ctx, a.ID, true); !errors.Is(err, gateway.ErrInvalidState) {
		t.Fatalf("completing a voided challenge: %v, want ErrInvalidState", err)
	}
}

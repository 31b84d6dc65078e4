package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// The sandbox's stand-ins for what a card processor does in the customer's browser: the
// tokenization endpoint (Stripe.js / Elements) and the 3-D Secure challenge page. The server
// mounts them in development only (see api.SandboxCards).

// Where the server mounts the browser-facing sandbox pages.
const (
	// TokensPath takes a card from the browser and answers a token (POST, CORS, no API key).
	TokensPath = "/sandbox/v1/tokens" //nolint:gosec // G101: a route, not a credential
	// ChallengePath shows the 3-D Secure challenge (?authorization=); ChallengePath+"/complete"
	// and +"/fail" record the cardholder's click.
	ChallengePath = "/sandbox/v1/3ds/challenge"
)

// TokenLifetime is how long a browser token may wait to be redeemed, as a Stripe token is
// short-lived and single use.
const TokenLifetime = 10 * time.Minute

// BrowserToken is what the tokenization endpoint answers: the token and the card's public
// facts, never the number.
type BrowserToken struct {
	Card      gateway.TokenizedCard
	ExpiresAt time.Time
}

// CreateBrowserToken validates a card typed into a page and stores a single-use token for it:
// brand, last4, expiry and the test card's behaviour, never the number or the CVC. The
// holder's name is optional here (the form may not ask for it), and is not kept either.
func (p *CardProcessor) CreateBrowserToken(ctx context.Context, card gateway.Card) (BrowserToken, error) {
	check := card
	if check.HolderName == "" {
		check.HolderName = "-" // ValidateCard wants one; a token carries none
	}
	now := p.clock.Now()
	if err := gateway.ValidateCard(check, now); err != nil {
		return BrowserToken{}, err
	}
	t := BrowserToken{
		Card: gateway.TokenizedCard{Token: billing.NewID("tok_"), Brand: card.Brand(), Last4: card.Last4(),
			ExpMonth: card.ExpMonth, ExpYear: card.ExpYear},
		ExpiresAt: now.Add(TokenLifetime).UTC().Truncate(time.Microsecond),
	}
	_, err := p.pool.Exec(ctx, `
		INSERT INTO sandbox_cards (token, brand, last4, exp_month, exp_year, behaviour, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.Card.Token, t.Card.Brand, t.Card.Last4, t.Card.ExpMonth, t.Card.ExpYear, string(behaviourOf(card.Number)), t.ExpiresAt)
	if err != nil {
		return BrowserToken{}, fmt.Errorf("create browser token for %v: %w", card, err)
	}
	return t, nil
}

// RedeemToken takes a browser token once, before it expires, and answers its card. Tokens
// PayPortal made itself (Tokenize) were redeemed as they were made.
func (p *CardProcessor) RedeemToken(ctx context.Context, token string) (gateway.TokenizedCard, error) {
	tc := gateway.TokenizedCard{Token: token}
	var expiresAt, redeemedAt *time.Time
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT brand, last4, exp_month, exp_year, expires_at, redeemed_at FROM sandbox_cards WHERE token = $1 FOR UPDATE`,
			token).Scan(&tc.Brand, &tc.Last4, &tc.ExpMonth, &tc.ExpYear, &expiresAt, &redeemedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return billing.Invalid(gateway.CodeTokenInvalid, gateway.ParamToken, "the card token is unknown; tokenize the card again")
		}
		if err != nil {
			return fmt.Errorf("look up token: %w", err)
		}
		switch {
		case redeemedAt != nil:
			return billing.Invalid(gateway.CodeTokenAlreadyUsed, gateway.ParamToken, "the card token was already used; tokenize the card again")
		case expiresAt == nil || !p.clock.Now().Before(*expiresAt):
			return billing.Invalid(gateway.CodeTokenInvalid, gateway.ParamToken, "the card token has expired; tokenize the card again")
		}
		_, err = tx.Exec(ctx, `UPDATE sandbox_cards SET redeemed_at = now() WHERE token = $1`, token)
		return err
	})
	if err != nil {
		return gateway.TokenizedCard{}, fmt.Errorf("redeem card token: %w", err)
	}
	return tc, nil
}

// Challenge is a 3-D Secure authorization as the challenge page shows it.
type Challenge struct {
	AuthorizationID string
	Amount          billing.Money
	Description     string
	Status          string // requires_action while the page is open
}

// Challenge returns the authorization the challenge page is about.
func (p *CardProcessor) Challenge(ctx context.Context, authorizationID string) (Challenge, error) {
	c := Challenge{AuthorizationID: authorizationID}
	err := p.pool.QueryRow(ctx, `
		SELECT amount, currency, description, status FROM sandbox_authorizations WHERE id = $1`, authorizationID).
		Scan(&c.Amount.Amount, &c.Amount.Currency, &c.Description, &c.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("authorization %s: %w", authorizationID, gateway.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("authorization %s: %w", authorizationID, err)
	}
	return c, nil
}

// Authenticate is the cardholder's click on the challenge page: completed (the money is
// then held) or failed. It answers where to send the cardholder back. Clicking the same
// again changes nothing; an authorization no longer waiting (voided after a timeout, say) is
// ErrInvalidState.
func (p *CardProcessor) Authenticate(ctx context.Context, authorizationID string, completed bool) (returnURL string, err error) {
	to := "authentication_failed"
	if completed {
		to = "authorized"
	}
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status, return_url FROM sandbox_authorizations WHERE id = $1 FOR UPDATE`,
			authorizationID).Scan(&status, &returnURL)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("authorization: %w", gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock authorization: %w", err)
		}
		switch status {
		case to:
			return nil
		case "requires_action":
			_, err = tx.Exec(ctx, `UPDATE sandbox_authorizations SET status = $2 WHERE id = $1`, authorizationID, to)
			return err
		}
		return fmt.Errorf("%w: the authorization is %s", gateway.ErrInvalidState, status)
	})
	if err != nil {
		return "", fmt.Errorf("authenticate %s: %w", authorizationID, err)
	}
	return returnURL, nil
}

// LookupAuthorization answers where an authorization stands by its id.
func (p *CardProcessor) LookupAuthorization(ctx context.Context, authorizationID string) (gateway.Charge, error) {
	if err := p.inject(OpLookup, false); err != nil {
		return gateway.Charge{}, err
	}
	c := gateway.Charge{AuthorizationID: authorizationID}
	var status string
	var captureID *string
	err := p.pool.QueryRow(ctx, `
		SELECT a.status, a.amount, a.currency, c.id
		FROM sandbox_authorizations a LEFT JOIN sandbox_captures c ON c.authorization_id = a.id
		WHERE a.id = $1`, authorizationID).Scan(&status, &c.Amount.Amount, &c.Amount.Currency, &captureID)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Charge{}, fmt.Errorf("authorization %s: %w", authorizationID, gateway.ErrNotFound)
	}
	if err != nil {
		return gateway.Charge{}, fmt.Errorf("look up authorization %s: %w", authorizationID, err)
	}
	c.Status = chargeStatus(status)
	if captureID != nil {
		c.CaptureID = *captureID
	}
	return c, p.inject(OpLookup, true)
}

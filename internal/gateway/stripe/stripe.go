// Package stripe is PayPortal's card processor on Stripe: PaymentMethods as tokens,
// SetupIntents to verify a card on file, manual-capture PaymentIntents to authorize, capture,
// void and refund.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// DefaultBackendURL is Stripe's API.
const DefaultBackendURL = "https://api.stripe.com"

// Config says which Stripe to talk to and as whom.
type Config struct {
	APIKey     string       // sk_live_... or sk_test_...
	BackendURL string       // "" for DefaultBackendURL; stripe-mock in tests
	HTTPClient *http.Client // nil: a client with stripe-go's default 80 s timeout
	// Tracing makes a span of each call to Stripe; nil: OpenTelemetry's global provider.
	Tracing trace.TracerProvider
}

// Processor is a gateway.CardProcessor on Stripe.
type Processor struct {
	sc  *stripe.Client
	now func() time.Time // the lookups' windows are measured from it
}

var (
	_ gateway.CardProcessor = (*Processor)(nil)
	_ gateway.CaptureLister = (*Processor)(nil)
)

// New returns a processor; it does not call Stripe yet.
func New(cfg Config) (*Processor, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("stripe: APIKey is required")
	}
	url := cfg.BackendURL
	if url == "" {
		url = DefaultBackendURL
	}
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:        stripe.String(strings.TrimRight(url, "/")),
		HTTPClient: tracedClient(cfg.HTTPClient, cfg.Tracing),
		// Temporal's activity retries are the one retry loop: retrying inside too would
		// multiply attempts and hide transient failures from the workflow.
		MaxNetworkRetries: stripe.Int64(0),
		// Failures are returned to the caller, who logs them once, redacted.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &Processor{sc: stripe.NewClient(cfg.APIKey, stripe.WithBackends(backends)), now: time.Now}, nil
}

// tracedClient is hc (or a client with stripe-go's default timeout) whose transport makes a
// client span of each request, named "stripe" and the method (paths hold object ids). The
// trace context is not sent: Stripe is not part of PayPortal's traces.
func tracedClient(hc *http.Client, tp trace.TracerProvider) *http.Client {
	traced := http.Client{Timeout: 80 * time.Second}
	if hc != nil {
		traced = *hc
	}
	opts := []otelhttp.Option{
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "stripe " + r.Method }),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
	}
	if tp != nil {
		opts = append(opts, otelhttp.WithTracerProvider(tp))
	}
	traced.Transport = otelhttp.NewTransport(traced.Transport, opts...)
	return &traced
}

// Tokenize creates a card PaymentMethod from the raw card. Stripe accepts raw numbers only
// from accounts enabled for it (PCI SAQ D); others must tokenize in the browser. It never
// declines: Stripe checks the card when it is verified or charged.
func (p *Processor) Tokenize(ctx context.Context, card gateway.Card, addr billing.Address) (gateway.TokenizedCard, error) {
	params := &stripe.PaymentMethodCreateParams{
		Type: stripe.String(string(stripe.PaymentMethodTypeCard)),
		Card: &stripe.PaymentMethodCreateCardParams{
			Number:   stripe.String(gateway.NormalizeCardNumber(card.Number)),
			ExpMonth: stripe.Int64(int64(card.ExpMonth)),
			ExpYear:  stripe.Int64(int64(card.ExpYear)),
			CVC:      stripe.String(card.CVC),
		},
		BillingDetails: &stripe.PaymentMethodCreateBillingDetailsParams{
			Name: stripe.String(card.HolderName),
			Address: &stripe.AddressParams{
				Line1:      optional(addr.Line1),
				Line2:      optional(addr.Line2),
				City:       optional(addr.City),
				State:      optional(addr.State),
				PostalCode: optional(addr.PostalCode),
				Country:    optional(addr.Country),
			},
		},
	}
	pm, err := p.sc.V1PaymentMethods.Create(ctx, params)
	if err != nil {
		return gateway.TokenizedCard{}, fmt.Errorf("tokenize %v: %w", card, tokenizeError(err))
	}
	if pm.Card == nil {
		return gateway.TokenizedCard{}, fmt.Errorf("tokenize %v: payment method %s has no card", card, pm.ID)
	}
	return gateway.TokenizedCard{
		Token:    pm.ID,
		Brand:    string(pm.Card.Brand),
		Last4:    pm.Card.Last4,
		ExpMonth: int(pm.Card.ExpMonth),
		ExpYear:  int(pm.Card.ExpYear),
	}, nil
}

// Verify saves the card on a new Customer through a confirmed off-session SetupIntent: Stripe
// checks the card with its network without charging it, and the saved card can then be
// charged every month. The idempotency keys derive from the token, so verifying again
// replays the first answer.
func (p *Processor) Verify(ctx context.Context, token string) error {
	pm, err := p.sc.V1PaymentMethods.Retrieve(ctx, token, nil)
	if err != nil {
		return fmt.Errorf("verify %s: %w", token, classify(err))
	}
	customerID := ""
	if pm.Customer != nil {
		customerID = pm.Customer.ID
	} else {
		cp := &stripe.CustomerCreateParams{Description: stripe.String("PayPortal card " + token)}
		if pm.BillingDetails != nil && pm.BillingDetails.Name != "" {
			cp.Name = stripe.String(pm.BillingDetails.Name)
		}
		cp.SetIdempotencyKey("payportal-verify-customer-" + token)
		cus, err := p.sc.V1Customers.Create(ctx, cp)
		if err != nil {
			return fmt.Errorf("verify %s: create customer: %w", token, classify(err))
		}
		customerID = cus.ID
	}
	sp := &stripe.SetupIntentCreateParams{
		Customer:           stripe.String(customerID),
		PaymentMethod:      stripe.String(token),
		PaymentMethodTypes: []*string{stripe.String(string(stripe.PaymentMethodTypeCard))},
		Confirm:            stripe.Bool(true),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
	}
	sp.SetIdempotencyKey("payportal-verify-setup-" + token)
	si, err := p.sc.V1SetupIntents.Create(ctx, sp)
	if err != nil {
		return fmt.Errorf("verify %s: %w", token, classify(err))
	}
	switch si.Status {
	case stripe.SetupIntentStatusSucceeded:
		return nil
	case stripe.SetupIntentStatusRequiresAction:
		// 3-D Secure needs the cardholder, who is not there: the card cannot be on file.
		return fmt.Errorf("verify %s: %w", token, &gateway.Decline{Code: gateway.CodeAuthenticationRequired,
			Message: "The card requires authentication."})
	case stripe.SetupIntentStatusProcessing:
		return fmt.Errorf("verify %s: %w", token, &gateway.TransientError{Code: billing.CodeProcessingError,
			Message: "setup intent " + si.ID + " is processing"})
	}
	return fmt.Errorf("verify %s: %w", token, declineOf(si.LastSetupError, "setup intent "+si.ID+" is "+string(si.Status)))
}

// Authorize confirms a manual-capture PaymentIntent, so the money is held until Capture. A
// card saved on a customer is charged off-session (the customer is not there for monthly
// charges); any other card fails instead of asking for 3-D Secure, which an asynchronous
// payment cannot show (AuthorizeOnSession can). The intent carries the idempotency key (and
// the payment it was made for) in its metadata: Stripe cannot find an intent by idempotency
// key, and LookupCharge and CapturesSince need to.
func (p *Processor) Authorize(ctx context.Context, req gateway.ChargeRequest) (string, error) {
	a, err := p.authorize(ctx, req, "")
	if err != nil {
		return "", err
	}
	if a.RedirectURL != "" {
		return "", fmt.Errorf("authorize %s for %s: %w", req.Amount, req.Token, &gateway.Decline{
			Code: gateway.CodeAuthenticationRequired, Message: "The card requires authentication."})
	}
	return a.ID, nil
}

// AuthorizeOnSession confirms the PaymentIntent with a return_url and lets Stripe answer
// requires_action (no error_on_requires_action): the cardholder is sent to
// next_action.redirect_to_url, and Stripe sends them back to returnURL with
// ?payment_intent=<id>.
func (p *Processor) AuthorizeOnSession(ctx context.Context, req gateway.ChargeRequest, returnURL string) (gateway.Authorization, error) {
	if strings.TrimSpace(returnURL) == "" {
		return gateway.Authorization{}, fmt.Errorf("authorize %s on session: %w: a return URL is required", req.Amount, gateway.ErrInvalidRequest)
	}
	return p.authorize(ctx, req, returnURL)
}

// authorize creates and confirms the intent: off session (or failing on 3-D Secure) without
// returnURL, on session with it.
func (p *Processor) authorize(ctx context.Context, req gateway.ChargeRequest, returnURL string) (gateway.Authorization, error) {
	if err := checkKey(req.IdempotencyKey); err != nil {
		return gateway.Authorization{}, fmt.Errorf("authorize %s: %w", req.Amount, err)
	}
	fail := func(err error) (gateway.Authorization, error) {
		return gateway.Authorization{}, fmt.Errorf("authorize %s for %s: %w", req.Amount, req.Token, err)
	}
	pm, err := p.sc.V1PaymentMethods.Retrieve(ctx, req.Token, nil)
	if err != nil {
		return fail(classify(err))
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(req.Amount.Amount),
		Currency:           stripe.String(strings.ToLower(req.Amount.Currency)),
		PaymentMethod:      stripe.String(req.Token),
		PaymentMethodTypes: []*string{stripe.String(string(stripe.PaymentMethodTypeCard))},
		CaptureMethod:      stripe.String(string(stripe.PaymentIntentCaptureMethodManual)),
		Confirm:            stripe.Bool(true),
		Metadata:           authorizeMetadata(req.IdempotencyKey),
	}
	if req.Description != "" {
		params.Description = stripe.String(req.Description)
	}
	if pm.Customer != nil {
		params.Customer = stripe.String(pm.Customer.ID)
	}
	switch {
	case returnURL != "":
		params.ReturnURL = stripe.String(returnURL)
	case pm.Customer != nil:
		params.OffSession = stripe.Bool(true)
	default:
		params.ErrorOnRequiresAction = stripe.Bool(true)
	}
	params.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := p.sc.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		return fail(classify(err))
	}
	if pi.Status == stripe.PaymentIntentStatusProcessing {
		// A repeat of this key replays this very answer for 24 h, so look at the intent
		// itself to see whether it has moved on.
		if pi, err = p.sc.V1PaymentIntents.Retrieve(ctx, pi.ID, nil); err != nil {
			return fail(classify(err))
		}
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusRequiresCapture:
		return gateway.Authorization{ID: pi.ID}, nil
	case stripe.PaymentIntentStatusProcessing:
		return fail(&gateway.TransientError{Code: billing.CodeProcessingError, Message: "payment intent " + pi.ID + " is processing"})
	case stripe.PaymentIntentStatusRequiresAction:
		if url := redirectURL(pi); url != "" {
			return gateway.Authorization{ID: pi.ID, RedirectURL: url}, nil
		}
		return fail(&gateway.Decline{Code: gateway.CodeAuthenticationRequired, Message: "The card requires authentication."})
	}
	return fail(declineOf(pi.LastPaymentError, "payment intent "+pi.ID+" is "+string(pi.Status)))
}

// redirectURL is where a requires_action intent sends the cardholder, or "" when its next
// action is not a redirect (one that only Stripe.js can handle).
func redirectURL(pi *stripe.PaymentIntent) string {
	if pi.NextAction == nil || pi.NextAction.RedirectToURL == nil {
		return ""
	}
	return pi.NextAction.RedirectToURL.URL
}

// LookupAuthorization retrieves the PaymentIntent: what the cardholder's return from 3-D
// Secure is checked against.
func (p *Processor) LookupAuthorization(ctx context.Context, authorizationID string) (gateway.Charge, error) {
	pi, err := p.sc.V1PaymentIntents.Retrieve(ctx, authorizationID, nil)
	if err != nil {
		return gateway.Charge{}, fmt.Errorf("look up payment intent %s: %w", authorizationID, classify(err))
	}
	c, err := chargeOf(pi)
	if err != nil {
		return gateway.Charge{}, fmt.Errorf("look up payment intent %s: %w", authorizationID, err)
	}
	return c, nil
}

// RedeemToken reads a PaymentMethod made by Stripe.js in the customer's browser (pm_...):
// the card's public facts. Stripe keeps the card; PayPortal never sees its number.
func (p *Processor) RedeemToken(ctx context.Context, token string) (gateway.TokenizedCard, error) {
	if !strings.HasPrefix(token, "pm_") {
		return gateway.TokenizedCard{}, billing.Invalid(gateway.CodeTokenInvalid, gateway.ParamToken,
			"the token must be a Stripe PaymentMethod id (pm_...) made by Stripe.js")
	}
	pm, err := p.sc.V1PaymentMethods.Retrieve(ctx, token, nil)
	if err != nil {
		err = classify(err)
		if errors.Is(err, gateway.ErrNotFound) {
			return gateway.TokenizedCard{}, billing.Invalid(gateway.CodeTokenInvalid, gateway.ParamToken,
				"Stripe does not know this PaymentMethod; tokenize the card again")
		}
		return gateway.TokenizedCard{}, fmt.Errorf("redeem %s: %w", token, err)
	}
	if pm.Card == nil {
		return gateway.TokenizedCard{}, billing.Invalid(gateway.CodeTokenInvalid, gateway.ParamToken,
			"the PaymentMethod is not a card")
	}
	return gateway.TokenizedCard{Token: pm.ID, Brand: string(pm.Card.Brand), Last4: pm.Card.Last4,
		ExpMonth: int(pm.Card.ExpMonth), ExpYear: int(pm.Card.ExpYear)}, nil
}

// Capture captures the PaymentIntent. Stripe captures the intent itself, so its id also
// names the capture, and refunds refer to it.
func (p *Processor) Capture(ctx context.Context, authorizationID string, amount billing.Money, idempotencyKey string) (string, error) {
	if err := checkKey(idempotencyKey); err != nil {
		return "", fmt.Errorf("capture %s: %w", authorizationID, err)
	}
	params := &stripe.PaymentIntentCaptureParams{AmountToCapture: stripe.Int64(amount.Amount)}
	params.SetIdempotencyKey(idempotencyKey)
	pi, err := p.sc.V1PaymentIntents.Capture(ctx, authorizationID, params)
	if err != nil {
		return "", fmt.Errorf("capture %s of %s: %w", amount, authorizationID, classify(err))
	}
	return pi.ID, nil
}

// Void cancels the PaymentIntent, releasing the hold. Cancelling an intent already canceled
// succeeds.
func (p *Processor) Void(ctx context.Context, authorizationID, idempotencyKey string) error {
	if err := checkKey(idempotencyKey); err != nil {
		return fmt.Errorf("void %s: %w", authorizationID, err)
	}
	params := &stripe.PaymentIntentCancelParams{}
	params.SetIdempotencyKey(idempotencyKey)
	_, err := p.sc.V1PaymentIntents.Cancel(ctx, authorizationID, params)
	var se *stripe.Error
	if errors.As(err, &se) && se.Code == stripe.ErrorCodePaymentIntentUnexpectedState &&
		se.PaymentIntent != nil && se.PaymentIntent.Status == stripe.PaymentIntentStatusCanceled {
		return nil
	}
	if err != nil {
		return fmt.Errorf("void %s: %w", authorizationID, classify(err))
	}
	return nil
}

// Refund refunds part or all of a captured PaymentIntent.
func (p *Processor) Refund(ctx context.Context, captureID string, amount billing.Money, idempotencyKey string) (string, error) {
	if err := checkKey(idempotencyKey); err != nil {
		return "", fmt.Errorf("refund %s: %w", captureID, err)
	}
	params := &stripe.RefundCreateParams{
		PaymentIntent: stripe.String(captureID),
		Amount:        stripe.Int64(amount.Amount),
	}
	params.SetIdempotencyKey(idempotencyKey)
	r, err := p.sc.V1Refunds.Create(ctx, params)
	if err != nil {
		return "", fmt.Errorf("refund %s of %s: %w", amount, captureID, classify(err))
	}
	if r.Status == stripe.RefundStatusFailed || r.Status == stripe.RefundStatusCanceled {
		return "", fmt.Errorf("refund %s of %s: %w: refund %s is %s", amount, captureID, gateway.ErrInvalidState, r.ID, r.Status)
	}
	return r.ID, nil
}

func checkKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("%w: an idempotency key is required", gateway.ErrInvalidRequest)
	}
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return stripe.String(s)
}

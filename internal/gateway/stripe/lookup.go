package stripe

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// Stripe's own records, for the sagas' and the reconciler's questions. Stripe cannot look a
// PaymentIntent up by the idempotency key that created it, so Authorize writes the key into
// the intent's metadata, and the lookups find intents by it.

// Metadata keys Authorize sets on every PaymentIntent it creates.
const (
	MetadataKey       = "payportal_key"        // the authorize idempotency key, "pay_x/authorize"
	MetadataPaymentID = "payportal_payment_id" // the payment, "pay_x", when the key names it
)

const (
	// searchLag is how far behind Stripe's Search index may be: under a minute normally, up
	// to an hour during Stripe's outages. An intent created within it may not be searchable
	// yet, so a lookup that searched in vain lists this window too before answering none.
	searchLag = 2 * time.Hour
	// unsearchableLookback is how far back a lookup lists when Search is unavailable (it is
	// not offered to merchants in India): the life of an uncaptured card authorization. The
	// sagas and the reconciler ask within minutes of the step, so this covers them with room.
	unsearchableLookback = 7 * 24 * time.Hour
	// captureWindow is how long before a capture its PaymentIntent can have been created:
	// Stripe lets a card authorization be captured for 7 days; a day's margin on top.
	captureWindow = 8 * 24 * time.Hour
	// maxListed bounds how many intents one lookup lists. Past it, the lookup cannot rule an
	// intent out and says so instead of answering none.
	maxListed = 5000
)

// LookupCharge finds the PaymentIntent that Authorize created under authorizeKey and tells
// where it stands. It searches by metadata; when Search is unavailable, or finds nothing, it
// lists the recent intents too, since Search lags behind writes and a lost answer is usually
// recent. No intent answers ChargeNone.
func (p *Processor) LookupCharge(ctx context.Context, authorizeKey string) (gateway.Charge, error) {
	if err := checkKey(authorizeKey); err != nil {
		return gateway.Charge{}, fmt.Errorf("look up stripe charge: %w", err)
	}
	intents, searchErr := p.searchByKey(ctx, authorizeKey)
	if len(intents) == 0 {
		window := searchLag
		if searchErr != nil {
			window = unsearchableLookback
		}
		var err error
		if intents, err = p.listByKey(ctx, authorizeKey, p.now().Add(-window)); err != nil {
			if searchErr != nil {
				err = fmt.Errorf("%w (search failed too: %v)", err, searchErr)
			}
			return gateway.Charge{}, fmt.Errorf("look up stripe charge %s: %w", authorizeKey, err)
		}
	}
	if len(intents) == 0 {
		return gateway.Charge{Status: gateway.ChargeNone}, nil
	}
	c, err := chargeOf(mostAdvanced(intents))
	if err != nil {
		return gateway.Charge{}, fmt.Errorf("look up stripe charge %s: %w", authorizeKey, err)
	}
	return c, nil
}

// CapturesSince lists the captures of PayPortal's PaymentIntents made since since: the
// succeeded intents that carry PayPortal's metadata. Stripe lists intents by creation, and a
// capture follows its authorization by up to 7 days, so the intents created in that window
// before since are listed too; the capture's own time is its balance transaction's. A capture
// whose time Stripe does not give is kept: listing one too many costs the reconciler a look,
// one too few could hide money taken.
func (p *Processor) CapturesSince(ctx context.Context, since time.Time) ([]gateway.Capture, error) {
	params := &stripe.PaymentIntentListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Add(-captureWindow).Unix()},
	}
	params.Limit = stripe.Int64(100)
	params.AddExpand("data.latest_charge.balance_transaction")
	var captures []gateway.Capture
	for pi, err := range p.sc.V1PaymentIntents.List(ctx, params) {
		if err != nil {
			return nil, fmt.Errorf("list stripe captures since %s: %w", since.Format(time.RFC3339), classify(err))
		}
		key := pi.Metadata[MetadataKey]
		if pi.Status != stripe.PaymentIntentStatusSucceeded || key == "" {
			continue
		}
		c := gateway.Capture{
			CaptureID: pi.ID, // what Capture returns and Refund takes
			PaymentID: pi.Metadata[MetadataPaymentID],
			Amount:    capturedAmount(pi),
			CreatedAt: time.Unix(pi.Created, 0).UTC(),
		}
		if c.PaymentID == "" {
			c.PaymentID = paymentIDOf(key)
		}
		known := false
		if ch := pi.LatestCharge; ch != nil {
			c.Refunded = ch.AmountRefunded
			if bt := ch.BalanceTransaction; bt != nil && bt.Created != 0 {
				c.CreatedAt, known = time.Unix(bt.Created, 0).UTC(), true
			}
		}
		if known && c.CreatedAt.Before(since) {
			continue
		}
		captures = append(captures, c)
	}
	slices.SortFunc(captures, func(a, b gateway.Capture) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.CaptureID, b.CaptureID))
	})
	return captures, nil
}

// chargeOf reads a PaymentIntent as a gateway.Charge.
func chargeOf(pi *stripe.PaymentIntent) (gateway.Charge, error) {
	c := gateway.Charge{
		AuthorizationID: pi.ID,
		Amount:          billing.Money{Amount: pi.Amount, Currency: strings.ToUpper(string(pi.Currency))},
	}
	switch pi.Status {
	case stripe.PaymentIntentStatusRequiresCapture:
		c.Status = gateway.ChargeAuthorized
	case stripe.PaymentIntentStatusSucceeded:
		// Capture names the capture by the intent's id, and Refund takes that id.
		c.Status, c.CaptureID, c.Amount = gateway.ChargeCaptured, pi.ID, capturedAmount(pi)
		if pi.LatestCharge != nil {
			c.Refunded = pi.LatestCharge.AmountRefunded
		}
	case stripe.PaymentIntentStatusCanceled:
		// Voided, or the authorization expired uncaptured: either way the hold is gone.
		c.Status = gateway.ChargeVoided
	case stripe.PaymentIntentStatusRequiresPaymentMethod,
		stripe.PaymentIntentStatusRequiresConfirmation:
		// Nothing is held. requires_payment_method is where a declined confirmation (or a
		// failed 3-D Secure) leaves the intent; requires_confirmation an intent never
		// confirmed. AuthorizationID stays set so the intent can still be cancelled for
		// tidiness.
		c.Status = gateway.ChargeNone
	case stripe.PaymentIntentStatusRequiresAction:
		// Waiting for the cardholder's 3-D Secure: nothing held until they complete it.
		c.Status = gateway.ChargeRequiresAction
	case stripe.PaymentIntentStatusProcessing:
		// The outcome is not known yet, even to Stripe: ask again shortly.
		return gateway.Charge{}, &gateway.TransientError{Code: billing.CodeProcessingError,
			Message: "payment intent " + pi.ID + " is processing"}
	default:
		return gateway.Charge{}, fmt.Errorf("payment intent %s has the unknown status %q", pi.ID, pi.Status)
	}
	return c, nil
}

// capturedAmount is what a succeeded intent took: amount_received, which a partial capture
// makes smaller than the amount authorized.
func capturedAmount(pi *stripe.PaymentIntent) billing.Money {
	m := billing.Money{Amount: pi.AmountReceived, Currency: strings.ToUpper(string(pi.Currency))}
	if m.Amount == 0 {
		m.Amount = pi.Amount
	}
	return m
}

// mostAdvanced picks, of several intents made under one key (possible only once Stripe
// forgot the key, after 24 h), the one that matters most for the money: captured, then
// held, then in flight, then released; the newest among equals.
func mostAdvanced(intents []*stripe.PaymentIntent) *stripe.PaymentIntent {
	rank := func(pi *stripe.PaymentIntent) int {
		switch pi.Status {
		case stripe.PaymentIntentStatusSucceeded:
			return 4
		case stripe.PaymentIntentStatusRequiresCapture:
			return 3
		case stripe.PaymentIntentStatusProcessing:
			return 2
		case stripe.PaymentIntentStatusCanceled:
			return 1
		}
		return 0
	}
	return slices.MaxFunc(intents, func(a, b *stripe.PaymentIntent) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Created, b.Created))
	})
}

// searchByKey finds the intents whose metadata names key through Stripe's Search API.
func (p *Processor) searchByKey(ctx context.Context, key string) ([]*stripe.PaymentIntent, error) {
	params := &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{Query: keyQuery(key)}}
	params.AddExpand("data.latest_charge")
	var found []*stripe.PaymentIntent
	for pi, err := range p.sc.V1PaymentIntents.Search(ctx, params) {
		if err != nil {
			return nil, classify(err)
		}
		if pi.Metadata[MetadataKey] == key { // Search matches exactly; checked all the same
			found = append(found, pi)
		}
	}
	return found, nil
}

// listByKey lists the intents created since since and keeps those whose metadata names key.
// Stripe cannot filter a list by metadata, so every intent of the window is read, up to
// maxListed.
func (p *Processor) listByKey(ctx context.Context, key string, since time.Time) ([]*stripe.PaymentIntent, error) {
	params := &stripe.PaymentIntentListParams{CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Unix()}}
	params.Limit = stripe.Int64(100)
	params.AddExpand("data.latest_charge")
	var found []*stripe.PaymentIntent
	listed := 0
	for pi, err := range p.sc.V1PaymentIntents.List(ctx, params) {
		if err != nil {
			return nil, classify(err)
		}
		if pi.Metadata[MetadataKey] == key {
			found = append(found, pi)
		}
		if listed++; listed < maxListed {
			continue
		}
		if len(found) > 0 {
			return found, nil
		}
		// Too many intents to read them all: "none" would be a guess. Search catches up
		// within the hour, so asking again later finds the intent if there is one.
		return nil, &gateway.TransientError{Code: billing.CodeProcessingError,
			Message: fmt.Sprintf("more than %d payment intents since %s: cannot rule out one for %s",
				maxListed, since.Format(time.RFC3339), key)}
	}
	return found, nil
}

// keyQuery is the Search query for intents whose metadata names key. Quotes and backslashes
// in the value are escaped with a backslash, as Stripe's query language wants.
func keyQuery(key string) string {
	v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(key)
	return "metadata['" + MetadataKey + "']:'" + v + "'"
}

// authorizeMetadata is the metadata Authorize puts on its PaymentIntent.
func authorizeMetadata(key string) map[string]string {
	md := map[string]string{MetadataKey: key}
	if id := paymentIDOf(key); id != "" {
		md[MetadataPaymentID] = id
	}
	return md
}

// paymentIDOf is the payment an idempotency key was made for: "pay_x" of "pay_x/authorize",
// or "" for a key of another shape.
func paymentIDOf(key string) string {
	id, _, found := strings.Cut(key, "/")
	if !found {
		return ""
	}
	return id
}

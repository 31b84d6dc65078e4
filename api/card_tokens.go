package api

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
)

// SandboxCards is what the sandbox card processor does in the customer's browser: the
// tokenization endpoint (the stand-in for Stripe.js) and the 3-D Secure challenge page. nil
// with Stripe, and outside development.
type SandboxCards interface {
	CreateBrowserToken(ctx context.Context, card gateway.Card) (sandbox.BrowserToken, error)
	Challenge(ctx context.Context, authorizationID string) (sandbox.Challenge, error)
	Authenticate(ctx context.Context, authorizationID string, completed bool) (returnURL string, err error)
}

// cardOrToken checks a card request's card source: exactly one of a raw card (refused when
// RefuseRawCards, i.e. production without PAYPORTAL_ALLOW_RAW_CARDS) or a processor token.
// It answers the token, "" for a raw card.
func (s *Server) cardOrToken(card *gateway.Card, token *string) (string, error) {
	switch {
	case card != nil && token != nil:
		return "", billing.Invalid(billing.CodeInvalidValue, "token", "send either card or token, not both")
	case token != nil:
		t := strings.TrimSpace(*token)
		if t == "" {
			return "", missing("token")
		}
		if !isOrderID(t) { // up to 64 letters, digits, - and _: what processor ids are made of
			return "", billing.Invalid(gateway.CodeTokenInvalid, "token", "token is not a card token from the processor")
		}
		return t, nil
	case card == nil:
		return "", billing.Invalid(billing.CodeMissingField, "card",
			"card or token is required: tokenize the card in the browser and send its token (or, where allowed, card)")
	case s.RefuseRawCards:
		return "", billing.Invalid(billing.CodeRawCardNotAllowed, "card",
			"this server takes no raw card numbers: tokenize the card in the browser (Stripe.js) and send token instead")
	}
	return "", gateway.ValidateCard(*card, s.Clock.Now()) // holder's name included
}

// cardAuthenticationReturn is where the processor sends the cardholder back after 3-D Secure,
// with the authorization's id in ?payment_intent= (Stripe's name, which the sandbox uses
// too). Like the PayPal return, it is not authenticated: the id is the capability, and it
// only nudges the saga, which asks the processor. While the payment waited, the buyer is then
// sent to its return_url; otherwise the answer is the payment.
func (s *Server) cardAuthenticationReturn(c *gin.Context) {
	id := c.Query("payment_intent")
	if id == "" {
		s.writeError(c, missing("payment_intent"))
		return
	}
	if !isOrderID(id) {
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "payment_intent", "payment_intent is not an authorization id"))
		return
	}
	p, waited, err := s.Payments.CardAuthenticationReturn(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if waited && p.ReturnURL != "" {
		c.Redirect(http.StatusFound, p.ReturnURL)
		return
	}
	s.answerReturn(c, p)
}

// sandboxCardRoutes mounts the sandbox's browser pages; none takes an API key.
func (s *Server) sandboxCardRoutes(r *gin.RouterGroup) {
	if s.SandboxCards == nil {
		return
	}
	r.OPTIONS(sandbox.TokensPath, tokenCORS, func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.POST(sandbox.TokensPath, tokenCORS, s.createSandboxToken)
	r.GET(sandbox.ChallengePath, s.sandboxChallengePage)
	r.POST(sandbox.ChallengePath+"/complete", s.sandboxChallengeDecision(true))
	r.POST(sandbox.ChallengePath+"/fail", s.sandboxChallengeDecision(false))
}

// tokenCORS lets any page call the tokenization endpoint from the browser, as Stripe.js does
// Stripe's: it takes no credentials and answers only a token and public facts.
func tokenCORS(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
	h.Set("Access-Control-Max-Age", "600")
}

type sandboxTokenJSON struct {
	ID        string               `json:"id"`
	Object    string               `json:"object"`
	Card      sandboxTokenCardJSON `json:"card"`
	ExpiresAt string               `json:"expires_at"`
}

type sandboxTokenCardJSON struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

// createSandboxToken takes {number, exp_month, exp_year, cvc[, holder_name]} and answers a
// single-use token; the number and CVC are checked and dropped.
func (s *Server) createSandboxToken(c *gin.Context) {
	var card gateway.Card
	if err := decodeJSON(c, &card); err != nil {
		s.writeError(c, err)
		return
	}
	t, err := s.SandboxCards.CreateBrowserToken(c.Request.Context(), card)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, sandboxTokenJSON{ID: t.Card.Token, Object: "token", ExpiresAt: timestamp(t.ExpiresAt),
		Card: sandboxTokenCardJSON{Brand: t.Card.Brand, Last4: t.Card.Last4, ExpMonth: t.Card.ExpMonth, ExpYear: t.Card.ExpYear}})
}

var challengePage = template.Must(template.New("challenge").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>3-D Secure sandbox</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto}button{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}</style>
</head>
<body>
<h1>3-D Secure sandbox</h1>
<p>This page stands in for the card issuer's authentication in development: no money moves.</p>
<p>Authenticate the payment of <strong id="amount">{{.Amount}}</strong>{{with .Description}} for {{.}}{{end}}.</p>
{{if .Open}}
<form method="post" action="{{.CompleteAction}}"><button type="submit" id="complete">Complete authentication</button></form>
<form method="post" action="{{.FailAction}}"><button type="submit" id="fail">Fail authentication</button></form>
{{else}}
<p id="status">This authentication is {{.Status}}.</p>
{{end}}
</body>
</html>
`))

func challengeID(c *gin.Context) (string, error) {
	id := c.Query("authorization")
	if id == "" {
		return "", missing("authorization")
	}
	if !isOrderID(id) {
		return "", billing.Invalid(billing.CodeInvalidValue, "authorization", "authorization is not an authorization id")
	}
	return id, nil
}

// sandboxChallengePage is the page next_action.redirect_url opens for a card that wants 3-D
// Secure: the amount, Complete and Fail.
func (s *Server) sandboxChallengePage(c *gin.Context) {
	id, err := challengeID(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	ch, err := s.SandboxCards.Challenge(c.Request.Context(), id)
	if err != nil {
		s.writeError(c, challengeError(err))
		return
	}
	q := "?authorization=" + url.QueryEscape(ch.AuthorizationID)
	s.sandboxPage(c, challengePage, "sandbox 3-D Secure challenge", map[string]any{
		"Amount": ch.Amount.String(), "Description": ch.Description, "Status": ch.Status,
		"Open":           ch.Status == "requires_action",
		"CompleteAction": sandbox.ChallengePath + "/complete" + q,
		"FailAction":     sandbox.ChallengePath + "/fail" + q,
	})
}

// sandboxChallengeDecision records the cardholder's click, then sends the browser to the
// return URL the authorization was made with, as an issuer's page would.
func (s *Server) sandboxChallengeDecision(completed bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := challengeID(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		returnURL, err := s.SandboxCards.Authenticate(c.Request.Context(), id, completed)
		if err != nil {
			s.writeError(c, challengeError(err))
			return
		}
		sep := "?"
		if strings.Contains(returnURL, "?") {
			sep = "&"
		}
		c.Redirect(http.StatusSeeOther, returnURL+sep+"payment_intent="+url.QueryEscape(id))
	}
}

func challengeError(err error) error {
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return billing.NotFound("authorization")
	case errors.Is(err, gateway.ErrInvalidState):
		return billing.Conflict("authentication_not_open", "the 3-D Secure authentication can no longer be completed or failed")
	}
	return err
}

// The return path is the activities' (where the saga tells the processor to send the
// cardholder back); declared once there.
var cardAuthenticationReturnPath = activities.CardAuthenticationReturnPath

package api

import (
	"context"
	"errors"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/i18n"
	"github.com/payportal/payportal/internal/portal"
)

// PaymentService takes one-time payments.
type PaymentService interface {
	Create(ctx context.Context, accountID string, in portal.NewPayment) (p billing.Payment, created bool, err error)
	List(ctx context.Context, accountID string, page billing.ListParams) ([]billing.Payment, bool, error)
	Get(ctx context.Context, accountID, paymentID string) (billing.Payment, error)
	// Cancel cancels a payment waiting for the buyer; replayed: an earlier request with the
	// same Idempotency-Key (optional, "" for none) did it, and this one did nothing.
	Cancel(ctx context.Context, accountID, paymentID, idempotencyKey string) (p billing.Payment, replayed bool, err error)
	// CardAuthenticationReturn passes the cardholder's return from 3-D Secure on, as
	// PayPalReturn does the buyer's.
	CardAuthenticationReturn(ctx context.Context, authorizationID string) (p billing.Payment, waited bool, err error)
	// PayPalReturn passes the buyer's return on; waited reports whether the payment was still
	// waiting for the buyer, the only time the buyer is sent on to its return_url.
	PayPalReturn(ctx context.Context, orderID string, approved bool) (p billing.Payment, waited bool, err error)
	// PayPalOrderPayment is the payment behind a PayPal order and the account it pays: what
	// the sandbox's approval page names.
	PayPalOrderPayment(ctx context.Context, orderID string) (billing.Payment, billing.Account, error)
}

// PayPalCheckout is the PayPal sandbox's buyer page: what approval_url opens when PayPal is the
// sandbox.
type PayPalCheckout interface {
	Order(ctx context.Context, orderID string) (sandbox.PayPalOrder, error)
	Approve(ctx context.Context, orderID string) error
	Cancel(ctx context.Context, orderID string) error
}

// Idempotency-Key bounds from the contract.
const (
	idempotencyHeader    = "Idempotency-Key"
	replayedHeader       = "Idempotent-Replayed"
	maxIdempotencyKeyLen = 255
	maxReturnURLLen      = 2048
)

// idempotencyKey reads the Idempotency-Key header of a write: "" when none was sent, else
// 1 to 255 characters of UTF-8.
func idempotencyKey(c *gin.Context) (string, error) {
	key := c.GetHeader(idempotencyHeader)
	if !utf8.ValidString(key) || utf8.RuneCountInString(key) > maxIdempotencyKeyLen {
		e := billing.Errorf(billing.KindMalformed, billing.CodeInvalidValue,
			"the Idempotency-Key must be 1 to %d characters", maxIdempotencyKeyLen)
		e.Param = idempotencyHeader
		return "", e
	}
	return key, nil
}

// answerWrite answers a write with status, which its replays under the same Idempotency-Key
// answer too; a replay says so in Idempotent-Replayed, as it did nothing.
func answerWrite(c *gin.Context, status int, replayed bool, body any) {
	if replayed {
		c.Header(replayedHeader, "true")
	}
	c.PureJSON(status, body)
}

type createPaymentBody struct {
	Amount         *int64           `json:"amount"`
	Currency       string           `json:"currency"`
	Method         string           `json:"method"`
	Card           *gateway.Card    `json:"card"`
	Token          *string          `json:"token"`
	BillingAddress *billing.Address `json:"billing_address"`
	UseCompanyInfo bool             `json:"use_company_info"`
	EUSupported    bool             `json:"eu_supported"`
	ReturnURL      string           `json:"return_url"`
	Metadata       requestMetadata  `json:"metadata"`
}

func (s *Server) createPayment(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if key == "" {
		e := billing.Errorf(billing.KindMalformed, billing.CodeIdempotencyKeyNeeded,
			"send an Idempotency-Key header (1 to %d characters) so a retried payment is never taken twice", maxIdempotencyKeyLen)
		e.Param = idempotencyHeader
		s.writeError(c, e)
		return
	}
	var body createPaymentBody
	if err := decodeJSON(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	in, err := s.newPayment(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in.IdempotencyKey = key
	p, created, err := s.Payments.Create(c.Request.Context(), c.Param("account_id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusAccepted, !created, paymentView(p))
}

// newPayment checks the request's shape; the service checks it against the account.
func (s *Server) newPayment(b createPaymentBody) (portal.NewPayment, error) {
	in := portal.NewPayment{
		Method:         billing.PaymentMethodKind(b.Method),
		Card:           b.Card,
		BillingAddress: b.BillingAddress,
		UseCompanyInfo: b.UseCompanyInfo,
		EUSupported:    b.EUSupported,
		ReturnURL:      strings.TrimSpace(b.ReturnURL),
	}
	switch {
	case b.Amount == nil:
		return in, missing("amount")
	case *b.Amount <= 0:
		return in, billing.Invalid(billing.CodeAmountNotPositive, "amount", "amount must be a positive number of minor units")
	case b.Currency == "":
		return in, missing("currency")
	case !billing.ValidCurrency(b.Currency):
		return in, badCurrency(b.Currency)
	case b.Method == "":
		return in, missing("method")
	}
	in.Amount = billing.Money{Amount: *b.Amount, Currency: b.Currency}
	switch in.Method {
	case billing.MethodCard:
		token, err := s.cardOrToken(b.Card, b.Token)
		if err != nil {
			return in, err
		}
		in.Token = token
		addr, err := billingAddressOrCompany(b.BillingAddress, b.UseCompanyInfo)
		if err != nil {
			return in, err
		}
		in.BillingAddress = addr
	case billing.MethodPayPal:
		if b.Card != nil {
			return in, billing.Invalid(billing.CodeInvalidValue, "card", "card is only for method card")
		}
		if b.Token != nil {
			return in, billing.Invalid(billing.CodeInvalidValue, "token", "token is only for method card")
		}
	default:
		return in, billing.Invalid(billing.CodeInvalidValue, "method", "method must be card or paypal")
	}
	if in.ReturnURL != "" {
		if err := s.checkReturnURL(in.ReturnURL); err != nil {
			return in, err
		}
	}
	metadata, err := checkMetadata(b.Metadata)
	if err != nil {
		return in, err
	}
	in.Metadata = metadata
	return in, nil
}

// checkReturnURL is the one check of return_url: a plain absolute URL (redirectableURL) on a
// host the operator allows.
func (s *Server) checkReturnURL(raw string) error {
	if !redirectableURL(raw) {
		return billing.Invalid(billing.CodeInvalidValue, "return_url",
			"return_url must be an absolute http(s) URL of at most %d characters, without user info or blanks", maxReturnURLLen)
	}
	u, _ := url.Parse(raw) // redirectableURL parsed it
	if len(s.ReturnURLHosts.Allowed) == 0 && !s.ReturnURLHosts.AnyWhenEmpty {
		return billing.Invalid(billing.CodeInvalidValue, "return_url",
			"this server takes no return_url: its operator lists the hosts buyers may be sent back to in PAYPORTAL_RETURN_URL_HOSTS")
	}
	if !s.ReturnURLHosts.allows(u.Hostname()) {
		return billing.Invalid(billing.CodeInvalidValue, "return_url",
			"return_url's host %s is not one this server sends buyers to (PAYPORTAL_RETURN_URL_HOSTS)", u.Hostname())
	}
	return nil
}

// ReturnURLHosts is the allow-list of return_url hosts (PAYPORTAL_RETURN_URL_HOSTS): each entry
// is a host name matched exactly, or "*.example.com", which matches every subdomain of
// example.com but not example.com itself. An empty list refuses every return_url, unless
// AnyWhenEmpty (development), where any host goes.
type ReturnURLHosts struct {
	Allowed      []string
	AnyWhenEmpty bool
}

func (h ReturnURLHosts) allows(host string) bool {
	if len(h.Allowed) == 0 {
		return h.AnyWhenEmpty
	}
	host = strings.ToLower(host)
	for _, a := range h.Allowed {
		a = strings.ToLower(a)
		if domain, ok := strings.CutPrefix(a, "*."); ok {
			if strings.HasSuffix(host, "."+domain) {
				return true
			}
		} else if host == a {
			return true
		}
	}
	return false
}

// redirectableURL is the rule for return_url, where /v1/paypal/return sends the buyer: an
// absolute http or https URL with a host, no user info (which makes
// "https://bank.example@evil.example" read as the bank's), and no blank or control
// character anywhere, so what the customer sent is exactly where the browser goes.
func redirectableURL(raw string) bool {
	if len(raw) > maxReturnURLLen || strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Hostname() != "" &&
		u.User == nil && u.Opaque == ""
}

func (s *Server) listPayments(c *gin.Context) {
	page, err := pageWithCreated(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	payments, hasMore, err := s.Payments.List(c.Request.Context(), c.Param("account_id"), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]paymentJSON, len(payments))
	for i, p := range payments {
		data[i] = paymentView(p)
	}
	c.PureJSON(http.StatusOK, listJSON[paymentJSON]{Data: data, HasMore: hasMore})
}

func (s *Server) getPayment(c *gin.Context) {
	p, err := s.Payments.Get(c.Request.Context(), c.Param("account_id"), c.Param("payment_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, paymentView(p))
}

func (s *Server) cancelPayment(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	p, replayed, err := s.Payments.Cancel(c.Request.Context(), c.Param("account_id"), c.Param("payment_id"), key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusOK, replayed, paymentView(p))
}

// paypalReturnRoutes are where PayPal sends the buyer back, and, with the sandbox, the
// sandbox's own buyer page. None is authenticated: the order id in ?token= is the capability.
func (s *Server) paypalReturnRoutes(r *gin.RouterGroup) {
	r.GET("/v1/paypal/return", s.paypalReturn(true))
	r.GET("/v1/paypal/cancel", s.paypalReturn(false))
	r.GET(cardAuthenticationReturnPath, s.cardAuthenticationReturn)
	s.sandboxCardRoutes(r)
	if s.Checkout != nil {
		r.GET(sandbox.CheckoutPath, s.sandboxCheckoutPage)
		r.POST(sandbox.CheckoutPath+"/approve", s.sandboxCheckoutDecision(true))
		r.POST(sandbox.CheckoutPath+"/cancel", s.sandboxCheckoutDecision(false))
	}
}

// paypalReturn passes the buyer's return on to the payment. While the payment waited for the
// buyer, the buyer is then sent to its return_url; otherwise (no return_url, or the payment had
// already moved on: a second visit, a payment that ended) the answer is the payment itself, so
// the link is no redirect anyone can reuse once the checkout is over.
func (s *Server) paypalReturn(approved bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, err := paypalToken(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		p, waited, err := s.Payments.PayPalReturn(c.Request.Context(), token, approved)
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
}

func paypalToken(c *gin.Context) (string, error) {
	token := c.Query("token")
	if token == "" {
		return "", missing("token")
	}
	if !isOrderID(token) {
		return "", billing.Invalid(billing.CodeInvalidValue, "token", "token is not a PayPal order id")
	}
	return token, nil
}

// isOrderID accepts what PayPal order ids (and the sandbox's) are made of: up to 64 letters,
// digits, dashes and underscores. Anything else cannot name an order and never reaches the
// database.
func isOrderID(token string) bool {
	if len(token) > 64 {
		return false
	}
	for _, r := range token {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

var checkoutPage = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Pay {{.Merchant}} · PayPal sandbox checkout</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto}button{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}</style>
</head>
<body>
<h1>PayPal sandbox</h1>
<p>This page stands in for PayPal in development: no money moves.</p>
<p>Pay <strong id="merchant">{{.Merchant}}</strong> <strong id="amount">{{.Amount}}</strong>{{with .Description}} for {{.}}{{end}}.</p>
<dl>
{{with .Company}}<dt>Account</dt><dd id="account">{{.}} ({{$.AccountID}})</dd>{{end}}
{{with .PaymentID}}<dt>Payment</dt><dd id="payment">{{.}}</dd>{{end}}
<dt>Order</dt><dd id="order">{{.OrderID}}</dd>
</dl>
{{if .Open}}
<form method="post" action="{{.ApproveAction}}"><button type="submit" id="approve">Approve</button></form>
<form method="post" action="{{.CancelAction}}"><button type="submit" id="cancel">Cancel</button></form>
{{else}}
<p id="status">This order is {{.Status}}.</p>
{{end}}
</body>
</html>
`))

// sandboxCheckoutPage is the buyer's page approval_url opens: the amount, Approve and Cancel.
func (s *Server) sandboxCheckoutPage(c *gin.Context) {
	token, err := paypalToken(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	o, err := s.Checkout.Order(c.Request.Context(), token)
	if err != nil {
		s.writeError(c, checkoutError(err))
		return
	}
	q := "?token=" + url.QueryEscape(o.ID)
	data := map[string]any{"Merchant": s.merchantName(), "OrderID": o.ID}
	// The page names the account and payment behind the order; an order no payment knows
	// (made by hand in the sandbox) is shown without them.
	if p, acct, err := s.Payments.PayPalOrderPayment(c.Request.Context(), o.ID); err == nil {
		data["Company"], data["AccountID"], data["PaymentID"] = acct.CompanyName, acct.ID, p.ID
	} else if billing.ErrorOf(err) == nil || billing.ErrorOf(err).Kind != billing.KindNotFound {
		s.log.WarnContext(c.Request.Context(), "sandbox checkout: payment of the order unknown", "order_id", o.ID, "err", err)
	}
	c.Header("Cache-Control", "no-store")
	maps.Copy(data, map[string]any{
		"Amount": i18n.FormatMoney(i18n.English, o.Amount), "Description": o.Description, "Status": string(o.Status),
		"Open":          o.Status == sandbox.OrderCreated || o.Status == sandbox.OrderApproved,
		"ApproveAction": sandbox.CheckoutPath + "/approve" + q,
		"CancelAction":  sandbox.CheckoutPath + "/cancel" + q,
	})
	s.sandboxPage(c, checkoutPage, "sandbox checkout", data)
}

// sandboxPage serves one of the buyer's pages (the sandbox's PayPal checkout and 3-D Secure
// challenge, the return page): no script at all, the page's own inline style, no framing (the buttons cannot
// be clickjacked), no <base> rewriting the form actions.
func (s *Server) sandboxPage(c *gin.Context, page *template.Template, what string, data map[string]any) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	c.Header("X-Frame-Options", "DENY")
	c.Status(http.StatusOK)
	if err := page.Execute(c.Writer, data); err != nil {
		s.log.ErrorContext(c.Request.Context(), "render "+what, "err", err)
	}
}

// sandboxCheckoutDecision records the buyer's click in the sandbox, then sends the browser on
// to the return or cancel link, as PayPal would.
func (s *Server) sandboxCheckoutDecision(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		token, err := paypalToken(c)
		if err != nil {
			s.writeError(c, err)
			return
		}
		next := "/v1/paypal/cancel"
		if approve {
			err, next = s.Checkout.Approve(c.Request.Context(), token), "/v1/paypal/return"
		} else {
			err = s.Checkout.Cancel(c.Request.Context(), token)
		}
		if err != nil {
			s.writeError(c, checkoutError(err))
			return
		}
		c.Redirect(http.StatusSeeOther, next+"?token="+url.QueryEscape(token))
	}
}

func checkoutError(err error) error {
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		return billing.NotFound("PayPal order")
	case errors.Is(err, gateway.ErrInvalidState):
		return billing.Conflict("order_not_open", "the PayPal order can no longer be approved or cancelled")
	}
	return err
}

type paymentJSON struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Method      string            `json:"method"`
	Amount      int64             `json:"amount"`
	Currency    string            `json:"currency"`
	Card        *paymentCardJSON  `json:"card"`
	ApprovalURL *string           `json:"approval_url"`
	NextAction  *nextActionJSON   `json:"next_action"`
	ReturnURL   *string           `json:"return_url"`
	Failure     *billing.Failure  `json:"failure"`
	RefundID    *string           `json:"refund_id"`
	CreatedAt   string            `json:"created_at"`
	CompletedAt *string           `json:"completed_at"`
	WorkflowID  string            `json:"workflow_id"`
	InvoiceID   *string           `json:"invoice_id"`
	Metadata    map[string]string `json:"metadata"`
}

type paymentCardJSON struct {
	Brand string `json:"brand"`
	Last4 string `json:"last4"`
}

func paymentView(p billing.Payment) paymentJSON {
	v := paymentJSON{
		ID: p.ID, Status: string(p.Status), Method: string(p.Method), Amount: p.Amount.Amount,
		Currency: p.Amount.Currency, ApprovalURL: orNull(p.ApprovalURL), ReturnURL: orNull(p.ReturnURL),
		Failure: p.Failure, RefundID: orNull(p.RefundID), CreatedAt: timestamp(p.CreatedAt),
		CompletedAt: timestampOrNil(p.CompletedAt), WorkflowID: p.WorkflowID,
		InvoiceID: orNull(p.InvoiceID), Metadata: metadataView(p.Metadata),
	}
	if p.Method == billing.MethodCard {
		v.Card = &paymentCardJSON{Brand: p.CardBrand, Last4: p.CardLast4}
		v.ApprovalURL = nil // a card's approval_url column holds its 3-D Secure page: next_action
	}
	if p.Status == billing.PaymentRequiresAction && p.ApprovalURL != "" {
		v.NextAction = &nextActionJSON{Type: "redirect_to_url", RedirectURL: p.ApprovalURL}
	}
	return v
}

// nextActionJSON is what the buyer must do for a payment in requires_action: open
// redirect_url (PayPal's approval page, or the card's 3-D Secure challenge).
type nextActionJSON struct {
	Type        string `json:"type"`
	RedirectURL string `json:"redirect_url"`
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

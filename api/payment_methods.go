package api

import (
	"context"
	"net/http"
	netmail "net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/portal"
)

// CardService adds cards on file and records reps' decisions on them.
type CardService interface {
	// Add tokenizes the card, stores it pending validation and starts its validation;
	// replayed: an earlier request with the same in.IdempotencyKey did it, this one nothing.
	Add(ctx context.Context, accountID string, in portal.NewCard) (pm billing.PaymentMethod, replayed bool, err error)
	List(ctx context.Context, accountID string, p billing.ListParams) ([]billing.PaymentMethod, bool, error)
	Get(ctx context.Context, accountID, id string) (billing.PaymentMethod, error)
	// Pending lists every account's cards awaiting a decision, oldest first.
	Pending(ctx context.Context, p billing.ListParams) ([]billing.PaymentMethod, bool, error)
	// Decide passes a rep's decision on and returns the card once it is recorded; a card
	// already decided or expired is a conflict (already_decided). replayed: an earlier request
	// of the rep with the same Idempotency-Key (optional) decided it, this one nothing.
	Decide(ctx context.Context, repKeyID, pmID string, decision billing.Decision, reason, idempotencyKey string) (pm billing.PaymentMethod, replayed bool, err error)
}

// addPaymentMethodRequest is the body of POST .../payment-methods. The card decodes into
// gateway.Card, which refuses to be logged or serialized in clear.
type addPaymentMethodRequest struct {
	Card           *gateway.Card    `json:"card"`
	Token          *string          `json:"token"`
	BillingAddress *billing.Address `json:"billing_address"`
	UseCompanyInfo bool             `json:"use_company_info"`
	ContactEmail   *string          `json:"contact_email"`
	EUSupported    bool             `json:"eu_supported"`
	Metadata       requestMetadata  `json:"metadata"`
}

func (s *Server) addPaymentMethod(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var req addPaymentMethodRequest
	if err := decodeJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	in, err := s.newCard(req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	in.IdempotencyKey = key
	pm, replayed, err := s.Cards.Add(c.Request.Context(), c.Param("account_id"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusAccepted, replayed, paymentMethodView(pm))
}

// newCard checks the request field by field, in the order of the form, and answers the
// first problem as a 422 naming its param.
func (s *Server) newCard(req addPaymentMethodRequest) (portal.NewCard, error) {
	in := portal.NewCard{EUSupported: req.EUSupported}
	token, err := s.cardOrToken(req.Card, req.Token)
	if err != nil {
		return portal.NewCard{}, err
	}
	if req.Card != nil {
		in.Card = *req.Card
	}
	in.Token = token
	addr, err := billingAddressOrCompany(req.BillingAddress, req.UseCompanyInfo)
	if err != nil {
		return portal.NewCard{}, err
	}
	in.BillingAddress = addr
	if req.ContactEmail == nil {
		return portal.NewCard{}, missing("contact_email")
	}
	email, err := contactEmail("contact_email", *req.ContactEmail)
	if err != nil {
		return portal.NewCard{}, err
	}
	in.ContactEmail = email
	if in.Metadata, err = checkMetadata(req.Metadata); err != nil {
		return portal.NewCard{}, err
	}
	return in, nil
}

// billingAddressOrCompany checks a card's billing address choice, the same for a card on file
// and a one-time card payment: either billing_address, which must be valid, or
// use_company_info: true, never both. nil means the account's company address.
func billingAddressOrCompany(a *billing.Address, useCompanyInfo bool) (*billing.Address, error) {
	switch {
	case useCompanyInfo && a != nil:
		return nil, billing.Invalid(billing.CodeInvalidValue, "use_company_info",
			"send either billing_address or use_company_info: true, not both")
	case a != nil:
		addr, err := billingAddress("billing_address", *a)
		if err != nil {
			return nil, err
		}
		return &addr, nil
	case !useCompanyInfo:
		return nil, billing.Invalid(billing.CodeMissingField, "billing_address",
			"billing_address is required unless use_company_info is true")
	}
	return nil, nil
}

// billingAddress trims an address and checks it against the contract: line1, city,
// postal_code and an ISO 3166 alpha-2 country (upper case) are required, each within its
// length. Errors name param.field.
func billingAddress(param string, a billing.Address) (billing.Address, error) {
	fields := []struct {
		name     string
		value    *string
		required bool
		max      int
	}{
		{"line1", &a.Line1, true, 200},
		{"line2", &a.Line2, false, 200},
		{"city", &a.City, true, 100},
		{"state", &a.State, false, 100},
		{"postal_code", &a.PostalCode, true, 20},
		{"country", &a.Country, true, 2},
	}
	for _, f := range fields {
		*f.value = strings.TrimSpace(*f.value)
		p := param + "." + f.name
		switch {
		case f.required && *f.value == "":
			return billing.Address{}, missing(p)
		case utf8.RuneCountInString(*f.value) > f.max:
			return billing.Address{}, billing.Invalid(billing.CodeInvalidValue, p, "%s is limited to %d characters", p, f.max)
		case hasControl(*f.value): // line breaks, tabs, and a NUL Postgres cannot store
			return billing.Address{}, billing.Invalid(billing.CodeInvalidValue, p, "%s must be a single line", p)
		}
	}
	if !isCountryCode(a.Country) {
		return billing.Address{}, billing.Invalid(billing.CodeInvalidValue, param+".country",
			"%s.country must be an ISO 3166-1 alpha-2 code in upper case, e.g. US or FR", param)
	}
	return a, nil
}

// hasControl reports whether s holds a control character (C0, DEL or C1), which no
// single-line text field accepts.
func hasControl(s string) bool { return strings.IndexFunc(s, unicode.IsControl) >= 0 }

func isCountryCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// contactEmail accepts a bare address (no display name) that net/mail can parse.
func contactEmail(param, raw string) (string, error) {
	addr := strings.TrimSpace(raw)
	if addr == "" {
		return "", missing(param)
	}
	parsed, err := netmail.ParseAddress(addr)
	if err != nil || parsed.Name != "" || parsed.Address != addr || len(addr) > 254 {
		return "", billing.Invalid(billing.CodeInvalidEmail, param, "%s must be an email address such as billing@example.com", param)
	}
	return addr, nil
}

func (s *Server) listPaymentMethods(c *gin.Context) {
	page, err := listParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	pms, hasMore, err := s.Cards.List(c.Request.Context(), c.Param("account_id"), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, paymentMethodList(pms, hasMore))
}

func (s *Server) getPaymentMethod(c *gin.Context) {
	id := c.Param("pm_id")
	if !billing.HasPrefix(id, billing.PrefixPaymentMethod) {
		s.writeError(c, billing.NotFound("payment method"))
		return
	}
	pm, err := s.Cards.Get(c.Request.Context(), c.Param("account_id"), id)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, paymentMethodView(pm))
}

// listPendingPaymentMethods is the reps' queue: cards awaiting a decision, oldest first.
func (s *Server) listPendingPaymentMethods(c *gin.Context) {
	if status, ok := c.GetQuery("status"); ok && status != string(billing.PMPendingValidation) {
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "status", "status must be pending_validation"))
		return
	}
	page, err := listParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	pms, hasMore, err := s.Cards.Pending(c.Request.Context(), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, paymentMethodList(pms, hasMore))
}

type decisionRequest struct {
	Decision *string `json:"decision"`
	Reason   string  `json:"reason"`
}

// decidePaymentMethod answers 200 with the card once its new status is recorded, or 409
// already_decided when another decision or the deadline came first.
func (s *Server) decidePaymentMethod(c *gin.Context) {
	id := c.Param("pm_id")
	if !billing.HasPrefix(id, billing.PrefixPaymentMethod) {
		s.writeError(c, billing.NotFound("payment method"))
		return
	}
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var req decisionRequest
	if err := decodeJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if req.Decision == nil || *req.Decision == "" {
		s.writeError(c, missing("decision"))
		return
	}
	decision := billing.Decision(*req.Decision)
	if decision != billing.DecisionApprove && decision != billing.DecisionReject {
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "decision", "decision must be approve or reject"))
		return
	}
	reason := strings.Join(strings.Fields(req.Reason), " ")
	if utf8.RuneCountInString(reason) > 500 {
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "reason", "reason is limited to 500 characters"))
		return
	}
	if hasControl(reason) { // whitespace is folded above; a NUL would wedge the card's workflow
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "reason", "reason must be plain text, without control characters"))
		return
	}
	pm, replayed, err := s.Cards.Decide(c.Request.Context(), callerOf(c).KeyID, id, decision, reason, key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusOK, replayed, paymentMethodView(pm))
}

type paymentMethodJSON struct {
	ID                 string            `json:"id"`
	AccountID          string            `json:"account_id"`
	Status             string            `json:"status"`
	Brand              string            `json:"brand"`
	Last4              string            `json:"last4"`
	ExpMonth           int               `json:"exp_month"`
	ExpYear            int               `json:"exp_year"`
	EUSupported        bool              `json:"eu_supported"`
	ContactEmail       string            `json:"contact_email"`
	BillingAddress     billing.Address   `json:"billing_address"`
	CreatedAt          string            `json:"created_at"`
	DecidedAt          *string           `json:"decided_at"`
	DecidedBy          *string           `json:"decided_by"` // the rep's name
	DecisionReason     string            `json:"decision_reason"`
	ValidationDeadline string            `json:"validation_deadline"`
	WorkflowID         string            `json:"workflow_id"`
	Metadata           map[string]string `json:"metadata"`
}

func paymentMethodView(pm billing.PaymentMethod) paymentMethodJSON {
	return paymentMethodJSON{
		ID: pm.ID, AccountID: pm.AccountID, Status: string(pm.Status), Brand: pm.Brand, Last4: pm.Last4,
		ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear, EUSupported: pm.EUSupported, ContactEmail: pm.ContactEmail,
		BillingAddress: pm.BillingAddress, CreatedAt: timestamp(pm.CreatedAt), DecidedAt: timestampOrNil(pm.DecidedAt),
		DecidedBy:      nilIfEmpty(pm.DecidedByName),
		DecisionReason: pm.DecisionReason, ValidationDeadline: timestamp(pm.ValidationDeadline), WorkflowID: pm.WorkflowID,
		Metadata: metadataView(pm.Metadata),
	}
}

func paymentMethodList(pms []billing.PaymentMethod, hasMore bool) listJSON[paymentMethodJSON] {
	data := make([]paymentMethodJSON, len(pms))
	for i, pm := range pms {
		data[i] = paymentMethodView(pm)
	}
	return listJSON[paymentMethodJSON]{Data: data, HasMore: hasMore}
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// BillingService is the read side the customer routes need.
type BillingService interface {
	Summary(ctx context.Context, accountID string) (billing.Summary, error)
	Account(ctx context.Context, accountID string) (billing.Account, error)
	// SetMailLanguage changes the language of the account's mails: 422 for one PayPortal
	// does not write.
	SetMailLanguage(ctx context.Context, accountID, lang string) (billing.Account, error)
	Invoices(ctx context.Context, accountID string, typ billing.InvoiceType, p billing.ListParams) ([]billing.Invoice, bool, error)
	// EachInvoiceBatch hands every invoice matching the filters to fn, newest first, a batch
	// at a time, without holding all of them: the CSV export.
	EachInvoiceBatch(ctx context.Context, accountID string, typ billing.InvoiceType, created billing.CreatedRange,
		fn func([]billing.Invoice) error) error
	Invoice(ctx context.Context, accountID, invoiceID string) (billing.Invoice, error)
	InvoiceItem(ctx context.Context, accountID, invoiceID, itemID string) (billing.InvoiceItem, error)
}

func (s *Server) getBillingSummary(c *gin.Context) {
	sum, err := s.Billing.Summary(c.Request.Context(), c.Param("account_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, summaryView(sum))
}

func (s *Server) listInvoices(c *gin.Context) {
	if wantsCSV(c.GetHeader("Accept")) {
		s.exportInvoices(c)
		return
	}
	page, err := pageWithCreated(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	typ, err := invoiceTypeParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	invoices, hasMore, err := s.Billing.Invoices(c.Request.Context(), c.Param("account_id"), typ, page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]invoiceJSON, len(invoices))
	for i, inv := range invoices {
		data[i] = invoiceView(inv)
	}
	c.PureJSON(http.StatusOK, listJSON[invoiceJSON]{Data: data, HasMore: hasMore})
}

// invoiceTypeParam reads ?type=, one of the five invoice types; empty: all.
func invoiceTypeParam(c *gin.Context) (billing.InvoiceType, error) {
	typ := billing.InvoiceType(c.Query("type"))
	if typ != "" && !typ.Valid() {
		return "", billing.Invalid(billing.CodeInvalidValue, "type", "type must be one of new, recurring, one_time, credit, refund")
	}
	return typ, nil
}

func (s *Server) getInvoice(c *gin.Context) {
	inv, err := s.Billing.Invoice(c.Request.Context(), c.Param("account_id"), c.Param("invoice_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	view := invoiceView(inv)
	items := make([]itemJSON, len(inv.Items))
	for i, it := range inv.Items {
		items[i] = itemView(it)
	}
	view.Items = &items
	c.PureJSON(http.StatusOK, view)
}

func (s *Server) getInvoiceItem(c *gin.Context) {
	it, err := s.Billing.InvoiceItem(c.Request.Context(), c.Param("account_id"), c.Param("invoice_id"), c.Param("item_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	view := itemView(it)
	details := make([]detailJSON, len(it.Details))
	for i, d := range it.Details {
		details[i] = detailJSON{ID: d.ID, Description: d.Description, ResourceName: d.ResourceName,
			Quantity: d.Quantity, Unit: d.Unit, UnitAmount: d.UnitAmount, Amount: d.Amount}
	}
	view.Details = &details
	c.PureJSON(http.StatusOK, view)
}

// listParams reads ?limit=1..100 (default 25), at most one cursor, ?starting_after=<id> (the
// page after that item) or ?ending_before=<id> (the page before it), and, on the lists that
// take them, ?created[gte]= and ?created[lt]= (createdRange).
func listParams(c *gin.Context) (billing.ListParams, error) {
	p := billing.ListParams{Limit: billing.DefaultPageLimit, StartingAfter: c.Query("starting_after"), EndingBefore: c.Query("ending_before")}
	if raw, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > billing.MaxPageLimit {
			return p, billing.Invalid(billing.CodeInvalidLimit, "limit", "limit must be an integer from 1 to %d", billing.MaxPageLimit)
		}
		p.Limit = n
	}
	_, after := c.GetQuery("starting_after")
	_, before := c.GetQuery("ending_before")
	switch {
	case after && before:
		return p, billing.Invalid(billing.CodeCursorConflict, "ending_before",
			"send starting_after (the next page) or ending_before (the previous page), not both")
	case after && !billing.HasPrefix(p.StartingAfter, ""): // empty, over 64 or odd characters
		return p, billing.Invalid(billing.CodeInvalidCursor, "starting_after", "starting_after must be an ID from a previous page")
	case before && !billing.HasPrefix(p.EndingBefore, ""):
		return p, billing.Invalid(billing.CodeInvalidEndingBefore, "ending_before", "ending_before must be an ID from a previous page")
	}
	return p, nil
}

// Query parameters bounding created_at, as Stripe spells them.
const (
	createdGTE = "created[gte]"
	createdLT  = "created[lt]"
)

// createdRange reads ?created[gte]= (inclusive) and ?created[lt]= (exclusive), RFC 3339
// times. Any other created parameter (created, created[gt], created[lte]) is refused rather
// than ignored, so a filter is never silently dropped.
func createdRange(c *gin.Context) (billing.CreatedRange, error) {
	var r billing.CreatedRange
	for name := range c.Request.URL.Query() {
		if (name == "created" || strings.HasPrefix(name, "created[")) && name != createdGTE && name != createdLT {
			param := name // repeated only when it is a plain operator: created[gt], created[lte]
			if op := strings.TrimSuffix(strings.TrimPrefix(name, "created["), "]"); len(op) > 5 || strings.ContainsFunc(op, notLowerASCII) {
				param = "created"
			}
			return r, billing.Invalid(billing.CodeInvalidCreated, param, "created filters are created[gte] and created[lt]")
		}
	}
	for _, bound := range []struct {
		name string
		at   *time.Time
	}{{createdGTE, &r.GTE}, {createdLT, &r.LT}} {
		raw, ok := c.GetQuery(bound.name)
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil || t.Year() < 1 || t.IsZero() { // the zero time means "no bound" here
			return r, billing.Invalid(billing.CodeInvalidCreated, bound.name,
				"%s must be an RFC 3339 time such as 2026-03-01T00:00:00Z", bound.name)
		}
		*bound.at = t.UTC()
	}
	if !r.GTE.IsZero() && !r.LT.IsZero() && !r.GTE.Before(r.LT) {
		return r, billing.Invalid(billing.CodeInvalidCreated, createdLT, "created[lt] must be later than created[gte]")
	}
	return r, nil
}

func notLowerASCII(r rune) bool { return r < 'a' || r > 'z' }

// pageWithCreated reads a page request with its created filters: the invoice and payment lists.
func pageWithCreated(c *gin.Context) (billing.ListParams, error) {
	p, err := listParams(c)
	if err != nil {
		return p, err
	}
	p.Created, err = createdRange(c)
	return p, err
}

type listJSON[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

type summaryJSON struct {
	AccountID                    string           `json:"account_id"`
	Currency                     string           `json:"currency"`
	MailLanguage                 string           `json:"mail_language"`
	CurrentBalance               int64            `json:"current_balance"`
	EstimatedNextBalance         int64            `json:"estimated_next_balance"`
	PaymentMethod                *monthlyCardJSON `json:"payment_method"`
	PreviousRecurringInvoiceDate *string          `json:"previous_recurring_invoice_date"`
	NextRecurringInvoiceDate     string           `json:"next_recurring_invoice_date"`
}

type monthlyCardJSON struct {
	ID       string `json:"id"`
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
}

func summaryView(s billing.Summary) summaryJSON {
	v := summaryJSON{
		AccountID: s.AccountID, Currency: s.Currency, MailLanguage: s.MailLanguage, CurrentBalance: s.CurrentBalance,
		EstimatedNextBalance:         s.EstimatedNextBalance,
		PreviousRecurringInvoiceDate: dateOrNil(s.PreviousRecurringInvoiceDate),
		NextRecurringInvoiceDate:     s.NextRecurringInvoiceDate.Format(time.DateOnly),
	}
	if pm := s.PaymentMethod; pm != nil {
		v.PaymentMethod = &monthlyCardJSON{ID: pm.ID, Brand: pm.Brand, Last4: pm.Last4, ExpMonth: pm.ExpMonth, ExpYear: pm.ExpYear}
	}
	return v
}

type invoiceJSON struct {
	ID          string      `json:"id"`
	Number      string      `json:"number"`
	Type        string      `json:"type"`
	Status      string      `json:"status"`
	CreatedAt   string      `json:"created_at"`
	Currency    string      `json:"currency"`
	PeriodStart *string     `json:"period_start"`
	PeriodEnd   *string     `json:"period_end"`
	Subtotal    int64       `json:"subtotal"`
	Tax         int64       `json:"tax"`
	Total       int64       `json:"total"`
	AmountPaid  int64       `json:"amount_paid"`
	AmountDue   int64       `json:"amount_due"`
	Items       *[]itemJSON `json:"items,omitempty"`
}

func invoiceView(inv billing.Invoice) invoiceJSON {
	return invoiceJSON{
		ID: inv.ID, Number: inv.Number, Type: string(inv.Type), Status: string(inv.Status),
		CreatedAt: timestamp(inv.CreatedAt), Currency: inv.Currency,
		PeriodStart: dateOrNil(inv.PeriodStart), PeriodEnd: dateOrNil(inv.PeriodEnd),
		Subtotal: inv.Subtotal, Tax: inv.Tax, Total: inv.Total, AmountPaid: inv.AmountPaid, AmountDue: inv.AmountDue(),
	}
}

type itemJSON struct {
	ID          string        `json:"id"`
	Description string        `json:"description"`
	Category    string        `json:"category"`
	Quantity    int64         `json:"quantity"`
	UnitAmount  int64         `json:"unit_amount"`
	Amount      int64         `json:"amount"`
	PeriodStart *string       `json:"period_start"`
	PeriodEnd   *string       `json:"period_end"`
	Details     *[]detailJSON `json:"details,omitempty"`
}

type detailJSON struct {
	ID           string `json:"id"`
	Description  string `json:"description"`
	ResourceName string `json:"resource_name"`
	Quantity     int64  `json:"quantity"`
	Unit         string `json:"unit"`
	UnitAmount   int64  `json:"unit_amount"`
	Amount       int64  `json:"amount"`
}

func itemView(it billing.InvoiceItem) itemJSON {
	return itemJSON{ID: it.ID, Description: it.Description, Category: it.Category, Quantity: it.Quantity,
		UnitAmount: it.UnitAmount, Amount: it.Amount, PeriodStart: dateOrNil(it.PeriodStart), PeriodEnd: dateOrNil(it.PeriodEnd)}
}

// timestamp is the contract's time format: RFC 3339 in UTC.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func timestampOrNil(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timestamp(*t)
	return &s
}

func dateOrNil(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(time.DateOnly)
	return &s
}

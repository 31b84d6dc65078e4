package console

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
	"github.com/payportal/payportal/internal/portal"
)

// Refunder makes reps' refunds and credits: portal.Refunds, as the API's rep routes do.
type Refunder interface {
	Refund(ctx context.Context, in portal.NewRefund) (billing.Refund, bool, error)
	Credit(ctx context.Context, in portal.NewCredit) (billing.Credit, bool, error)
}

// accountData is the account page: what the account owes, its payments with a refund form
// for each succeeded one, the credit form, and the refunds and credits made so far.
type accountData struct {
	Account  billing.Account
	Balance  string
	Payments []refundablePayment
	Refunds  []moneyRow
	Credits  []moneyRow
	// The credit form's values and complaint, after a refused post.
	CreditAmount, CreditReason, CreditError string
	// Key is the Idempotency-Key of the forms on this page: sending one twice (a double
	// click, a reload) refunds or credits once.
	Key string
}

type refundablePayment struct {
	billing.Payment
	Amount, Refunded, Left string
	CanRefund              bool
	WorkflowURL            string
	// The refund form's values and complaint, after a refused post.
	FormAmount, FormReason, Error string
}

type moneyRow struct {
	ID, Amount, Status, Reason, By, When, InvoiceID, WorkflowURL string
}

// account shows one account.
func (c *Console) account(w http.ResponseWriter, r *http.Request) {
	c.rememberLanguage(w, r)
	notice := ""
	switch {
	case r.URL.Query().Get("refunded") != "":
		notice = "refund_recorded"
	case r.URL.Query().Get("credited") != "":
		notice = "credit_recorded"
	}
	c.showAccount(w, r, http.StatusOK, r.PathValue("account_id"), notice, nil)
}

// showAccount renders the account page; edit, when set, puts a refused form's values back.
func (c *Console) showAccount(w http.ResponseWriter, r *http.Request, status int, accountID, notice string, edit func(*accountData)) {
	ctx := r.Context()
	lang := language(r)
	if !billing.HasPrefix(accountID, billing.PrefixAccount) {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_account"})
		return
	}
	acct, err := c.DB.Account(ctx, accountID)
	if billing.KindOf(err) == billing.KindNotFound {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_account"})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := accountData{Account: acct, Key: randomToken()}
	bal, err := c.DB.Balance(ctx, acct.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Balance = i18n.FormatMoney(lang, billing.Money{Amount: bal, Currency: acct.Currency})
	pays, _, err := c.DB.Payments(ctx, acct.ID, billing.ListParams{Limit: 25})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, p := range pays {
		money := func(n int64) string {
			return i18n.FormatMoney(lang, billing.Money{Amount: n, Currency: p.Amount.Currency})
		}
		d.Payments = append(d.Payments, refundablePayment{Payment: p, Amount: money(p.Amount.Amount),
			Refunded: money(p.AmountRefunded), Left: money(p.Amount.Amount - p.AmountRefunded),
			CanRefund:   p.Status == billing.PaymentSucceeded && p.AmountRefunded < p.Amount.Amount,
			WorkflowURL: c.workflowURL(p.WorkflowID)})
	}
	refunds, err := c.DB.AccountRefunds(ctx, acct.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, rf := range refunds {
		d.Refunds = append(d.Refunds, moneyRow{ID: rf.ID, Amount: i18n.FormatMoney(lang, rf.Amount), Status: string(rf.Status),
			Reason: rf.Reason, By: rf.CreatedByName, When: i18n.FormatDateTime(lang, rf.CreatedAt), InvoiceID: rf.InvoiceID,
			WorkflowURL: c.workflowURL(rf.WorkflowID)})
	}
	credits, err := c.DB.AccountCredits(ctx, acct.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, cr := range credits {
		d.Credits = append(d.Credits, moneyRow{ID: cr.ID, Amount: i18n.FormatMoney(lang, cr.Amount), Status: string(cr.Status),
			Reason: cr.Reason, By: cr.CreatedByName, When: i18n.FormatDateTime(lang, cr.CreatedAt), InvoiceID: cr.InvoiceID,
			WorkflowURL: c.workflowURL(cr.WorkflowID)})
	}
	if edit != nil {
		edit(&d)
	}
	c.render(w, r, status, "account.html", page{Title: "account_page", Data: d, Notice: notice})
}

// refund takes a payment's refund form: an amount in the payment's currency (as a rep writes
// it: 12.50 or 12,50) and a reason, both required. It goes through the API's path
// (portal.Refunds), with the form's Idempotency-Key.
func (c *Console) refund(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	payID := r.PathValue("payment_id")
	if !billing.HasPrefix(payID, billing.PrefixPayment) {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_payment"})
		return
	}
	pay, err := c.DB.PaymentByID(ctx, payID)
	if billing.KindOf(err) == billing.KindNotFound {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_payment"})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	amountText, reason := strings.TrimSpace(r.PostFormValue("amount")), strings.TrimSpace(r.PostFormValue("reason"))
	refused := func(status int, msg string) {
		c.showAccount(w, r, status, pay.AccountID, "", func(d *accountData) {
			for i := range d.Payments {
				if d.Payments[i].ID == pay.ID {
					d.Payments[i].FormAmount, d.Payments[i].FormReason, d.Payments[i].Error = amountText, reason, msg
				}
			}
		})
	}
	amount, ok := parseAmount(amountText, pay.Amount.Currency)
	switch {
	case !ok:
		refused(http.StatusUnprocessableEntity, "bad_amount")
		return
	case reason == "":
		refused(http.StatusUnprocessableEntity, "reason_required")
		return
	}
	rf, _, err := c.Refunds.Refund(ctx, portal.NewRefund{PaymentID: pay.ID, Amount: amount, Reason: reason,
		RepKeyID: sessionOf(r).KeyID, IdempotencyKey: formKey(r)})
	if msg, status, handled := c.refusal(w, r, err); handled {
		return
	} else if msg != "" {
		refused(status, msg)
		return
	}
	c.Logger.InfoContext(ctx, "rep refunded in the console", "refund_id", rf.ID, "status", string(rf.Status), "rep_key_id", sessionOf(r).KeyID)
	http.Redirect(w, r, Prefix+"/accounts/"+url.PathEscape(pay.AccountID)+"?refunded="+url.QueryEscape(rf.ID), http.StatusSeeOther)
}

// credit takes the account's credit form: an amount in the account's currency and a reason.
func (c *Console) credit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	accountID := r.PathValue("account_id")
	if !billing.HasPrefix(accountID, billing.PrefixAccount) {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_account"})
		return
	}
	acct, err := c.DB.Account(ctx, accountID)
	if billing.KindOf(err) == billing.KindNotFound {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "no_such_account"})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	amountText, reason := strings.TrimSpace(r.PostFormValue("amount")), strings.TrimSpace(r.PostFormValue("reason"))
	refused := func(status int, msg string) {
		c.showAccount(w, r, status, acct.ID, "", func(d *accountData) {
			d.CreditAmount, d.CreditReason, d.CreditError = amountText, reason, msg
		})
	}
	amount, ok := parseAmount(amountText, acct.Currency)
	switch {
	case !ok:
		refused(http.StatusUnprocessableEntity, "bad_amount")
		return
	case reason == "":
		refused(http.StatusUnprocessableEntity, "reason_required")
		return
	}
	cr, _, err := c.Refunds.Credit(ctx, portal.NewCredit{AccountID: acct.ID, Amount: billing.Money{Amount: amount, Currency: acct.Currency},
		Reason: reason, RepKeyID: sessionOf(r).KeyID, IdempotencyKey: formKey(r)})
	if msg, status, handled := c.refusal(w, r, err); handled {
		return
	} else if msg != "" {
		refused(status, msg)
		return
	}
	c.Logger.InfoContext(ctx, "rep credited in the console", "credit_id", cr.ID, "rep_key_id", sessionOf(r).KeyID)
	http.Redirect(w, r, Prefix+"/accounts/"+url.PathEscape(acct.ID)+"?credited="+url.QueryEscape(cr.ID), http.StatusSeeOther)
}

// refusal sorts a refund's or credit's error: a complaint for the form (msg), or a page
// already answered (handled).
func (c *Console) refusal(w http.ResponseWriter, r *http.Request, err error) (msg string, status int, handled bool) {
	if err == nil {
		return "", 0, false
	}
	e := billing.ErrorOf(err)
	switch {
	case e != nil && e.Code == billing.CodeAmountExceedsRefundable:
		return "amount_exceeds_refundable", http.StatusUnprocessableEntity, false
	case e != nil && e.Code == billing.CodeIdempotencyKeyReused:
		return "form_reused", http.StatusConflict, false
	case e != nil && e.Param == "reason":
		return "reason_too_long", http.StatusUnprocessableEntity, false
	case e != nil && (e.Kind == billing.KindInvalid || e.Kind == billing.KindConflict):
		return "bad_amount", http.StatusUnprocessableEntity, false
	case billing.KindOf(err) == billing.KindUnavailable:
		c.render(w, r, http.StatusServiceUnavailable, "error.html", page{Title: "error", Error: "unavailable"})
	default:
		c.fail(w, r, err)
	}
	return "", 0, true
}

// formKey is the form's Idempotency-Key: the page's, so the same form sent twice is one
// request. A form without one (hand-made) gets a fresh key.
func formKey(r *http.Request) string {
	k := r.PostFormValue("idempotency_key")
	if k == "" || len(k) > 255 {
		return randomToken()
	}
	return "console/" + k
}

// parseAmount reads a positive amount written in major units (12, 12.5, 12.50, 12,50) as
// minor units of currency.
func parseAmount(s, currency string) (int64, bool) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), ",", ".")
	if s == "" || strings.Count(s, ".") > 1 {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	exp := i18n.Exponent(currency)
	if len(frac) > exp || whole == "" && frac == "" {
		return 0, false
	}
	for _, part := range []string{whole, frac} {
		for _, r := range part {
			if r < '0' || r > '9' {
				return 0, false
			}
		}
	}
	frac += strings.Repeat("0", exp-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}

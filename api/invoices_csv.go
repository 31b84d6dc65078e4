package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// The CSV export of an account's invoices: GET .../invoices.csv, or .../invoices with
// Accept: text/csv. Every invoice that matches the filters, newest first, one row each, in
// the columns below. It is streamed: rows are written and flushed a batch at a time as the
// database hands them over, so memory stays one batch and the client sees rows at once.

// invoiceCSVColumns is the header row. Amounts are decimals in the currency's major unit
// ("1234.50", "-20.00"; "500" for JPY), dates YYYY-MM-DD in UTC.
var invoiceCSVColumns = []string{
	"id", "number", "type", "status", "issue_date", "period_start", "period_end",
	"currency", "subtotal", "tax", "total", "amount_paid", "amount_due",
}

func invoiceCSVRow(inv billing.Invoice) []string {
	amount := func(minor int64) string { return decimalAmount(minor, inv.Currency) }
	date := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	}
	return []string{
		inv.ID, inv.Number, string(inv.Type), string(inv.Status), inv.CreatedAt.UTC().Format(time.DateOnly),
		date(inv.PeriodStart), date(inv.PeriodEnd), inv.Currency,
		amount(inv.Subtotal), amount(inv.Tax), amount(inv.Total), amount(inv.AmountPaid), amount(inv.AmountDue()),
	}
}

// decimalAmount writes minor units of currency as a plain decimal in the major unit, with as
// many decimals as the currency has and "." as separator: what spreadsheets read as a number.
func decimalAmount(minor int64, currency string) string {
	exp := i18n.Exponent(currency)
	digits := strconv.FormatUint(absMinor(minor), 10)
	if exp > 0 {
		if len(digits) <= exp {
			digits = strings.Repeat("0", exp-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-exp] + "." + digits[len(digits)-exp:]
	}
	if minor < 0 {
		return "-" + digits
	}
	return digits
}

// absMinor is |minor| as a uint64, so the most negative int64 still has a magnitude.
func absMinor(minor int64) uint64 {
	if minor < 0 {
		return -uint64(minor)
	}
	return uint64(minor)
}

// exportWriteWindow is how long the client may take to take one batch: the server's write
// timeout bounds a whole answer, which a large export may need longer than, so it is moved
// on before each batch. A client that stops reading is still cut off.
const exportWriteWindow = time.Minute

func (s *Server) exportInvoices(c *gin.Context) {
	for _, param := range []string{"limit", "starting_after", "ending_before"} {
		if _, ok := c.GetQuery(param); ok {
			s.writeError(c, billing.Invalid(billing.CodeInvalidValue, param,
				"the CSV export holds every invoice that matches; %s is for the JSON list's pages", param))
			return
		}
	}
	typ, err := invoiceTypeParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	created, err := createdRange(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	accountID := c.Param("account_id")
	rc := http.NewResponseController(c.Writer)
	w := csv.NewWriter(c.Writer)
	started := false
	start := func() error {
		// Headers go out with the first batch, so an error before it is still the
		// contract's JSON error.
		started = true
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "invoices-" + accountID + ".csv"}))
		c.Status(http.StatusOK)
		return w.Write(invoiceCSVColumns)
	}
	err = s.Billing.EachInvoiceBatch(c.Request.Context(), accountID, typ, created, func(batch []billing.Invoice) error {
		if err := rc.SetWriteDeadline(time.Now().Add(exportWriteWindow)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if !started {
			if err := start(); err != nil {
				return err
			}
		}
		for _, inv := range batch {
			if err := w.Write(invoiceCSVRow(inv)); err != nil {
				return err
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return fmt.Errorf("write invoices CSV: %w", err)
		}
		return rc.Flush()
	})
	switch {
	case err != nil && !started:
		s.writeError(c, err)
	case err != nil:
		// The 200 and some rows are out: the only honest end is to cut the connection, so
		// the client sees a broken transfer, never a short file that looks complete.
		s.log.ErrorContext(c.Request.Context(), "invoice CSV export broken off", "account_id", accountID, "err", err)
		panic(http.ErrAbortHandler)
	case !started: // no invoice matches: the header row alone
		if err := start(); err == nil {
			w.Flush()
		}
	}
}

// wantsCSV reports whether an Accept header prefers text/csv to JSON: text/csv with a q above
// that of the most specific range matching application/json (application/json,
// application/*, */*). Without text/csv, or on a tie, the answer is JSON.
func wantsCSV(accept string) bool {
	if accept == "" {
		return false
	}
	csvQ, jsonQ, jsonSpecificity := 0.0, 0.0, -1
	for _, part := range strings.Split(accept, ",") {
		mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if raw, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(raw, 64); err != nil || q < 0 || q > 1 {
				continue
			}
		}
		switch mediaType {
		case "text/csv":
			csvQ = max(csvQ, q)
		case "application/json", "application/*", "*/*":
			specificity := map[string]int{"application/json": 2, "application/*": 1, "*/*": 0}[mediaType]
			if specificity > jsonSpecificity {
				jsonQ, jsonSpecificity = q, specificity
			}
		}
	}
	return csvQ > 0 && csvQ > jsonQ
}

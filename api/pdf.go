package api

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// InvoicePDFService serves invoice PDFs: the stored file for the invoice's current content,
// rendered on demand when missing.
type InvoicePDFService interface {
	InvoicePDF(ctx context.Context, accountID, invoiceID, lang string) (billing.InvoicePDF, error)
}

func (s *Server) getInvoicePDF(c *gin.Context) {
	lang := pdfLanguage(c.GetHeader("Accept-Language"))
	pdf, err := s.PDFs.InvoicePDF(c.Request.Context(), c.Param("account_id"), c.Param("invoice_id"), lang)
	if err != nil {
		s.writeError(c, err)
		return
	}
	// The content hash names exactly what the file shows, so it is a strong validator: a
	// client holding this version may keep it, and caches must key on the language too.
	etag := `"` + pdf.ContentHash + `"`
	c.Header("ETag", etag)
	c.Header("Vary", "Accept-Language")
	c.Header("Cache-Control", "private, no-cache")
	c.Header("Content-Language", pdf.Language)
	if c.GetHeader("If-None-Match") == etag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+safeFilename(pdf.Number)+`.pdf"`)
	c.Data(http.StatusOK, "application/pdf", pdf.Content)
}

// pdfLanguage picks "fr" or "en" from an Accept-Language header: the supported language with
// the highest q-value wins, the first listed on a tie; English when nothing supported is
// asked for.
func pdfLanguage(header string) string {
	best, bestQ := i18n.English, 0.0
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || math.IsNaN(f) { // a weight that is no number is no preference
					f = 0
				}
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (primary != i18n.English && primary != i18n.French) || q <= bestQ {
			continue
		}
		best, bestQ = primary, q
	}
	return best
}

// safeFilename keeps an invoice number usable inside a quoted header parameter.
func safeFilename(number string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, number)
}

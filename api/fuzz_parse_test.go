package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// FuzzListParams: whatever ?limit=, ?starting_after= and ?ending_before= say, listParams
// answers either a page request the database can take (a limit from 1 to 100, at most one
// cursor of at most 64 plain ASCII characters, or none) or a 422 naming the parameter,
// without repeating the cursor.
// CI: go test -run '^$' -fuzz '^FuzzListParams$' -fuzztime 3s ./api
func FuzzListParams(f *testing.F) {
	for _, seed := range []string{
		"", "limit=10", "limit=0", "limit=101", "limit=-1", "limit=1e2", "limit=%2010",
		"starting_after=inv_abc123", "starting_after=", "starting_after=inv_%00", "starting_after=%FF",
		"starting_after=pay_%C3%A9", "starting_after=a&starting_after=b", "limit=5&starting_after=" + strings.Repeat("a", 65),
		"starting_after=INV_ABC", "starting_after=x%0D%0Ay", "limit=99999999999999999999",
		"ending_before=inv_abc123", "ending_before=", "ending_before=%FF", "starting_after=a&ending_before=b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/", RawQuery: rawQuery}, Header: http.Header{}}
		p, err := listParams(c)
		query, _ := url.ParseQuery(rawQuery)
		if err != nil {
			var e *billing.Error
			if !errors.As(err, &e) || e.Kind != billing.KindInvalid {
				t.Fatalf("listParams(%q) = %v, want a 422", rawQuery, err)
			}
			switch {
			case e.Param == "limit" && e.Code == billing.CodeInvalidLimit:
			case e.Param == "starting_after" && e.Code == billing.CodeInvalidCursor,
				e.Param == "ending_before" && e.Code == billing.CodeInvalidEndingBefore,
				e.Param == "ending_before" && e.Code == billing.CodeCursorConflict:
				for _, param := range []string{"starting_after", "ending_before"} {
					if cursor := query.Get(param); len(cursor) > 3 && strings.Contains(e.Message, cursor) {
						t.Fatalf("the error repeats the cursor %q: %s", cursor, e.Message)
					}
				}
			default:
				t.Fatalf("listParams(%q) = %+v, want invalid_limit or invalid_cursor", rawQuery, e)
			}
			return
		}
		if p.Limit < 1 || p.Limit > billing.MaxPageLimit {
			t.Fatalf("listParams(%q) accepted limit %d", rawQuery, p.Limit)
		}
		if p.StartingAfter != "" && !billing.HasPrefix(p.StartingAfter, "") {
			t.Fatalf("listParams(%q) accepted cursor %q", rawQuery, p.StartingAfter)
		}
		if p.StartingAfter != query.Get("starting_after") || p.EndingBefore != query.Get("ending_before") {
			t.Fatalf("listParams(%q) took cursors %q and %q, the query says %q and %q", rawQuery, p.StartingAfter, p.EndingBefore,
				query.Get("starting_after"), query.Get("ending_before"))
		}
		if p.EndingBefore != "" && (p.StartingAfter != "" || !billing.HasPrefix(p.EndingBefore, "")) {
			t.Fatalf("listParams(%q) accepted ending_before %q beside starting_after %q", rawQuery, p.EndingBefore, p.StartingAfter)
		}
	})
}

// FuzzPDFLanguage: whatever Accept-Language says, the invoice PDF is in English or French;
// French only when asked for; and an entry with q=0 ("not acceptable") changes nothing.
// CI: go test -run '^$' -fuzz '^FuzzPDFLanguage$' -fuzztime 3s ./api
func FuzzPDFLanguage(f *testing.F) {
	for _, seed := range []string{
		"", "fr", "FR-ca", "fr-CA,fr;q=0.9,en;q=0.8", "en-US,en;q=0.9,fr;q=0.8", "de-DE,fr;q=0.7,en;q=0.5",
		"*", "fr;q=0", "fr;q=abc", "fr;q=NaN", "en;q=1.5,fr", "fr;q=0.5;q=0.9", " ; ,,;q=", "fr;Q=0.3",
		"fr;q=1e-400", "fr;q=+Inf",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := pdfLanguage(header)
		if got != i18n.English && got != i18n.French {
			t.Fatalf("pdfLanguage(%q) = %q", header, got)
		}
		if got == i18n.French && !strings.Contains(strings.ToLower(header), "fr") {
			t.Fatalf("pdfLanguage(%q) = fr, which was not asked for", header)
		}
		for _, refused := range []string{",fr;q=0", ",en;q=0", ",fr;q=0.000"} {
			if again := pdfLanguage(header + refused); again != got {
				t.Fatalf("pdfLanguage(%q) = %s but pdfLanguage(%q) = %s", header, got, header+refused, again)
			}
		}
	})
}

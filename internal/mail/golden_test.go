package mail

import (
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// go test ./internal/mail -run Golden -update rewrites the golden files from the templates;
// review the diff as you would a change of wording.
var update = flag.Bool("update", false, "rewrite internal/mail/testdata/golden from the templates")

const goldenDir = "testdata/golden"

// goldenSample is one mail with fixed data: every variant a template words differently.
type goldenSample struct {
	name   string
	render func(lang string) Message
}

// goldenSamples lists, per template, the variants rendered into golden files. A template in
// templates/ without an entry here fails TestGoldenMails.
var goldenSamples = func() map[string][]goldenSample {
	var (
		at      = time.Date(2026, 3, 1, 14, 5, 0, 0, time.UTC)
		next    = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
		amount  = billing.Money{Amount: 123456, Currency: "USD"}
		balance = billing.Money{Amount: 5000, Currency: "USD"}
		euros   = billing.Money{Amount: 4200050, Currency: "EUR"}
	)
	card := func(status billing.PaymentMethodStatus, brand, reason string) func(string) Message {
		return func(lang string) Message {
			return CardStatusMail(lang, CardStatus{To: "ap@demo.example", CompanyName: "Demo Corp", Brand: brand,
				Last4: "4242", Status: status, Reason: reason, Deadline: at})
		}
	}
	failed := func(method billing.PaymentMethodKind, brand, last4, code, message string, money MoneyOutcome, refund string) func(string) Message {
		return func(lang string) Message {
			return PaymentFailedMail(lang, PaymentFailed{To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_def",
				Amount: amount, Method: method, Brand: brand, Last4: last4, FailureCode: code, FailureMessage: message,
				Money: money, RefundID: refund})
		}
	}
	return map[string][]goldenSample{
		"card_status": {
			{"submitted", card(billing.PMPendingValidation, "visa", "")},
			{"validated", card(billing.PMValidated, "mastercard", "")},
			{"validated_with_note", card(billing.PMValidated, "amex", "Checked with your finance team on the phone.")},
			{"rejected", card(billing.PMRejected, "visa", "The billing address does not match the company's address.")},
			{"rejected_without_reason", card(billing.PMRejected, "unknown", "")},
			{"expired", card(billing.PMExpired, "discover", "not validated before the deadline")},
		},
		"payment_receipt": {
			{"card", func(lang string) Message {
				return PaymentReceipt(lang, PaymentReceiptData{To: "ap@demo.example", CompanyName: "Demo Corp",
					PaymentID: "pay_abc", Amount: amount, Method: billing.MethodCard, Brand: "mastercard", Last4: "4444",
					When: at, NewBalance: balance})
			}},
			{"paypal_euros", func(lang string) Message {
				return PaymentReceipt(lang, PaymentReceiptData{To: "ap@demo.example", PaymentID: "pay_pp",
					Amount: euros, Method: billing.MethodPayPal, When: at, NewBalance: billing.Money{Currency: "EUR"}})
			}},
		},
		"payment_failed": {
			{"not_taken", failed(billing.MethodCard, "visa", "0002", billing.CodeCardDeclined, "Your card was declined.", MoneyNotTaken, "")},
			{"refunded", failed(billing.MethodCard, "amex", "8431", billing.CodeProcessingError, "", MoneyRefunded, "re_3PabcRefund")},
			{"taken", failed(billing.MethodCard, "", "0341", billing.CodePaymentInterrupted, "", MoneyTaken, "")},
			{"unknown_outcome_paypal", failed(billing.MethodPayPal, "", "", "payer_action_required",
				"The buyer did not approve the order.", "", "")},
		},
		"invoice_issued": {
			{"invoice", func(lang string) Message {
				return InvoiceIssuedMail(lang, InvoiceIssued{To: "ap@demo.example", CompanyName: "Demo Corp",
					InvoiceNumber: "INV-2026-000042", Total: amount, DueDate: at})
			}},
			{"credit_note", func(lang string) Message {
				return InvoiceIssuedMail(lang, InvoiceIssued{To: "ap@demo.example", InvoiceNumber: "CN-2026-000007",
					Total: billing.Money{Amount: -500000, Currency: "JPY"}})
			}},
		},
		"dunning": {
			{"retry", func(lang string) Message {
				return DunningMail(lang, Dunning{To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-2026-000042",
					AmountDue: amount, Attempt: 1, MaxAttempts: 4, NextAttempt: &next, Brand: "visa", Last4: "0341",
					FailureCode: billing.CodeInsufficientFunds})
			}},
			{"past_due_no_card", func(lang string) Message {
				return DunningMail(lang, Dunning{To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-2026-000042",
					AmountDue: euros, Attempt: 4, MaxAttempts: 4, PastDue: true, NoPaymentMethod: true})
			}},
		},
		"refund_issued": {
			{"card", func(lang string) Message {
				return RefundIssuedMail(lang, RefundIssued{To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_abc",
					RefundID: "rf_123", InvoiceNumber: "INV-2026-000043", Amount: billing.Money{Amount: 123400, Currency: "USD"},
					Method: billing.MethodCard, Brand: "visa", Last4: "4242", When: at, NewBalance: amount})
			}},
			{"paypal_euros", func(lang string) Message {
				return RefundIssuedMail(lang, RefundIssued{To: "ap@demo.example", PaymentID: "pay_pp", RefundID: "rf_456",
					InvoiceNumber: "INV-2026-000044", Amount: euros, Method: billing.MethodPayPal, When: at,
					NewBalance: billing.Money{Currency: "EUR"}})
			}},
		},
		"credit_issued": {
			{"credit", func(lang string) Message {
				return CreditIssuedMail(lang, CreditIssued{To: "ap@demo.example", CompanyName: "Demo Corp",
					InvoiceNumber: "INV-2026-000045", Amount: billing.Money{Amount: 250000, Currency: "USD"}, When: at, NewBalance: balance})
			}},
		},
		"webhook_disabled": {
			{"disabled", func(lang string) Message {
				return WebhookDisabledMail(lang, WebhookDisabled{To: "ap@demo.example", CompanyName: "Demo Corp",
					EndpointID: "we_123", URL: "https://hooks.demo.example/payportal?source=billing"})
			}},
		},
	}
}()

// templateKinds lists the mails in templates/, each of which must exist in both languages.
func templateKinds(t *testing.T) []string {
	t.Helper()
	files, err := fs.Glob(templateFS, "templates/*.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string][]string{}
	for _, f := range files {
		kind, lang, _ := strings.Cut(strings.TrimSuffix(path.Base(f), ".tmpl"), ".")
		langs[kind] = append(langs[kind], lang)
	}
	var kinds []string
	for kind, ls := range langs {
		slices.Sort(ls)
		if !slices.Equal(ls, []string{i18n.English, i18n.French}) {
			t.Errorf("template %s exists in %v; every mail is written in en and fr", kind, ls)
		}
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	return kinds
}

// TestGoldenMails renders every template, in both languages, with the fixed data of
// goldenSamples and compares subject, text and HTML with testdata/golden/<mail>/<sample>.<lang>.txt.
func TestGoldenMails(t *testing.T) {
	want := map[string]bool{} // golden files the samples produce
	for _, kind := range templateKinds(t) {
		samples := goldenSamples[kind]
		if len(samples) == 0 {
			t.Errorf("template %s has no golden samples: add its variants to goldenSamples and run with -update", kind)
			continue
		}
		for _, s := range samples {
			for _, lang := range []string{i18n.English, i18n.French} {
				file := filepath.Join(goldenDir, kind, s.name+"."+lang+".txt")
				want[file] = true
				got := goldenText(s.render(lang))
				if *update {
					if err := os.MkdirAll(filepath.Dir(file), 0o750); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				old, err := os.ReadFile(file)
				if err != nil {
					t.Errorf("%s: %v (run go test ./internal/mail -run Golden -update)", file, err)
					continue
				}
				if string(old) != got {
					t.Errorf("%s differs from the rendered mail (run with -update and review the diff):\n%s",
						file, firstDifference(string(old), got))
				}
			}
		}
	}
	for kind := range goldenSamples {
		if _, err := fs.Stat(templateFS, "templates/"+kind+".en.tmpl"); err != nil {
			t.Errorf("goldenSamples has %s, which is no template", kind)
		}
	}
	// A golden file no sample renders any more is stale: a renamed or removed variant.
	err := filepath.WalkDir(goldenDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !want[p] {
			if *update {
				return os.Remove(p) //nolint:gosec // G122: the test's own testdata, rewritten on -update

			}
			t.Errorf("%s is rendered by no sample (remove it, or run with -update)", p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// goldenText is a mail as a reviewer reads it. No-break spaces are kept as they are; the
// French typography test below says where they must be.
func goldenText(m Message) string {
	return "To: " + m.To + "\nSubject: " + m.Subject + "\n\n-- text --\n" + m.Text + "\n-- html --\n" + m.HTML
}

func firstDifference(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  golden:   " + quoteSpaces(w) + "\n  rendered: " + quoteSpaces(g)
		}
	}
	return ""
}

// quoteSpaces shows the invisible spaces in a difference.
var quoteSpaces = strings.NewReplacer("\u202f", "⟨NNBSP⟩", "\u00a0", "⟨NBSP⟩").Replace

// frenchSpacingFaults are what French typography forbids in PayPortal's mails: an ordinary
// (or missing) space before ; : ! ? or inside « », and amounts grouped or joined to their
// currency by an ordinary space.
var frenchSpacingFaults = regexp.MustCompile(`[^\x{202f}][:;!?](?:\s|$)|«[^\x{202f}]|[^\x{202f}]»|\d \d{3}\b|\d (?:\$US|€|£GB|\$CA|\$AU|[A-Z]{3})\b`)

// TestFrenchTypography checks every French golden sample, subject, text and HTML: ; : ! ?
// follow a narrow no-break space, « » enclose their words with narrow no-break spaces, and
// amounts are grouped by narrow no-break spaces with a no-break space before the currency.
// English mails have no space before their punctuation.
func TestFrenchTypography(t *testing.T) {
	for kind, samples := range goldenSamples {
		for _, s := range samples {
			fr := s.render(i18n.French)
			for part, text := range map[string]string{"subject": fr.Subject, "text": fr.Text, "html": htmlText(fr.HTML)} {
				for _, line := range strings.Split(text, "\n") {
					// Times (14:05) and URLs (https://…?…) are not punctuation.
					checked := regexp.MustCompile(`\d\d:\d\d|https?://\S+`).ReplaceAllString(line, "")
					if f := frenchSpacingFaults.FindString(checked); f != "" {
						t.Errorf("fr %s/%s %s: %q in %q", kind, s.name, part, quoteSpaces(f), quoteSpaces(line))
					}
				}
			}
			en := s.render(i18n.English)
			for _, text := range []string{en.Subject, en.Text} {
				if strings.ContainsAny(text, "\u202f\u00a0«»") || regexp.MustCompile(` [:;!?]`).MatchString(text) {
					t.Errorf("en %s/%s uses French typography:\n%s", kind, s.name, text)
				}
			}
		}
	}
}

// htmlText keeps the text between the tags of the HTML part, one paragraph a line; the
// head's <title> is the subject, checked with it.
func htmlText(h string) string {
	body := h[strings.Index(h, "<body"):]
	body = regexp.MustCompile(`<br>|</p>`).ReplaceAllString(body, "\n")
	body = regexp.MustCompile(`<[^>]*>`).ReplaceAllString(body, "")
	return strings.NewReplacer("&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`).Replace(body)
}

// TestCardsAreNamedBrandFirst: a card reads as its owner would say it, in every mail that
// names one.
func TestCardsAreNamedBrandFirst(t *testing.T) {
	tests := []struct{ brand, en, fr string }{
		{"visa", "Visa card ending in 4242", "carte Visa se terminant par 4242"},
		{"mastercard", "Mastercard card ending in 4242", "carte Mastercard se terminant par 4242"},
		{"amex", "American Express card ending in 4242", "carte American Express se terminant par 4242"},
		{"discover", "Discover card ending in 4242", "carte Discover se terminant par 4242"},
		{"diners", "Diners Club card ending in 4242", "carte Diners Club se terminant par 4242"},
		{"jcb", "JCB card ending in 4242", "carte JCB se terminant par 4242"},
		{"unionpay", "UnionPay card ending in 4242", "carte UnionPay se terminant par 4242"},
		{"VISA", "Visa card ending in 4242", "carte Visa se terminant par 4242"},
		{"newnet", "Newnet card ending in 4242", "carte Newnet se terminant par 4242"},
		{"unknown", "card ending in 4242", "carte se terminant par 4242"},
		{"", "card ending in 4242", "carte se terminant par 4242"},
	}
	for _, tt := range tests {
		for lang, want := range map[string]string{"en": tt.en, "fr": tt.fr} {
			msgs := []Message{
				CardStatusMail(lang, CardStatus{To: "x@y.z", Brand: tt.brand, Last4: "4242", Status: billing.PMValidated}),
				PaymentReceipt(lang, PaymentReceiptData{To: "x@y.z", PaymentID: "pay_1", Method: billing.MethodCard,
					Brand: tt.brand, Last4: "4242", Amount: billing.Money{Amount: 1, Currency: "USD"}}),
				PaymentFailedMail(lang, PaymentFailed{To: "x@y.z", PaymentID: "pay_1", Method: billing.MethodCard,
					Brand: tt.brand, Last4: "4242", Amount: billing.Money{Amount: 1, Currency: "USD"}}),
				DunningMail(lang, Dunning{To: "x@y.z", InvoiceNumber: "INV-1", Brand: tt.brand, Last4: "4242",
					AmountDue: billing.Money{Amount: 1, Currency: "USD"}}),
			}
			for i, m := range msgs {
				if !strings.Contains(m.Text, want) {
					t.Errorf("%s, brand %q, mail %d: want %q in\n%s", lang, tt.brand, i, want, m.Text)
				}
				if strings.Contains(m.Text, " card card") || strings.Contains(m.Text, " carte carte") {
					t.Errorf("%s, brand %q, mail %d: card named twice in\n%s", lang, tt.brand, i, m.Text)
				}
			}
		}
	}
}

// TestRepWordsAreQuoted: a rep's reason is introduced as the rep's and quoted as written, in
// both languages; the system's own reasons (an expired card's) are not shown as a rep's.
func TestRepWordsAreQuoted(t *testing.T) {
	const words = "Name does not match: call us?"
	for status, shown := range map[billing.PaymentMethodStatus]bool{
		billing.PMRejected: true, billing.PMValidated: true, billing.PMExpired: false, billing.PMPendingValidation: false,
	} {
		en := CardStatusMail("en", CardStatus{To: "x@y.z", Brand: "visa", Last4: "4242", Status: status, Reason: words})
		fr := CardStatusMail("fr", CardStatus{To: "x@y.z", Brand: "visa", Last4: "4242", Status: status, Reason: words})
		wantEN := "Your account representative wrote: “" + words + "”"
		wantFR := "Votre conseiller a écrit\u202f: «\u202f" + words + "\u202f»"
		if got := strings.Contains(en.Text, wantEN); got != shown {
			t.Errorf("en %s: quoted words shown = %v, want %v:\n%s", status, got, shown, en.Text)
		}
		if got := strings.Contains(fr.Text, wantFR); got != shown {
			t.Errorf("fr %s: quoted words shown = %v, want %v:\n%s", status, got, shown, fr.Text)
		}
		if !shown && (strings.Contains(en.Text, words) || strings.Contains(fr.Text, words)) {
			t.Errorf("%s: a reason is shown where no rep decided", status)
		}
	}
}

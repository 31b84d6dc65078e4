package mail_test

import (
	htmltemplate "html/template"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
)

var (
	deadline = time.Date(2026, 3, 1, 14, 5, 0, 0, time.UTC)
	usd      = billing.Money{Amount: 123456, Currency: "USD"}
	balance  = billing.Money{Amount: 5000, Currency: "USD"}
)

// cardNumberRun is what must never appear in a mail: 13 to 19 digits in a row.
var cardNumberRun = regexp.MustCompile(`\d{13,19}`)

// flat turns French typography's no-break spaces into plain ones, for tests about wording;
// the golden files check the exact characters.
var flat = strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace

type mailCase struct {
	name string
	msg  mail.Message
	want []string // in subject or text
}

// allMails renders every mail and variant in lang, with the facts each must state.
func allMails(lang string) []mailCase {
	fr := lang == "fr"
	pick := func(en, frText string) string {
		if fr {
			return frText
		}
		return en
	}
	amount := pick("$1,234.56", "1 234,56 $US")
	card := func(status billing.PaymentMethodStatus, reason string) mail.Message {
		return mail.CardStatusMail(lang, mail.CardStatus{
			To: "ap@demo.example", CompanyName: "Demo Corp", Brand: "visa", Last4: "4242",
			Status: status, Reason: reason, Deadline: deadline,
		})
	}
	return []mailCase{
		{"card submitted", card(billing.PMPendingValidation, ""),
			[]string{"4242", "Visa", pick("March 1, 2026 at 14:05 UTC", "1er mars 2026 à 14:05 UTC"), pick("We received", "Nous avons reçu")}},
		{"card validated", card(billing.PMValidated, ""),
			[]string{"4242", pick("was validated", "a été validée"), pick("monthly payment method", "moyen de paiement mensuel")}},
		{"card rejected", card(billing.PMRejected, "billing address does not match"),
			[]string{"4242", pick("was rejected", "a été refusée"), "billing address does not match"}},
		{"card expired", card(billing.PMExpired, ""),
			[]string{"4242", pick("not validated in time", "n'a pas été validée à temps"), pick("March 1, 2026", "1er mars 2026")}},
		{"receipt", mail.PaymentReceipt(lang, mail.PaymentReceiptData{
			To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_abc", Amount: usd,
			Method: billing.MethodCard, Brand: "mastercard", Last4: "4444", When: deadline, NewBalance: balance,
		}), []string{amount, pick("$50.00", "50,00 $US"), "pay_abc", "4444", pick("March 1, 2026", "1er mars 2026")}},
		{"payment failed", mail.PaymentFailedMail(lang, mail.PaymentFailed{
			To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_def", Amount: usd,
			Method: billing.MethodCard, Last4: "0002", FailureCode: billing.CodeCardDeclined, FailureMessage: "Your card was declined.",
			Money: mail.MoneyNotTaken,
		}), []string{amount, "pay_def", "0002", pick("the card was declined", "la carte a été refusée")}},
		{"payment failed, unknown code", mail.PaymentFailedMail(lang, mail.PaymentFailed{
			To: "ap@demo.example", PaymentID: "pay_ghi", Amount: usd, Method: billing.MethodPayPal,
			FailureCode: "payer_action_required", FailureMessage: "The buyer did not approve the order.",
		}), []string{amount, "PayPal", "The buyer did not approve the order"}},
		{"refund", mail.RefundIssuedMail(lang, mail.RefundIssued{
			To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_abc", RefundID: "rf_abc", InvoiceNumber: "INV-2026-0043",
			Amount: usd, Method: billing.MethodCard, Brand: "visa", Last4: "4242", When: deadline, NewBalance: balance,
		}), []string{amount, "pay_abc", "rf_abc", "INV-2026-0043", "4242", pick("refunded", "remboursé"), pick("March 1, 2026", "1er mars 2026")}},
		{"refund by PayPal", mail.RefundIssuedMail(lang, mail.RefundIssued{
			To: "ap@demo.example", PaymentID: "pay_pp", RefundID: "rf_pp", InvoiceNumber: "INV-2026-0044", Amount: usd,
			Method: billing.MethodPayPal, When: deadline, NewBalance: balance,
		}), []string{amount, "PayPal", "INV-2026-0044"}},
		{"credit", mail.CreditIssuedMail(lang, mail.CreditIssued{
			To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-2026-0045", Amount: usd, When: deadline, NewBalance: balance,
		}), []string{amount, "INV-2026-0045", pick("credit of", "crédit de"), pick("March 1, 2026", "1er mars 2026")}},
		{"invoice", mail.InvoiceIssuedMail(lang, mail.InvoiceIssued{
			To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-2026-0042", Total: usd, DueDate: deadline,
		}), []string{"INV-2026-0042", amount, pick("March 1, 2026", "1er mars 2026")}},
		{"credit note", mail.InvoiceIssuedMail(lang, mail.InvoiceIssued{
			To: "ap@demo.example", InvoiceNumber: "CN-7", Total: billing.Money{Amount: -500000, Currency: "JPY"},
		}), []string{"CN-7", pick("¥500,000", "500 000 JPY"), pick("Credit note", "Avoir")}},
		{"dunning retry", mail.DunningMail(lang, mail.Dunning{
			To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-9", AmountDue: usd,
			Attempt: 1, MaxAttempts: 4, NextAttempt: &deadline, Brand: "visa", Last4: "0341", FailureCode: billing.CodeCardDeclined,
		}), []string{"INV-9", amount, "0341", pick("1 of 4", "1 sur 4"), pick("March 1, 2026", "1er mars 2026")}},
		{"dunning past due, no card", mail.DunningMail(lang, mail.Dunning{
			To: "ap@demo.example", CompanyName: "Demo Corp", InvoiceNumber: "INV-9", AmountDue: usd,
			Attempt: 4, MaxAttempts: 4, PastDue: true, NoPaymentMethod: true,
		}), []string{"INV-9", amount, pick("past due", "retard de paiement"), pick("no validated card", "aucune carte validée")}},
	}
}

func TestTemplatesStateTheFacts(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		for _, c := range allMails(lang) {
			t.Run(lang+"/"+c.name, func(t *testing.T) {
				m := mail.Message{To: c.msg.To, Subject: flat(c.msg.Subject), Text: flat(c.msg.Text), HTML: c.msg.HTML}
				if m.To != "ap@demo.example" {
					t.Errorf("To = %q", m.To)
				}
				if m.Subject == "" || strings.Contains(m.Subject, "\n") {
					t.Errorf("Subject = %q, want one non-empty line", m.Subject)
				}
				if !strings.Contains(m.HTML, `<html lang="`+lang+`">`) {
					t.Errorf("HTML lacks lang=%s", lang)
				}
				all := m.Subject + "\n" + m.Text
				for _, w := range c.want {
					if !strings.Contains(all, w) {
						t.Errorf("missing %q in\n%s", w, all)
					}
				}
				if strings.Contains(all, "{{") || strings.Contains(all, "<no value>") {
					t.Errorf("template leak in\n%s", all)
				}
			})
		}
	}
}

func TestCardStatusSubjectsDiffer(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		seen := map[string]billing.PaymentMethodStatus{}
		for _, st := range []billing.PaymentMethodStatus{billing.PMPendingValidation, billing.PMValidated, billing.PMRejected, billing.PMExpired} {
			m := mail.CardStatusMail(lang, mail.CardStatus{To: "x@y.z", Brand: "visa", Last4: "4242", Status: st})
			if prev, dup := seen[m.Subject]; dup {
				t.Errorf("%s: %s and %s share the subject %q", lang, prev, st, m.Subject)
			}
			seen[m.Subject] = st
		}
	}
	if got := mail.CardStatusMail("en", mail.CardStatus{Brand: "visa", Last4: "4242", Status: billing.PMValidated}).Subject; got != "Your Visa card ending in 4242 was validated" {
		t.Errorf("en subject = %q", got)
	}
	if got := mail.CardStatusMail("fr", mail.CardStatus{Brand: "visa", Last4: "4242", Status: billing.PMValidated}).Subject; got != "Votre carte Visa se terminant par 4242 a été validée" {
		t.Errorf("fr subject = %q", got)
	}
}

func TestUnknownLanguageIsEnglish(t *testing.T) {
	d := mail.CardStatus{To: "x@y.z", Brand: "visa", Last4: "4242", Status: billing.PMValidated}
	en := mail.CardStatusMail("en", d)
	for _, lang := range []string{"", "de", "xx"} {
		if got := mail.CardStatusMail(lang, d); got != en {
			t.Errorf("lang %q: got %q, want the English mail", lang, got.Subject)
		}
	}
	if got := mail.CardStatusMail("fr-CA", d); got.Subject == en.Subject {
		t.Errorf("fr-CA should be French, got %q", got.Subject)
	}
}

func TestNoCardNumberInAnyMail(t *testing.T) {
	const pan = "4242424242424242"
	for _, lang := range []string{"en", "fr"} {
		mails := allMails(lang)
		// Card numbers smuggled in through every field a person or processor fills in.
		mails = append(mails,
			mailCase{name: "pan as last4", msg: mail.CardStatusMail(lang, mail.CardStatus{
				To: "x@y.z", CompanyName: "Corp " + pan, Brand: "visa", Last4: pan, Status: billing.PMRejected,
				Reason: "card 4242 4242 4242 4242 and 4000-0000-0000-0002 look stolen",
			})},
			mailCase{name: "pan in decline", msg: mail.PaymentFailedMail(lang, mail.PaymentFailed{
				To: "x@y.z", PaymentID: "pay_" + pan, Amount: usd, Method: billing.MethodCard, Last4: pan,
				FailureMessage: "declined " + pan,
			})},
			mailCase{name: "pan in dunning", msg: mail.DunningMail(lang, mail.Dunning{
				To: "x@y.z", InvoiceNumber: pan, AmountDue: usd, Attempt: 1, MaxAttempts: 3, Last4: pan, FailureMessage: pan,
			})},
		)
		for _, c := range mails {
			for part, s := range map[string]string{"subject": c.msg.Subject, "text": c.msg.Text, "html": c.msg.HTML} {
				if run := cardNumberRun.FindString(s); run != "" {
					t.Errorf("%s/%s: %s contains the digit run %s", lang, c.name, part, run)
				}
				if strings.Contains(s, "4242 4242") || strings.Contains(s, "4000-0000") {
					t.Errorf("%s/%s: %s contains a spaced card number", lang, c.name, part)
				}
			}
		}
	}
	m := mail.CardStatusMail("en", mail.CardStatus{Brand: "visa", Last4: pan, Status: billing.PMValidated})
	if !strings.Contains(m.Subject, "ending in 4242") {
		t.Errorf("a full number as Last4 should still show the last four: %q", m.Subject)
	}
}

func TestHTMLEscapesWhatCustomersTyped(t *testing.T) {
	m := mail.InvoiceIssuedMail("en", mail.InvoiceIssued{
		To: "x@y.z", CompanyName: `<script>alert("x")</script> & Co`, InvoiceNumber: "INV-1", Total: usd,
	})
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("HTML not escaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") || !strings.Contains(m.HTML, "&amp; Co") {
		t.Errorf("HTML lost the company name:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `<script>alert("x")</script> & Co`) {
		t.Errorf("text part should be verbatim:\n%s", m.Text)
	}
}

func TestFreeTextStaysOnOneLine(t *testing.T) {
	m := mail.CardStatusMail("en", mail.CardStatus{
		To: "x@y.z", Brand: "visa\r\nBcc: victim@example.com", Last4: "4242", Status: billing.PMRejected,
		Reason: "line one\n\nline two",
	})
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("subject has a line break: %q", m.Subject)
	}
	if !strings.Contains(m.Text, "line one line two") {
		t.Errorf("reason should be joined into one line:\n%s", m.Text)
	}
}

// TestPaymentFailedTellsWhatBecameOfTheMoney: each outcome has its own wording in each
// language, and no mail says what another outcome says.
func TestPaymentFailedTellsWhatBecameOfTheMoney(t *testing.T) {
	const (
		enNotTaken = "No money was taken."
		frNotTaken = "Aucun montant n'a été débité."
		enRefunded = "was taken and has been refunded to you in full"
		frRefunded = "a été débité, puis intégralement remboursé"
		enTaken    = "Our billing team is resolving this"
		frTaken    = "Notre service facturation s'en occupe"
		enUnknown  = "it will be released"
		frUnknown  = "il sera libéré"
	)
	tests := []struct {
		lang     string
		money    mail.MoneyOutcome
		refundID string
		subject  string
		want     []string
		wantNot  []string
	}{
		{"en", mail.MoneyNotTaken, "", "Your payment of $1,234.56 failed",
			[]string{"did not go through: the card was declined.", enNotTaken, "try again"},
			[]string{enRefunded, enTaken, enUnknown}},
		{"fr", mail.MoneyNotTaken, "", "Votre paiement de 1 234,56 $US a échoué",
			[]string{"n'a pas abouti : la carte a été refusée.", frNotTaken, "réessayer"},
			[]string{frRefunded, frTaken, frUnknown}},
		{"en", mail.MoneyRefunded, "re_3PabcRefund", "Your payment of $1,234.56 failed and was refunded",
			[]string{"The amount of $1,234.56 " + enRefunded, "(refund reference: re_3PabcRefund)", "5 to 10 business days"},
			[]string{enNotTaken, enTaken, enUnknown}},
		{"fr", mail.MoneyRefunded, "re_3PabcRefund", "Votre paiement de 1 234,56 $US a échoué et a été remboursé",
			[]string{"Le montant de 1 234,56 $US " + frRefunded, "(référence du remboursement : re_3PabcRefund)", "5 à 10 jours ouvrés"},
			[]string{frNotTaken, frTaken, frUnknown}},
		{"en", mail.MoneyRefunded, "", "Your payment of $1,234.56 failed and was refunded",
			[]string{enRefunded + ". Refunds usually"},
			[]string{"refund reference", enNotTaken}},
		{"fr", mail.MoneyRefunded, "", "Votre paiement de 1 234,56 $US a échoué et a été remboursé",
			[]string{frRefunded + ". Un remboursement"},
			[]string{"référence du remboursement", frNotTaken}},
		{"en", mail.MoneyTaken, "", "Your payment of $1,234.56 could not be completed",
			[]string{"The amount of $1,234.56 was taken.", enTaken, "apply it to your balance or refund it", "Please do not pay again."},
			[]string{enNotTaken, enRefunded, enUnknown, "try again"}},
		{"fr", mail.MoneyTaken, "", "Votre paiement de 1 234,56 $US n'a pas pu être finalisé",
			[]string{"Le montant de 1 234,56 $US a bien été débité.", frTaken, "l'imputera sur votre solde ou vous le remboursera",
				"Merci de ne pas payer une seconde fois."},
			[]string{frNotTaken, frRefunded, frUnknown, "réessayer"}},
		{"en", "", "", "Your payment of $1,234.56 failed",
			[]string{"did not complete", "If an amount was held on your card or PayPal account for this payment, " + enUnknown},
			[]string{enNotTaken, enRefunded, enTaken}},
		{"fr", "", "", "Votre paiement de 1 234,56 $US a échoué",
			[]string{"n'a pas abouti", "Si un montant a été bloqué sur votre carte ou votre compte PayPal pour ce paiement, " + frUnknown},
			[]string{frNotTaken, frRefunded, frTaken}},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+string(tt.money)+"/"+tt.refundID, func(t *testing.T) {
			m := mail.PaymentFailedMail(tt.lang, mail.PaymentFailed{
				To: "ap@demo.example", CompanyName: "Demo Corp", PaymentID: "pay_def", Amount: usd,
				Method: billing.MethodCard, Brand: "visa", Last4: "0002", FailureCode: billing.CodeCardDeclined,
				Money: tt.money, RefundID: tt.refundID,
			})
			m.Subject, m.Text, m.HTML = flat(m.Subject), flat(m.Text), flat(m.HTML)
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			for _, part := range []string{m.Text, m.HTML} {
				for _, w := range tt.want {
					if !strings.Contains(part, htmlOrText(part, w)) {
						t.Errorf("missing %q in\n%s", w, part)
					}
				}
				for _, w := range tt.wantNot {
					if strings.Contains(part, htmlOrText(part, w)) {
						t.Errorf("unexpected %q in\n%s", w, part)
					}
				}
			}
			if !strings.Contains(m.Text, "pay_def") || !strings.Contains(m.Text, "0002") {
				t.Errorf("reference or card missing in\n%s", m.Text)
			}
		})
	}
}

// TestPaymentFailedUnknownOutcomeClaimsNothing: a mail whose outcome was not resolved (the
// zero value, or a value this package does not know) never says no money was taken, nor
// that any was.
func TestPaymentFailedUnknownOutcomeClaimsNothing(t *testing.T) {
	claims := []string{
		"No money was taken", "no money", "was taken", "refunded", "do not pay again",
		"Aucun montant", "débité", "remboursé", "ne pas payer",
	}
	for _, lang := range []string{"en", "fr"} {
		for _, money := range []mail.MoneyOutcome{"", "maybe"} {
			for _, method := range []billing.PaymentMethodKind{billing.MethodCard, billing.MethodPayPal} {
				m := mail.PaymentFailedMail(lang, mail.PaymentFailed{
					To: "ap@demo.example", PaymentID: "pay_x", Amount: usd, Method: method,
					FailureCode: billing.CodeProcessingError, Money: money, RefundID: "re_ignored",
				})
				all := m.Subject + "\n" + m.Text
				for _, c := range claims {
					if strings.Contains(strings.ToLower(all), strings.ToLower(c)) {
						t.Errorf("%s, outcome %q, %s: claims %q in\n%s", lang, money, method, c, all)
					}
				}
				if strings.Contains(all, "re_ignored") {
					t.Errorf("%s, outcome %q: shows a refund reference without a refund:\n%s", lang, money, all)
				}
			}
		}
	}
}

// htmlOrText escapes want the way html/template does when part is the HTML part.
func htmlOrText(part, want string) string {
	if strings.HasPrefix(part, "<!DOCTYPE") {
		return htmltemplate.HTMLEscapeString(want)
	}
	return want
}

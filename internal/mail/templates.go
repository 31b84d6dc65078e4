package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// Each mail is one text template per language under templates/, defining "subject" and
// "body". The body is plain text, paragraphs separated by blank lines; the HTML part is
// built from those paragraphs by templates/layout.html, so translators edit one file per
// language and the two parts can never say different things.
//
// Templates receive view structs of already formatted, already sanitised strings: nothing
// they could print is a card number or an unformatted amount.

//go:embed templates/*.tmpl templates/layout.html
var templateFS embed.FS

var (
	textTemplates = map[string]*template.Template{} // "card_status.fr" → template
	layout        = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/layout.html"))
)

func init() {
	for _, name := range []string{"card_status", "payment_receipt", "payment_failed", "invoice_issued", "dunning", "webhook_disabled",
		"refund_issued", "credit_issued"} {
		for _, lang := range []string{i18n.English, i18n.French} {
			file := "templates/" + name + "." + lang + ".tmpl"
			textTemplates[name+"."+lang] = template.Must(
				template.New(file).Option("missingkey=error").ParseFS(templateFS, file))
		}
	}
}

// CardStatus is a card on file whose status changed. Status picks the mail: submitted
// (pending_validation), validated, rejected (with Reason) or expired. Deadline is the
// validation deadline, shown on submitted and expired mails.
type CardStatus struct {
	To          string
	CompanyName string
	Brand       string // e.g. "visa"
	Last4       string
	Status      billing.PaymentMethodStatus
	Reason      string // the rep's reason, for rejected cards
	Deadline    time.Time
}

// CardStatusMail tells the card's contact that its status changed.
func CardStatusMail(lang string, d CardStatus) Message {
	return render("card_status", lang, d.To, struct {
		common
		Card, Status, Reason, Deadline string
	}{
		common:   newCommon(lang, d.CompanyName),
		Card:     cardName(lang, d.Brand, d.Last4),
		Status:   string(d.Status),
		Reason:   safeText(d.Reason),
		Deadline: i18n.FormatDateTime(lang, d.Deadline),
	})
}

// PaymentReceiptData is a one-time payment that succeeded. Brand and Last4 are optional
// and name the card for card payments.
type PaymentReceiptData struct {
	To          string
	CompanyName string
	PaymentID   string
	Amount      billing.Money
	Method      billing.PaymentMethodKind
	Brand       string
	Last4       string
	When        time.Time
	NewBalance  billing.Money
}

// PaymentReceipt confirms a successful payment and gives the balance after it.
func PaymentReceipt(lang string, d PaymentReceiptData) Message {
	return render("payment_receipt", lang, d.To, struct {
		common
		PaymentID, Amount, Method, When, NewBalance string
	}{
		common:     newCommon(lang, d.CompanyName),
		PaymentID:  safeText(d.PaymentID),
		Amount:     i18n.FormatMoney(lang, d.Amount),
		Method:     methodName(lang, d.Method, d.Brand, d.Last4),
		When:       i18n.FormatDate(lang, d.When),
		NewBalance: i18n.FormatMoney(lang, d.NewBalance),
	})
}

// PaymentFailed is a one-time payment that failed. FailureCode is a processor decline code
// (card_declined, insufficient_funds, ...); known codes are explained in the reader's
// language, others fall back to FailureMessage. Money says what became of the customer's
// money, as resolved from the processor; the mail claims no more than it says.
type PaymentFailed struct {
	To             string
	CompanyName    string
	PaymentID      string
	Amount         billing.Money
	Method         billing.PaymentMethodKind
	Brand          string
	Last4          string
	FailureCode    string
	FailureMessage string
	Money          MoneyOutcome
	RefundID       string // the processor's refund reference, shown with MoneyRefunded
}

// MoneyOutcome is what became of the money of a failed payment. The zero value means
// unknown: the mail then makes no claim either way.
type MoneyOutcome string

const (
	// MoneyNotTaken: the processor took nothing (a decline, a hold released).
	MoneyNotTaken MoneyOutcome = "not_taken"
	// MoneyRefunded: the amount was taken and has been refunded in full.
	MoneyRefunded MoneyOutcome = "refunded"
	// MoneyTaken: the amount was taken and the billing team is booking or returning it;
	// the customer must not pay again.
	MoneyTaken MoneyOutcome = "taken"
)

// PaymentFailedMail says a payment did not go through, why, and what became of the money.
func PaymentFailedMail(lang string, d PaymentFailed) Message {
	money := d.Money
	switch money {
	case MoneyNotTaken, MoneyRefunded, MoneyTaken:
	default:
		money = "" // an outcome this package does not know is no claim at all
	}
	return render("payment_failed", lang, d.To, struct {
		common
		PaymentID, Amount, Method, Failure, Money, RefundID string
	}{
		common:    newCommon(lang, d.CompanyName),
		PaymentID: safeText(d.PaymentID),
		Amount:    i18n.FormatMoney(lang, d.Amount),
		Method:    methodName(lang, d.Method, d.Brand, d.Last4),
		Failure:   failureText(lang, d.FailureCode, d.FailureMessage),
		Money:     string(money),
		RefundID:  safeText(d.RefundID),
	})
}

// InvoiceIssued is a new invoice. A negative Total is a credit note and is worded as one.
type InvoiceIssued struct {
	To            string
	CompanyName   string
	InvoiceNumber string
	Total         billing.Money
	DueDate       time.Time // optional
}

// InvoiceIssuedMail announces an invoice (or credit note) on the account.
func InvoiceIssuedMail(lang string, d InvoiceIssued) Message {
	credit := d.Total.Amount < 0
	total := d.Total
	if credit {
		// "A credit of $5.00", not "a credit of -$5.00".
		total.Amount = -total.Amount
	}
	return render("invoice_issued", lang, d.To, struct {
		common
		Number, Total, DueDate string
		Credit                 bool
	}{
		common:  newCommon(lang, d.CompanyName),
		Number:  safeText(d.InvoiceNumber),
		Total:   i18n.FormatMoney(lang, total),
		DueDate: i18n.FormatDate(lang, d.DueDate),
		Credit:  credit,
	})
}

// Dunning is a recurring charge that could not be collected: the card was declined
// (FailureCode, Brand and Last4 say which and why) or, with NoPaymentMethod, the account
// has no validated card. PastDue is set once the last of MaxAttempts has failed;
// NextAttempt is when the next retry runs, if there is one.
type Dunning struct {
	To              string
	CompanyName     string
	InvoiceNumber   string
	AmountDue       billing.Money
	Attempt         int
	MaxAttempts     int
	NextAttempt     *time.Time
	PastDue         bool
	NoPaymentMethod bool
	Brand           string
	Last4           string
	FailureCode     string
	FailureMessage  string
}

// DunningMail asks the customer to fix a failed recurring payment before (or after) the
// account goes past due.
func DunningMail(lang string, d Dunning) Message {
	next := ""
	if d.NextAttempt != nil && !d.PastDue {
		next = i18n.FormatDate(lang, *d.NextAttempt)
	}
	card := ""
	if d.Last4 != "" {
		card = cardName(lang, d.Brand, d.Last4)
	}
	failure := ""
	if d.FailureCode != "" || d.FailureMessage != "" {
		failure = failureText(lang, d.FailureCode, d.FailureMessage)
	}
	return render("dunning", lang, d.To, struct {
		common
		Number, AmountDue, NextAttempt, Card, Failure string
		Attempt, MaxAttempts                          int
		PastDue, NoPaymentMethod                      bool
	}{
		common:          newCommon(lang, d.CompanyName),
		Number:          safeText(d.InvoiceNumber),
		AmountDue:       i18n.FormatMoney(lang, d.AmountDue),
		NextAttempt:     next,
		Card:            card,
		Failure:         failure,
		Attempt:         d.Attempt,
		MaxAttempts:     d.MaxAttempts,
		PastDue:         d.PastDue,
		NoPaymentMethod: d.NoPaymentMethod,
	})
}

// common is what every mail's view has.
type common struct {
	Lang        string
	CompanyName string
}

func newCommon(lang, company string) common {
	return common{Lang: i18n.Lang(lang), CompanyName: safeText(company)}
}

// render executes name's template for lang and assembles the Message. The templates are
// fixed and their views complete, so a failure here is a programming error caught by the
// package's tests, hence the panic.
func render(name, lang, to string, view any) Message {
	tmpl := textTemplates[name+"."+i18n.Lang(lang)]
	var subject, body bytes.Buffer
	if err := tmpl.ExecuteTemplate(&subject, "subject", view); err != nil {
		panic(fmt.Sprintf("mail template %s.%s subject: %v", name, i18n.Lang(lang), err))
	}
	if err := tmpl.ExecuteTemplate(&body, "body", view); err != nil {
		panic(fmt.Sprintf("mail template %s.%s body: %v", name, i18n.Lang(lang), err))
	}
	m := Message{
		To:      strings.TrimSpace(to),
		Subject: strings.Join(strings.Fields(subject.String()), " "),
	}
	paragraphs := splitParagraphs(body.String())
	var text strings.Builder
	for i, p := range paragraphs {
		if i > 0 {
			text.WriteString("\n\n")
		}
		text.WriteString(strings.Join(p, "\n"))
	}
	text.WriteString("\n")
	m.Text = text.String()

	var html bytes.Buffer
	if err := layout.Execute(&html, struct {
		Lang, Subject string
		Paragraphs    [][]string
	}{i18n.Lang(lang), m.Subject, paragraphs}); err != nil {
		panic(fmt.Sprintf("mail layout for %s: %v", name, err))
	}
	m.HTML = html.String()
	return m
}

// splitParagraphs cuts a rendered body at blank lines, trimming each line, so templates can
// be laid out for readability without the whitespace showing in the mail.
func splitParagraphs(body string) [][]string {
	var (
		out [][]string
		cur []string
	)
	for line := range strings.SplitSeq(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			if len(cur) > 0 {
				out = append(out, cur)
				cur = nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// cardName is how a card is named to its owner after the word "card": "visa ending 4242"
// / "visa se terminant par 4242", or just "ending 4242" when the brand is unknown.
func cardName(lang, brand, last4 string) string {
	name := i18n.Pick(lang, "ending ", "se terminant par ") + lastDigits(last4, 4)
	if brand = safeText(brand); brand != "" {
		name = brand + " " + name
	}
	return name
}

// methodName names how a payment was made: the card when known, else the method.
func methodName(lang string, method billing.PaymentMethodKind, brand, last4 string) string {
	switch {
	case method == billing.MethodPayPal:
		return "PayPal"
	case last4 != "":
		return i18n.Pick(lang, "card ", "carte ") + cardName(lang, brand, last4)
	case method == billing.MethodCard || method == "":
		return i18n.Pick(lang, "card", "carte")
	}
	return safeText(string(method))
}

// failureTexts explains the processors' decline codes (see the contract's sandbox table)
// in terms a customer can act on.
var failureTexts = map[string][2]string{
	billing.CodeCardDeclined:       {"the card was declined", "la carte a été refusée"},
	billing.CodeInsufficientFunds:  {"the card has insufficient funds", "les fonds disponibles sur la carte sont insuffisants"},
	billing.CodeExpiredCard:        {"the card has expired", "la carte a expiré"},
	billing.CodeIncorrectCVC:       {"the security code (CVC) is incorrect", "le code de sécurité (CVC) est incorrect"},
	billing.CodeProcessingError:    {"the payment processor reported an error", "le prestataire de paiement a signalé une erreur"},
	billing.CodePaymentInterrupted: {"the payment was interrupted before it completed", "le paiement a été interrompu avant d'aboutir"},
	billing.CodePaymentCanceled:    {"the payment was cancelled before it completed", "le paiement a été annulé avant d'aboutir"},
	billing.CodePaymentInProgress:  {"an earlier payment was still in progress", "un paiement précédent était encore en cours"},
	billing.CodeAuthenticationRequired: {"the card requires 3-D Secure authentication, which cannot be done for an automatic charge",
		"la carte exige une authentification 3-D Secure, impossible pour un prélèvement automatique"},
	billing.CodeAuthenticationFailed:  {"the card's 3-D Secure authentication failed", "l'authentification 3-D Secure de la carte a échoué"},
	billing.CodeAuthenticationTimeout: {"the card's 3-D Secure authentication was not completed in time", "l'authentification 3-D Secure de la carte n'a pas été terminée à temps"},
}

func failureText(lang, code, message string) string {
	if t, ok := failureTexts[code]; ok {
		return i18n.Pick(lang, t[0], t[1])
	}
	if msg := safeText(message); msg != "" {
		return strings.TrimRight(msg, ".")
	}
	if code != "" {
		return safeText(code)
	}
	return i18n.Pick(lang, "the payment was declined", "le paiement a été refusé")
}

// panLike matches 13 to 19 digits, optionally split by spaces or dashes: how a card number
// looks when someone pastes it into a free-text field.
var panLike = regexp.MustCompile(`\d(?:[ -]?\d){12,18}`)

// safeText neutralises text that came from a person or a processor (a company name, a rep's
// reason, a decline message): card numbers are masked and the text is kept to one line so
// it cannot reshape the mail or inject a header.
func safeText(s string) string {
	s = panLike.ReplaceAllString(s, "[redacted]")
	return strings.Join(strings.Fields(s), " ")
}

// lastDigits keeps the last n digits of s, so even a full card number passed by mistake
// shows only what the contract allows.
func lastDigits(s string, n int) string {
	var digits []byte
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			digits = append(digits, s[i])
		}
	}
	if len(digits) > n {
		digits = digits[len(digits)-n:]
	}
	return string(digits)
}

// WebhookDisabled is a webhook endpoint that failed every delivery for too long.
type WebhookDisabled struct {
	To          string
	CompanyName string
	EndpointID  string
	URL         string
}

// WebhookDisabledMail tells the account that its endpoint gets no more events.
func WebhookDisabledMail(lang string, d WebhookDisabled) Message {
	return render("webhook_disabled", lang, d.To, struct {
		common
		EndpointID, URL string
	}{common: newCommon(lang, d.CompanyName), EndpointID: safeText(d.EndpointID), URL: safeText(d.URL)})
}

// RefundIssued is a rep's refund of part or all of a payment, booked: the money is on its
// way back to the customer's card or PayPal account.
type RefundIssued struct {
	To            string
	CompanyName   string
	PaymentID     string
	RefundID      string
	InvoiceNumber string // the Refund invoice
	Amount        billing.Money
	Method        billing.PaymentMethodKind
	Brand         string
	Last4         string
	When          time.Time
	NewBalance    billing.Money
}

// RefundIssuedMail tells the account's contact that money was refunded.
func RefundIssuedMail(lang string, d RefundIssued) Message {
	return render("refund_issued", lang, d.To, struct {
		common
		PaymentID, RefundID, InvoiceNumber, Amount, Method, When, NewBalance string
	}{
		common:        newCommon(lang, d.CompanyName),
		PaymentID:     safeText(d.PaymentID),
		RefundID:      safeText(d.RefundID),
		InvoiceNumber: safeText(d.InvoiceNumber),
		Amount:        i18n.FormatMoney(lang, d.Amount),
		Method:        methodName(lang, d.Method, d.Brand, d.Last4),
		When:          i18n.FormatDate(lang, d.When),
		NewBalance:    i18n.FormatMoney(lang, d.NewBalance),
	})
}

// CreditIssued is a rep's credit to an account, booked as a Credit invoice.
type CreditIssued struct {
	To            string
	CompanyName   string
	InvoiceNumber string // the Credit invoice
	Amount        billing.Money
	When          time.Time
	NewBalance    billing.Money
}

// CreditIssuedMail tells the account's contact that a credit lowers what they owe.
func CreditIssuedMail(lang string, d CreditIssued) Message {
	return render("credit_issued", lang, d.To, struct {
		common
		InvoiceNumber, Amount, When, NewBalance string
	}{
		common:        newCommon(lang, d.CompanyName),
		InvoiceNumber: safeText(d.InvoiceNumber),
		Amount:        i18n.FormatMoney(lang, d.Amount),
		When:          i18n.FormatDate(lang, d.When),
		NewBalance:    i18n.FormatMoney(lang, d.NewBalance),
	})
}

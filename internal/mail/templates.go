package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"
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
//
// French templates are written with ordinary spaces; parsing gives their own words French
// spacing (frenchSpacing), so translators need not type invisible characters. Values
// (a company name, a rep's words) are left as they were written.

//go:embed templates/*.tmpl templates/layout.html
var templateFS embed.FS

var (
	textTemplates = map[string]*template.Template{} // "card_status.fr" → template
	layout        = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/layout.html"))
)

// init parses every template in templates/: a new mail needs no list to be updated, and the
// golden-file test fails until it has samples.
func init() {
	files, err := fs.Glob(templateFS, "templates/*.tmpl")
	if err != nil {
		panic(err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(path.Base(file), ".tmpl") // "card_status.fr"
		t := template.Must(template.New(file).Option("missingkey=error").ParseFS(templateFS, file))
		if strings.HasSuffix(name, "."+i18n.French) {
			for _, tt := range t.Templates() {
				frenchSpaceNodes(tt.Root)
			}
		}
		textTemplates[name] = t
	}
}

// CardStatus is a card on file whose status changed. Status picks the mail: submitted
// (pending_validation), validated, rejected (with Reason) or expired. Deadline is the
// validation deadline, shown on submitted and expired mails.
type CardStatus struct {
	To          string
	CompanyName string
	Brand       string // as the processor names it: "visa", "amex"
	Last4       string
	Status      billing.PaymentMethodStatus
	// Reason is the rep's own words on a validated or rejected card: the mail quotes them as
	// written, never as if PayPortal said them. Other statuses' reasons are the system's and
	// are not shown.
	Reason   string
	Deadline time.Time
}

// CardStatusMail tells the card's contact that its status changed.
func CardStatusMail(lang string, d CardStatus) Message {
	reason := ""
	if d.Status == billing.PMValidated || d.Status == billing.PMRejected {
		reason = safeText(d.Reason)
	}
	return render("card_status", lang, d.To, struct {
		common
		Card, Status, RepWords, Deadline string
	}{
		common:   newCommon(lang, d.CompanyName),
		Card:     cardName(lang, d.Brand, d.Last4),
		Status:   string(d.Status),
		RepWords: reason,
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
		Amount:     money(lang, d.Amount),
		Method:     methodName(lang, d.Method, d.Brand, d.Last4),
		When:       i18n.FormatDate(lang, d.When),
		NewBalance: money(lang, d.NewBalance),
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
	outcome := d.Money
	switch outcome {
	case MoneyNotTaken, MoneyRefunded, MoneyTaken:
	default:
		outcome = "" // an outcome this package does not know is no claim at all
	}
	return render("payment_failed", lang, d.To, struct {
		common
		PaymentID, Amount, Method, Failure, Money, RefundID string
	}{
		common:    newCommon(lang, d.CompanyName),
		PaymentID: safeText(d.PaymentID),
		Amount:    money(lang, d.Amount),
		Method:    methodName(lang, d.Method, d.Brand, d.Last4),
		Failure:   failureText(lang, d.FailureCode, d.FailureMessage),
		Money:     string(outcome),
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
		Total:   money(lang, total),
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
		AmountDue:       money(lang, d.AmountDue),
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
		Subject: strings.Join(strings.FieldsFunc(subject.String(), isASCIISpace), " "),
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
		// ASCII only: a French line may end in a no-break space that belongs to it.
		line = strings.TrimFunc(line, isASCIISpace)
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

// isASCIISpace is the layout whitespace of templates, which render folds; the no-break
// spaces of French typography are not layout and stay.
func isASCIISpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// cardName names a card as its owner would, brand first: "Visa card ending in 4242" /
// "carte Visa se terminant par 4242", or "card ending in 4242" when the brand is unknown.
func cardName(lang, brand, last4 string) string {
	digits := lastDigits(last4, 4)
	if b := brandName(brand); b != "" {
		return i18n.Pick(lang, b+" card ending in "+digits, "carte "+b+" se terminant par "+digits)
	}
	return i18n.Pick(lang, "card ending in ", "carte se terminant par ") + digits
}

// brandNames are the card networks as they write their own names, for the processors'
// brand codes (Stripe's list, which the sandbox shares).
var brandNames = map[string]string{
	"visa":             "Visa",
	"mastercard":       "Mastercard",
	"amex":             "American Express",
	"discover":         "Discover",
	"diners":           "Diners Club",
	"jcb":              "JCB",
	"unionpay":         "UnionPay",
	"cartes_bancaires": "Cartes Bancaires",
	"eftpos_au":        "eftpos",
}

// brandName is how a brand code is written in a sentence; "" for none or "unknown". A code
// PayPortal does not know is shown capitalised rather than dropped.
func brandName(code string) string {
	code = safeText(code)
	if name, ok := brandNames[strings.ToLower(code)]; ok {
		return name
	}
	if code == "" || strings.EqualFold(code, "unknown") {
		return ""
	}
	code = strings.ReplaceAll(code, "_", " ")
	return strings.ToUpper(code[:1]) + code[1:]
}

// methodName names how a payment was made: the card when known, else the method.
func methodName(lang string, method billing.PaymentMethodKind, brand, last4 string) string {
	switch {
	case method == billing.MethodPayPal:
		return "PayPal"
	case last4 != "":
		return cardName(lang, brand, last4)
	case method == billing.MethodCard || method == "":
		return i18n.Pick(lang, "card", "carte")
	}
	return safeText(string(method))
}

// money writes an amount for a mail. French amounts group digits with narrow no-break
// spaces and keep the currency on the number's line: "1\u202f234,56\u00a0$US". (i18n keeps
// plain spaces for the PDFs' cp1252 fonts.)
func money(lang string, m billing.Money) string {
	s := i18n.FormatMoney(lang, m)
	if i18n.Lang(lang) != i18n.French {
		return s
	}
	i := strings.LastIndexByte(s, ' ') // before the currency, always there in French
	if i < 0 {
		return s
	}
	return strings.ReplaceAll(s[:i], " ", narrowNBSP) + "\u00a0" + s[i+1:]
}

const narrowNBSP = "\u202f"

// frenchSpacing gives French text its typography: a narrow no-break space before ; : ! ?
// and inside « », replacing the ordinary space a template was written with (or adding
// one where there was none).
var frenchSpacing = strings.NewReplacer(
	" :", narrowNBSP+":", " ;", narrowNBSP+";", " !", narrowNBSP+"!", " ?", narrowNBSP+"?",
	"\u00a0:", narrowNBSP+":", "\u00a0;", narrowNBSP+";", "\u00a0!", narrowNBSP+"!", "\u00a0?", narrowNBSP+"?",
	"« ", "«"+narrowNBSP, " »", narrowNBSP+"»",
)

// frenchSpaceNodes applies frenchSpacing to a template's own text, not to the values it
// prints. Each text node is done alone, so a space and its punctuation must be in one node
// (they are: "{{.Number}} : " keeps " : " together).
func frenchSpaceNodes(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			frenchSpaceNodes(c)
		}
	case *parse.TextNode:
		n.Text = []byte(frenchSpacing.Replace(string(n.Text)))
	case *parse.IfNode:
		frenchSpaceNodes(n.List)
		frenchSpaceNodes(n.ElseList)
	case *parse.WithNode:
		frenchSpaceNodes(n.List)
		frenchSpaceNodes(n.ElseList)
	case *parse.RangeNode:
		frenchSpaceNodes(n.List)
		frenchSpaceNodes(n.ElseList)
	}
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
		Amount:        money(lang, d.Amount),
		Method:        methodName(lang, d.Method, d.Brand, d.Last4),
		When:          i18n.FormatDate(lang, d.When),
		NewBalance:    money(lang, d.NewBalance),
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
		Amount:        money(lang, d.Amount),
		When:          i18n.FormatDate(lang, d.When),
		NewBalance:    money(lang, d.NewBalance),
	})
}

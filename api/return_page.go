package api

import (
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/gin-gonic/gin/binding"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
)

// answerReturn answers a buyer back from PayPal or 3-D Secure who is not sent on to a
// return_url: a browser lands on a small page saying how the payment stands; a client that
// asks for JSON (Accept: application/json) gets the payment, as it always did.
func (s *Server) answerReturn(c *gin.Context, p billing.Payment) {
	c.Header("Vary", "Accept, Accept-Language")
	c.Header("Cache-Control", "no-store")
	if c.NegotiateFormat(binding.MIMEHTML, binding.MIMEJSON) == binding.MIMEJSON {
		c.PureJSON(http.StatusOK, paymentView(p))
		return
	}
	lang := pdfLanguage(c.GetHeader("Accept-Language"))
	c.Header("Content-Language", lang)
	t := returnTexts[lang]
	state := returnState(p.Status)
	data := map[string]any{
		"Lang": lang, "State": state, "Title": t.title[state], "Body": t.body[state],
		"Amount": i18n.FormatMoney(lang, p.Amount), "PaymentID": p.ID, "PaymentLabel": t.payment,
		"AmountLabel": t.amount, "Merchant": s.merchantName(),
	}
	switch {
	case p.ReturnURL != "":
		// Checked when the payment was created (an allowed host); a link, not a redirect.
		data["Back"], data["BackLabel"] = p.ReturnURL, t.backToShop
	case s.PortalURL != "":
		data["Back"], data["BackLabel"] = s.PortalURL, t.backToPortal
	default:
		data["Close"] = t.close
	}
	s.sandboxPage(c, returnPage, "return page", data)
}

// returnState is what the buyer is told: paid, not paid (canceled, expired or failed), or
// still waiting (the capture or the return is under way).
func returnState(st billing.PaymentStatus) string {
	switch st {
	case billing.PaymentSucceeded:
		return "paid"
	case billing.PaymentCanceled, billing.PaymentExpired:
		return "canceled"
	case billing.PaymentFailed:
		return "failed"
	}
	return "waiting"
}

type returnText struct {
	title, body                                      map[string]string
	payment, amount, backToShop, backToPortal, close string
}

// French puts a narrow no-break space (U+202F) before ":" and ";".
var returnTexts = map[string]returnText{
	i18n.English: {
		title: map[string]string{"paid": "Payment received", "canceled": "Payment cancelled", "failed": "Payment failed",
			"waiting": "Payment in progress"},
		body: map[string]string{
			"paid":     "Thank you: your payment went through.",
			"canceled": "Your payment was cancelled; nothing was charged.",
			"failed":   "Your payment did not go through; nothing was charged.",
			"waiting":  "Your payment is still being processed. Reload this page in a moment to see how it ended.",
		},
		payment: "Payment", amount: "Amount", backToShop: "Back to the shop", backToPortal: "Back to your account",
		close: "You can close this page.",
	},
	i18n.French: {
		title: map[string]string{"paid": "Paiement reçu", "canceled": "Paiement annulé", "failed": "Paiement refusé",
			"waiting": "Paiement en cours"},
		body: map[string]string{
			"paid":     "Merci : votre paiement a bien été effectué.",
			"canceled": "Votre paiement a été annulé ; rien n'a été débité.",
			"failed":   "Votre paiement n'a pas abouti ; rien n'a été débité.",
			"waiting":  "Votre paiement est en cours de traitement. Rechargez cette page dans un instant pour voir son issue.",
		},
		payment: "Paiement", amount: "Montant", backToShop: "Retour à la boutique", backToPortal: "Retour à votre compte",
		close: "Vous pouvez fermer cette page.",
	},
}

var returnPage = template.Must(template.New("return").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.Title}} · {{.Merchant}}</title>
<style>body{font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}dt{color:#555}dd{margin:0 0 .5rem 0;font-weight:bold}</style>
</head>
<body>
<p>{{.Merchant}}</p>
<h1 id="state" data-state="{{.State}}">{{.Title}}</h1>
<p>{{.Body}}</p>
<dl>
<dt>{{.AmountLabel}}</dt><dd id="amount">{{.Amount}}</dd>
<dt>{{.PaymentLabel}}</dt><dd id="payment">{{.PaymentID}}</dd>
</dl>
{{with .Back}}<p><a id="back" href="{{.}}">{{$.BackLabel}}</a></p>{{else}}<p>{{.Close}}</p>{{end}}
</body>
</html>
`))

// merchantName is who the buyer pays, as the buyer's pages name it.
func (s *Server) merchantName() string {
	if s.MerchantName != "" {
		return s.MerchantName
	}
	return "PayPortal"
}

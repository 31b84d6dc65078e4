package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// accountJSON is the account as its customer sees it. Only mail_language can be changed,
// by PATCH.
type accountJSON struct {
	ID           string          `json:"id"`
	Company      string          `json:"company"`
	Address      billing.Address `json:"address"`
	Currency     string          `json:"currency"`
	ContactEmail string          `json:"contact_email"`
	MailLanguage string          `json:"mail_language"`
	BillingDay   int             `json:"billing_day"`
	Status       string          `json:"status"`
	CreatedAt    string          `json:"created_at"`
}

func accountView(a billing.Account) accountJSON {
	return accountJSON{ID: a.ID, Company: a.CompanyName, Address: a.Address, Currency: a.Currency,
		ContactEmail: a.ContactEmail, MailLanguage: a.MailLanguage, BillingDay: a.BillingDay,
		Status: string(a.Status), CreatedAt: timestamp(a.CreatedAt)}
}

func (s *Server) getAccount(c *gin.Context) {
	a, err := s.Billing.Account(c.Request.Context(), c.Param("account_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, accountView(a))
}

// accountUpdate is what a customer may change on its account.
type accountUpdate struct {
	MailLanguage *string `json:"mail_language"`
}

// updateAccount sets the account's mail language: every mail from then on is written in it.
// Setting it again to the value it has changes nothing, so a retry needs no key.
func (s *Server) updateAccount(c *gin.Context) {
	var req accountUpdate
	if err := decodeJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if req.MailLanguage == nil {
		s.writeError(c, missing("mail_language"))
		return
	}
	a, err := s.Billing.SetMailLanguage(c.Request.Context(), c.Param("account_id"), *req.MailLanguage)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, accountView(a))
}

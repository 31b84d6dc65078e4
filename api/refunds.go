package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/portal"
)

// RefundService is the reps' refunds and credits.
type RefundService interface {
	// Refund stores a refund and starts its workflow; replayed: an earlier request with the
	// same Idempotency-Key did it, and this one nothing.
	Refund(ctx context.Context, in portal.NewRefund) (r billing.Refund, replayed bool, err error)
	Get(ctx context.Context, refundID string) (billing.Refund, error)
	PaymentRefunds(ctx context.Context, paymentID string) ([]billing.Refund, error)
	Credit(ctx context.Context, in portal.NewCredit) (c billing.Credit, replayed bool, err error)
	GetCredit(ctx context.Context, creditID string) (billing.Credit, error)
	AccountCredits(ctx context.Context, accountID string) ([]billing.Credit, error)
}

func (s *Server) refundRoutes(rep *gin.RouterGroup) {
	rep.POST("/payments/:payment_id/refunds", s.createRefund)
	rep.GET("/payments/:payment_id/refunds", s.listRefunds)
	rep.GET("/refunds/:refund_id", s.getRefund)
	rep.POST("/accounts/:account_id/credits", s.createCredit)
	rep.GET("/accounts/:account_id/credits", s.listCredits)
	rep.GET("/credits/:credit_id", s.getCredit)
}

type refundRequest struct {
	Amount *int64 `json:"amount"`
	Reason string `json:"reason"`
}

type creditRequest struct {
	Amount   *int64 `json:"amount"`
	Currency string `json:"currency"`
	Reason   string `json:"reason"`
}

// requiredIdempotencyKey is the Idempotency-Key a money-moving write must carry.
func requiredIdempotencyKey(c *gin.Context, what string) (string, error) {
	key, err := idempotencyKey(c)
	if err != nil || key != "" {
		return key, err
	}
	e := billing.Errorf(billing.KindMalformed, billing.CodeIdempotencyKeyNeeded,
		"send an Idempotency-Key header (1 to %d characters) so a retried %s is never made twice", maxIdempotencyKeyLen, what)
	e.Param = idempotencyHeader
	return "", e
}

// createRefund answers 202 with the refund: succeeded or failed when the processor answered
// quickly, pending otherwise (read it again with GET /v1/rep/refunds/{refund_id}).
func (s *Server) createRefund(c *gin.Context) {
	key, err := requiredIdempotencyKey(c, "refund")
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body refundRequest
	if err := decodeJSON(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	if body.Amount == nil {
		s.writeError(c, missing("amount"))
		return
	}
	r, replayed, err := s.Refunds.Refund(c.Request.Context(), portal.NewRefund{PaymentID: c.Param("payment_id"),
		Amount: *body.Amount, Reason: body.Reason, RepKeyID: callerOf(c).KeyID, IdempotencyKey: key})
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusAccepted, replayed, refundView(r))
}

func (s *Server) listRefunds(c *gin.Context) {
	refunds, err := s.Refunds.PaymentRefunds(c.Request.Context(), c.Param("payment_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]refundJSON, len(refunds))
	for i, r := range refunds {
		data[i] = refundView(r)
	}
	c.PureJSON(http.StatusOK, listJSON[refundJSON]{Data: data})
}

func (s *Server) getRefund(c *gin.Context) {
	r, err := s.Refunds.Get(c.Request.Context(), c.Param("refund_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, refundView(r))
}

// createCredit answers 202 with the credit, issued once its Credit invoice is booked.
func (s *Server) createCredit(c *gin.Context) {
	key, err := requiredIdempotencyKey(c, "credit")
	if err != nil {
		s.writeError(c, err)
		return
	}
	var body creditRequest
	if err := decodeJSON(c, &body); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case body.Amount == nil:
		s.writeError(c, missing("amount"))
		return
	case body.Currency == "":
		s.writeError(c, missing("currency"))
		return
	case !billing.ValidCurrency(body.Currency):
		s.writeError(c, billing.Invalid(billing.CodeInvalidValue, "currency", "currency must be an ISO 4217 code such as USD"))
		return
	}
	cr, replayed, err := s.Refunds.Credit(c.Request.Context(), portal.NewCredit{AccountID: c.Param("account_id"),
		Amount: billing.Money{Amount: *body.Amount, Currency: body.Currency}, Reason: body.Reason,
		RepKeyID: callerOf(c).KeyID, IdempotencyKey: key})
	if err != nil {
		s.writeError(c, err)
		return
	}
	answerWrite(c, http.StatusAccepted, replayed, creditView(cr))
}

func (s *Server) listCredits(c *gin.Context) {
	credits, err := s.Refunds.AccountCredits(c.Request.Context(), c.Param("account_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]creditJSON, len(credits))
	for i, cr := range credits {
		data[i] = creditView(cr)
	}
	c.PureJSON(http.StatusOK, listJSON[creditJSON]{Data: data})
}

func (s *Server) getCredit(c *gin.Context) {
	cr, err := s.Refunds.GetCredit(c.Request.Context(), c.Param("credit_id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.PureJSON(http.StatusOK, creditView(cr))
}

type refundJSON struct {
	ID                string           `json:"id"`
	PaymentID         string           `json:"payment_id"`
	AccountID         string           `json:"account_id"`
	Status            string           `json:"status"`
	Amount            int64            `json:"amount"`
	Currency          string           `json:"currency"`
	Reason            string           `json:"reason"`
	CreatedBy         string           `json:"created_by"` // the rep's name
	ProcessorRefundID *string          `json:"processor_refund_id"`
	Failure           *billing.Failure `json:"failure"`
	InvoiceID         *string          `json:"invoice_id"`
	WorkflowID        string           `json:"workflow_id"`
	CreatedAt         string           `json:"created_at"`
	CompletedAt       *string          `json:"completed_at"`
}

func refundView(r billing.Refund) refundJSON {
	return refundJSON{ID: r.ID, PaymentID: r.PaymentID, AccountID: r.AccountID, Status: string(r.Status),
		Amount: r.Amount.Amount, Currency: r.Amount.Currency, Reason: r.Reason, CreatedBy: r.CreatedByName,
		ProcessorRefundID: orNull(r.ProcessorRefundID), Failure: r.Failure, InvoiceID: orNull(r.InvoiceID),
		WorkflowID: r.WorkflowID, CreatedAt: timestamp(r.CreatedAt), CompletedAt: timestampOrNil(r.CompletedAt)}
}

type creditJSON struct {
	ID         string  `json:"id"`
	AccountID  string  `json:"account_id"`
	Status     string  `json:"status"`
	Amount     int64   `json:"amount"`
	Currency   string  `json:"currency"`
	Reason     string  `json:"reason"`
	CreatedBy  string  `json:"created_by"`
	InvoiceID  *string `json:"invoice_id"`
	WorkflowID string  `json:"workflow_id"`
	CreatedAt  string  `json:"created_at"`
	IssuedAt   *string `json:"issued_at"`
}

func creditView(c billing.Credit) creditJSON {
	return creditJSON{ID: c.ID, AccountID: c.AccountID, Status: string(c.Status), Amount: c.Amount.Amount,
		Currency: c.Amount.Currency, Reason: c.Reason, CreatedBy: c.CreatedByName, InvoiceID: orNull(c.InvoiceID),
		WorkflowID: c.WorkflowID, CreatedAt: timestamp(c.CreatedAt), IssuedAt: timestampOrNil(c.IssuedAt)}
}

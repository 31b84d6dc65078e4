package api

import "github.com/gin-gonic/gin"

// InvoicePDFService serves stored invoice PDFs. (Filled in by the invoice-PDF feature.)
type InvoicePDFService interface{}

func (s *Server) getInvoicePDF(c *gin.Context) { s.writeError(c, notYet()) }

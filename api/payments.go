package api

import "github.com/gin-gonic/gin"

// PaymentService takes one-time payments. (Filled in by the payments feature.)
type PaymentService interface{}

// PayPalCheckout is the PayPal sandbox's buyer page. (Filled in by the payments feature.)
type PayPalCheckout interface{}

func (s *Server) createPayment(c *gin.Context) { s.writeError(c, notYet()) }
func (s *Server) listPayments(c *gin.Context)  { s.writeError(c, notYet()) }
func (s *Server) getPayment(c *gin.Context)    { s.writeError(c, notYet()) }
func (s *Server) cancelPayment(c *gin.Context) { s.writeError(c, notYet()) }

func (s *Server) paypalReturnRoutes(r *gin.RouterGroup) {
	r.GET("/v1/paypal/return", func(c *gin.Context) { s.writeError(c, notYet()) })
	r.GET("/v1/paypal/cancel", func(c *gin.Context) { s.writeError(c, notYet()) })
}

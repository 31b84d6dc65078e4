// Package api is PayPortal's HTTP surface, served by Gin. Handlers decode and validate the
// request, call a service, and encode the answer; every error goes through writeError.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/internal/billing"
)

// Authenticator resolves a bearer key to the caller.
type Authenticator interface {
	CallerByAPIKey(ctx context.Context, key string) (billing.Caller, error)
}

// HealthCheck is one dependency /readyz checks.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
	// Optional: when it fails, /readyz says so but stays ready (200).
	Optional bool
}

// Server wires the routes to the services behind them.
type Server struct {
	Auth     Authenticator
	Billing  BillingService
	Cards    CardService
	Payments PaymentService
	// Refunds are the reps' refunds and credits.
	Refunds RefundService
	// Webhooks are the account's webhook endpoints and events.
	Webhooks WebhookService
	PDFs     InvoicePDFService
	Checkout PayPalCheckout // the PayPal sandbox's approval page; nil with a live PayPal
	// SandboxCards is the sandbox card processor's tokenization endpoint and 3-D Secure
	// page; nil with Stripe and outside development.
	SandboxCards SandboxCards
	// RefuseRawCards refuses a raw card number in requests (raw_card_not_allowed): production
	// without PAYPORTAL_ALLOW_RAW_CARDS. Cards then arrive as processor tokens.
	RefuseRawCards bool
	Ready          []HealthCheck // checked by /readyz on the ops listener
	Limits         RateLimits
	// Registry holds the HTTP metrics; the ops listener's /metrics serves it. nil: a fresh
	// one, shared by Handler and OpsHandler.
	Registry *prometheus.Registry
	// Codec is the codec server the ops listener mounts under /codec/ (codec.Handler); nil:
	// none.
	Codec  http.Handler
	Logger *slog.Logger
	Clock  billing.Clock // validation's "now" (card expiry); nil: the system clock
	// MerchantName is who the buyer's pages (the PayPal return page, the sandbox checkout)
	// say is paid; "" is PayPortal.
	MerchantName string
	// PortalURL is the customer portal the return page links back to when the payment has
	// no return_url; "": no link.
	PortalURL string
	// ReturnURLHosts is where a payment's return_url may send the buyer.
	ReturnURLHosts ReturnURLHosts
	// TrustedProxies are the CIDRs of reverse proxies whose X-Forwarded-For names the client
	// (PAYPORTAL_TRUSTED_PROXIES); empty: every client is the connection's peer.
	TrustedProxies []string
	// Console is the rep console (console.Console), served under /rep; nil: none.
	Console http.Handler

	log     *slog.Logger
	limiter *keyLimiter
	metrics *httpMetrics
}

// RateLimits bounds how fast one API key (or one address, before authentication) may call.
type RateLimits struct {
	PerSecond float64
	Burst     int
}

// Handler builds the router.
func (s *Server) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.Clock == nil {
		s.Clock = billing.SystemClock{}
	}
	if s.Limits.PerSecond <= 0 {
		s.Limits = RateLimits{PerSecond: 50, Burst: 100}
	}
	s.limiter = newKeyLimiter(s.Limits.PerSecond, s.Limits.Burst, 10*time.Minute)
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	s.metrics = newHTTPMetrics(s.Registry)

	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Client addresses (the per-address rate limit and authentication-failure budget) come
	// from the connection: gin would otherwise believe any X-Forwarded-For, and every request
	// could claim a new address. Only a peer among TrustedProxies is believed, and only in
	// X-Forwarded-For: gin reads it from the right and stops at the first address that is not
	// a trusted proxy, so what a client wrote into the header itself never counts.
	r.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := r.SetTrustedProxies(s.TrustedProxies); err != nil {
		panic("trusted proxies: " + err.Error()) // config.Load checked every CIDR
	}
	r.Use(s.recoverPanics, s.observe, secureHeaders, s.limitBody)
	r.NoRoute(func(c *gin.Context) {
		s.writeError(c, billing.Errorf(billing.KindNotFound, billing.CodeNotFound, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		abortJSON(c, http.StatusMethodNotAllowed, errorBody{Error: errorDetail{
			Type: "invalid_request", Code: "method_not_allowed", Message: c.Request.Method + " is not allowed here"}})
	})

	s.openAPIRoutes(r) // /metrics, /healthz and /readyz are on the ops listener: OpsHandler
	s.paypalReturnRoutes(r.Group("", s.rateLimitByAddress))

	if s.Console != nil {
		// The console signs reps in with its own session cookie; the address limit slows
		// key guessing on its sign-in form as on the API.
		console := gin.WrapH(s.Console)
		r.Any("/rep", s.rateLimitByAddress, console)
		r.Any("/rep/*path", s.rateLimitByAddress, console)
	}

	v1 := r.Group("/v1", s.authenticate, s.checkPathIDs)
	customer := v1.Group("/accounts/:account_id", s.authorizeAccount)
	customer.GET("", s.getAccount)
	customer.PATCH("", s.updateAccount)
	customer.GET("/billing-summary", s.getBillingSummary)
	customer.GET("/invoices", s.listInvoices)
	customer.GET("/invoices.csv", s.exportInvoices)
	customer.GET("/invoices/:invoice_id", s.getInvoice)
	customer.GET("/invoices/:invoice_id/items/:item_id", s.getInvoiceItem)
	customer.GET("/invoices/:invoice_id/pdf", s.getInvoicePDF)
	customer.POST("/payment-methods", s.addPaymentMethod)
	customer.GET("/payment-methods", s.listPaymentMethods)
	customer.GET("/payment-methods/:pm_id", s.getPaymentMethod)
	customer.POST("/payments", s.createPayment)
	customer.GET("/payments", s.listPayments)
	customer.GET("/payments/:payment_id", s.getPayment)
	customer.POST("/payments/:payment_id/cancel", s.cancelPayment)
	s.webhookRoutes(customer)

	rep := v1.Group("/rep", s.requireRep)
	rep.GET("/payment-methods", s.listPendingPaymentMethods)
	rep.POST("/payment-methods/:pm_id/decision", s.decidePaymentMethod)
	s.refundRoutes(rep)
	return r
}

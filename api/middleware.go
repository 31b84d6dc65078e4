package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/telemetry"
)

type callerKey struct{}

// callerOf is who sent the request; authenticate put it there.
func callerOf(c *gin.Context) billing.Caller {
	caller, _ := c.Request.Context().Value(callerKey{}).(billing.Caller)
	return caller
}

// authenticate resolves the bearer key, then rate-limits by key. A request that fails to
// authenticate is unauthenticated, so it spends its address's budget, like the routes that
// need no key: once that is spent the address gets 429 before any key is looked up, so keys
// cannot be guessed faster than that rate.
func (s *Server) authenticate(c *gin.Context) {
	addr := "addr:" + c.ClientIP()
	if s.limiter.spent(addr) {
		c.Header("Retry-After", "1")
		s.writeError(c, billing.Errorf(billing.KindRateLimited, billing.CodeRateLimited, "too many requests; retry later"))
		return
	}
	header := c.GetHeader("Authorization")
	scheme, key, ok := strings.Cut(header, " ")
	if header == "" {
		s.limiter.allow(addr)
		s.writeError(c, billing.Errorf(billing.KindUnauthenticated, billing.CodeMissingKey, "send your API key as Authorization: Bearer <key>"))
		return
	}
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" || len(key) > 200 {
		s.limiter.allow(addr)
		s.writeError(c, billing.Errorf(billing.KindUnauthenticated, billing.CodeInvalidKey, "the Authorization header must be Bearer <key>"))
		return
	}
	caller, err := s.Auth.CallerByAPIKey(c.Request.Context(), key)
	if err != nil {
		if billing.KindOf(err) == billing.KindUnauthenticated {
			s.limiter.allow(addr)
		}
		s.writeError(c, err)
		return
	}
	if !s.limiter.allow("key:" + caller.KeyID) {
		c.Header("Retry-After", "1")
		s.writeError(c, billing.Errorf(billing.KindRateLimited, billing.CodeRateLimited, "too many requests for this key; retry later"))
		return
	}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), callerKey{}, caller))
	c.Next()
}

// authorizeAccount lets a customer reach only its own account: any other account is "not
// found", so existence never leaks. Reps may read any account but act on none.
func (s *Server) authorizeAccount(c *gin.Context) {
	caller := callerOf(c)
	if caller.Rep {
		if c.Request.Method != http.MethodGet {
			s.writeError(c, billing.Errorf(billing.KindForbidden, billing.CodeCustomerOnly, "reps may read accounts but not act for the customer"))
		}
		return
	}
	if caller.AccountID != c.Param("account_id") {
		s.writeError(c, billing.NotFound("account"))
	}
}

// pathIDPrefixes maps each ID in a route's path to its prefix and to what a 404 calls it.
var pathIDPrefixes = map[string]struct{ prefix, what string }{
	"account_id": {billing.PrefixAccount, "account"},
	"invoice_id": {billing.PrefixInvoice, "invoice"},
	"item_id":    {billing.PrefixInvoiceItem, "invoice item"},
	"pm_id":      {billing.PrefixPaymentMethod, "payment method"},
	"payment_id": {billing.PrefixPayment, "payment"},
	"refund_id":  {billing.PrefixRefund, "refund"},
	"credit_id":  {billing.PrefixCredit, "credit"},
}

// checkPathIDs answers 404 for an ID in the path that no resource can have (wrong prefix,
// odd characters, a NUL or bytes that are not UTF-8, which the database would refuse with
// a 500), before any service sees it.
func (s *Server) checkPathIDs(c *gin.Context) {
	for _, p := range c.Params {
		if id, ok := pathIDPrefixes[p.Key]; ok && !billing.HasPrefix(p.Value, id.prefix) {
			s.writeError(c, billing.NotFound(id.what))
			return
		}
	}
}

// secureHeaders marks every answer as not to be sniffed, cached, framed or referred to:
// API answers are per-caller JSON and may carry a PayPal token in their links. Routes that
// want otherwise (the invoice PDF's cache validators, the sandbox page's own policy)
// overwrite these.
func secureHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}

// requireRep keeps customer keys off the rep routes.
func (s *Server) requireRep(c *gin.Context) {
	if !callerOf(c).Rep {
		s.writeError(c, billing.Errorf(billing.KindForbidden, billing.CodeRepOnly, "this route is for account reps"))
	}
}

// rateLimitByAddress protects the unauthenticated routes.
func (s *Server) rateLimitByAddress(c *gin.Context) {
	if !s.limiter.allow("addr:" + c.ClientIP()) {
		c.Header("Retry-After", "1")
		s.writeError(c, billing.Errorf(billing.KindRateLimited, billing.CodeRateLimited, "too many requests; retry later"))
	}
}

// limitBody caps every body at the contract's 64 KiB, also for routes that do not decode JSON.
func (s *Server) limitBody(c *gin.Context) {
	if c.Request.ContentLength > maxBodyBytes {
		s.writeError(c, billing.Errorf(billing.KindTooLarge, billing.CodeBodyTooLarge, "request body exceeds %d bytes", maxBodyBytes))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes)
}

// recoverPanics answers a panic as a plain internal error and logs it.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r) // a handler cutting a streamed answer short: net/http closes the connection
			}
			s.writeError(c, fmt.Errorf("panic: %v", r))
		}
	}()
	c.Next()
}

// observe gives each request its id and its server span, then logs it (never its body) and
// records its metrics. The id is the caller's Request-Id (or X-Request-Id) when well formed,
// a new one otherwise; every answer carries it in Request-Id, and every log line written
// while serving the request names it, with the trace id. The span continues a trace the
// caller sent in traceparent, and the Temporal client, the activities, the queries and the
// processor calls it leads to hang below it.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	id := requestID(c.Request.Header)
	c.Header(requestIDHeader, id)
	method := methodLabel(c.Request.Method)
	ctx := otel.GetTextMapPropagator().Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	ctx, span := otel.Tracer(tracerName).Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(method), attribute.String("payportal.request_id", id)))
	defer span.End()
	defer func() {
		if r := recover(); r != nil {
			span.SetStatus(codes.Error, "panic")
			panic(r) // recoverPanics answers it
		}
	}()
	c.Request = c.Request.WithContext(telemetry.WithRequestID(ctx, id))
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(status))
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	elapsed := time.Since(start)
	s.metrics.observe(c.Request.Method, route, status, elapsed)
	s.log.InfoContext(c.Request.Context(), "http request", "method", c.Request.Method, "route", route,
		"status", status, "duration_ms", elapsed.Milliseconds())
}

const (
	requestIDHeader = "Request-Id"
	tracerName      = "github.com/payportal/payportal/api"
)

// requestID is the caller's Request-Id, or X-Request-Id, when it is 1 to 128 characters of
// [A-Za-z0-9._-] (anything else could forge log lines or bloat them); otherwise a new random
// one, "req_" and 24 hex digits.
func requestID(h http.Header) string {
	for _, name := range []string{requestIDHeader, "X-Request-Id"} {
		if v := h.Get(name); validRequestID(v) {
			return v
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "req_" + hex.EncodeToString(b[:])
}

func validRequestID(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// keyLimiter holds one token bucket per API key or client address, forgetting idle ones.
type keyLimiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	idle    time.Duration
	buckets map[string]*bucket
	sweptAt time.Time
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

func newKeyLimiter(perSec float64, burst int, idle time.Duration) *keyLimiter {
	return &keyLimiter{perSec: rate.Limit(perSec), burst: burst, idle: idle, buckets: map[string]*bucket{}, sweptAt: time.Now()}
}

func (l *keyLimiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucketFor(key, now).lim.AllowN(now, 1)
}

// spent reports whether key's bucket is empty, taking nothing from it.
func (l *keyLimiter) spent(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucketFor(key, now).lim.TokensAt(now) < 1
}

// bucketFor returns key's bucket, creating it, and forgets idle ones now and then; l.mu is held.
func (l *keyLimiter) bucketFor(key string, now time.Time) *bucket {
	sum := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(sum[:8])
	if now.Sub(l.sweptAt) > l.idle {
		for k, b := range l.buckets {
			if now.Sub(b.lastSeen) > l.idle {
				delete(l.buckets, k)
			}
		}
		l.sweptAt = now
	}
	b, ok := l.buckets[id]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.perSec, l.burst)}
		l.buckets[id] = b
	}
	b.lastSeen = now
	return b
}

package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// statusOf is the one mapping from a domain error kind to the contract's HTTP status and error
// type.
func statusOf(k billing.Kind) (int, string) {
	switch k {
	case billing.KindMalformed:
		return http.StatusBadRequest, "invalid_request"
	case billing.KindInvalid:
		return http.StatusUnprocessableEntity, "invalid_request"
	case billing.KindUnauthenticated:
		return http.StatusUnauthorized, "authentication"
	case billing.KindForbidden:
		return http.StatusForbidden, "authorization"
	case billing.KindNotFound:
		return http.StatusNotFound, "not_found"
	case billing.KindConflict:
		return http.StatusConflict, "conflict"
	case billing.KindTooLarge:
		return http.StatusRequestEntityTooLarge, "invalid_request"
	case billing.KindRateLimited:
		return http.StatusTooManyRequests, "rate_limited"
	case billing.KindUnavailable:
		return http.StatusServiceUnavailable, "internal"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

// writeError answers err in the contract's error shape. Anything that is not a domain error is
// logged with the request's context and answered as a bare 500: internals never leak.
func (s *Server) writeError(c *gin.Context, err error) {
	e := billing.ErrorOf(err)
	if e == nil || e.Kind == billing.KindInternal {
		s.log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method,
			"route", c.FullPath(), "err", err)
		e = billing.Errorf(billing.KindInternal, billing.CodeInternal, "an internal error occurred; it has been logged")
	}
	status, typ := statusOf(e.Kind)
	if status == http.StatusServiceUnavailable {
		s.log.WarnContext(c.Request.Context(), "dependency unavailable", "route", c.FullPath(), "err", err)
	}
	abortJSON(c, status, errorBody{Error: errorDetail{Type: typ, Code: e.Code, Message: e.Message, Param: e.Param}})
}

// abortJSON ends the request with body as JSON. Like every answer of the API (c.PureJSON, not
// c.JSON) it is not HTML-escaped: JSON is no HTML page, and a message that says "Bearer <key>"
// must read so, not "Bearer \u003ckey\u003e".
func abortJSON(c *gin.Context, status int, body any) {
	c.Abort()
	c.PureJSON(status, body)
}

// Package paypal is PayPortal's adapter to the PayPal Orders v2 REST API: a few calls over
// net/http, authenticated with an OAuth2 client-credentials token.
package paypal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// Base URLs of PayPal's REST API.
const (
	LiveBaseURL    = "https://api-m.paypal.com"
	SandboxBaseURL = "https://api-m.sandbox.paypal.com"
)

// Config says which PayPal to talk to and as whom.
type Config struct {
	BaseURL      string // LiveBaseURL, SandboxBaseURL or a test server
	ClientID     string
	ClientSecret string
	HTTPClient   *http.Client // nil: a client with a 30 s timeout
	// Tracing makes a span of each call to PayPal; nil: OpenTelemetry's global provider.
	Tracing trace.TracerProvider
}

// Client calls PayPal. It is safe for concurrent use and shares one access token.
type Client struct {
	base         string
	clientID     string
	clientSecret string
	http         *http.Client
	now          func() time.Time

	mu      sync.Mutex
	token   string
	expires time.Time
}

var _ gateway.PayPal = (*Client)(nil)

// New checks cfg and returns a client; it does not call PayPal yet.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("paypal: BaseURL, ClientID and ClientSecret are required")
	}
	if _, err := url.Parse(cfg.BaseURL); err != nil {
		return nil, fmt.Errorf("paypal: base url: %w", err)
	}
	hc := http.Client{Timeout: 30 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// Each call to PayPal is a client span, named "paypal" and the method (paths hold order
	// ids). The trace context is not sent: PayPal is not part of PayPortal's traces.
	opts := []otelhttp.Option{
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "paypal " + r.Method }),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()),
	}
	if cfg.Tracing != nil {
		opts = append(opts, otelhttp.WithTracerProvider(cfg.Tracing))
	}
	hc.Transport = otelhttp.NewTransport(hc.Transport, opts...)
	return &Client{
		base:         strings.TrimRight(cfg.BaseURL, "/"),
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		http:         &hc,
		now:          time.Now,
	}, nil
}

// tokenMargin renews the token a little before PayPal says it expires, so a request never
// leaves with a token that dies on the way.
const tokenMargin = time.Minute

// accessToken returns the cached token, fetching a new one when it is missing or about to
// expire. The lock is held during the fetch so concurrent callers wait for one token
// instead of each asking for their own.
func (c *Client) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return "", fmt.Errorf("paypal token: %w", err)
	}
	req.SetBasicAuth(c.clientID, c.clientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("paypal token: %w", gateway.Transient(billing.CodeProcessingError, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return "", fmt.Errorf("paypal token: %w", gateway.Transient(billing.CodeProcessingError,
			fmt.Errorf("status %d", resp.StatusCode)))
	}
	if resp.StatusCode != http.StatusOK {
		// invalid_client and the like: configuration, not worth retrying.
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return "", fmt.Errorf("paypal token: status %d: %s %s", resp.StatusCode, e.Error, e.Description)
	}
	var t struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"` // seconds
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("paypal token: unreadable answer: %v", err)
	}
	lifetime := time.Duration(t.ExpiresIn) * time.Second
	margin := min(tokenMargin, lifetime/2)
	c.token, c.expires = t.AccessToken, c.now().Add(lifetime-margin)
	return c.token, nil
}

// forgetToken drops a token PayPal refused, unless another caller already replaced it.
func (c *Client) forgetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// APIError is PayPal's error answer, e.g. 422 UNPROCESSABLE_ENTITY with the issue
// ORDER_NOT_APPROVED. errors.Is matches it with gateway.ErrNotFound (404),
// gateway.ErrInvalidState (422) or gateway.ErrInvalidRequest (400).
type APIError struct {
	Status  int    `json:"-"`
	Name    string `json:"name"`
	Message string `json:"message"`
	DebugID string `json:"debug_id"`
	Details []struct {
		Field       string `json:"field"`
		Issue       string `json:"issue"`
		Description string `json:"description"`
	} `json:"details"`
}

// Issue is the first detail's issue (ORDER_NOT_APPROVED, ...), else the error's name.
func (e *APIError) Issue() string {
	if len(e.Details) > 0 && e.Details[0].Issue != "" {
		return e.Details[0].Issue
	}
	return e.Name
}

func (e *APIError) Error() string {
	return fmt.Sprintf("paypal status %d %s: %s (debug_id %s)", e.Status, e.Issue(), e.Message, e.DebugID)
}

func (e *APIError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return gateway.ErrNotFound
	case http.StatusUnprocessableEntity:
		return gateway.ErrInvalidState
	case http.StatusBadRequest:
		return gateway.ErrInvalidRequest
	}
	return nil
}

// call sends a JSON request and decodes the JSON answer into out. requestID, when set, goes
// in PayPal-Request-Id, which makes PayPal answer a repeat with the first result. Network
// failures, timeouts, 5xx and 429 come back transient; other refusals as *APIError.
func (c *Client) call(ctx context.Context, method, path, requestID string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		token, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if requestID != "" {
			req.Header.Set("PayPal-Request-Id", requestID)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return gateway.Transient(billing.CodeProcessingError, err)
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return gateway.Transient(billing.CodeProcessingError, fmt.Errorf("read answer: %w", err))
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized && attempt == 0:
			// The token was revoked or expired early: fetch a new one once.
			c.forgetToken(token)
			continue
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			return gateway.Transient(billing.CodeProcessingError, apiError(resp.StatusCode, answer))
		case resp.StatusCode >= 300:
			return apiError(resp.StatusCode, answer)
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		return nil
	}
}

func apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	if json.Unmarshal(body, e) != nil || e.Name == "" {
		e.Name = http.StatusText(status)
	}
	return e
}

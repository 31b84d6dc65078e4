// Package webhooks posts signed events to the endpoints accounts registered, and hands the
// outbox's events to their delivery workflows. The receiving side's helper is the public
// package webhook.
package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/payportal/payportal/webhook"
)

// Timeout is how long a receiver has to answer; later is a failed attempt.
const Timeout = 10 * time.Second

// maxResponse is how much of a receiver's answer is read (and thrown away): enough to let the
// connection be reused, never a body held or logged.
const maxResponse = 4 << 10

// Policy says which URLs may receive events.
type Policy struct {
	// AllowLoopback lets development post to 127.0.0.1 and plain http; production refuses
	// both.
	AllowLoopback bool
}

// ErrRefusedAddress says an endpoint resolves to an address PayPortal never posts to.
var ErrRefusedAddress = errors.New("webhook endpoint resolves to a refused address")

// CheckURL refuses what can never be delivered to: not http(s), https only in production,
// credentials in the URL, an IP literal in a refused range. Names are checked again at each
// delivery, after resolution.
func (p Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
		return errors.New("url must be an absolute http(s) URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && p.AllowLoopback:
	default:
		return errors.New("url must use https")
	}
	if u.User != nil {
		return errors.New("url must not carry credentials")
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !p.allowed(ip) {
		return fmt.Errorf("url names %s, a %w", ip, ErrRefusedAddress)
	}
	if strings.EqualFold(u.Hostname(), "localhost") && !p.AllowLoopback {
		return fmt.Errorf("url names localhost, a %w", ErrRefusedAddress)
	}
	return nil
}

// metadata are cloud instance metadata addresses outside the ranges netip classifies.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT, Alibaba's metadata
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS over IPv6 (also private)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("64:ff9b::/96"),       // NAT64 could reach any IPv4, private too
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// allowed reports whether ip is a public unicast address, or loopback when allowed. The
// metadata service (169.254.169.254) is link-local; private covers 10/8, 172.16/12,
// 192.168/16 and fc00::/7.
func (p Policy) allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() {
		return p.AllowLoopback
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return false
	}
	for _, r := range metadata {
		if r.Contains(ip) {
			return false
		}
	}
	return true
}

// Sender posts events. Its client dials only addresses the policy allows, checked on the
// address actually dialled (after DNS resolution), so a name rebound to an inside address
// gets nowhere; it follows no redirect and uses no proxy.
type Sender struct {
	Policy Policy
	client *http.Client
}

// NewSender builds a sender for policy.
func NewSender(policy Policy) *Sender {
	dialer := &net.Dialer{Timeout: Timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !policy.allowed(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
		}
		return nil
	}}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   Timeout,
		ResponseHeaderTimeout: Timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Sender{Policy: policy, client: &http.Client{
		Transport:     transport,
		Timeout:       Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Attempt is what one post came to. StatusCode is 0 when no answer came.
type Attempt struct {
	StatusCode int
	Duration   time.Duration
	Err        error // nil only for a 2xx
}

// Post sends body, signed with secret at now, to rawURL.
func (s *Sender) Post(ctx context.Context, rawURL, eventID, secret string, body []byte, now time.Time) Attempt {
	if err := s.Policy.CheckURL(rawURL); err != nil {
		return Attempt{Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "PayPortal-Webhooks/1")
	req.Header.Set(webhook.EventIDHeader, eventID)
	req.Header.Set(webhook.SignatureHeader, webhook.Sign(secret, now, body))
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		return Attempt{Duration: time.Since(start), Err: err}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	_ = resp.Body.Close()
	a := Attempt{StatusCode: resp.StatusCode, Duration: time.Since(start)}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.Err = fmt.Errorf("receiver answered %d", resp.StatusCode)
	}
	return a
}

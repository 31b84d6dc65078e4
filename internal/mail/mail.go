// Package mail sends PayPortal's customer mails: card status changes, payment receipts and
// failures, issued invoices and dunning. Templates (templates.go) build a Message; a Sender
// delivers it, over SMTP in production or to the log when no SMTP server is configured.
//
// Mails never carry a card number: templates only receive a card's brand and last four
// digits, and redact anything that looks like a card number in free text.
package mail

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one mail to one recipient. HTML is optional; Text is always sent, as the
// fallback every client can show.
type Message struct {
	To, Subject, Text, HTML string
}

// Sender delivers a Message. Activities call it and rely on Temporal to retry failures, so
// an implementation makes one attempt and reports what went wrong.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// ErrInvalidMessage marks a message that no retry can deliver (no recipient, malformed
// address); see Permanent.
var ErrInvalidMessage = errors.New("invalid mail message")

// Permanent reports whether err from Send will not go away by retrying: the message itself
// is invalid, or the server refused it with a 5xx reply. Activities can turn such errors
// into non-retryable ones. Connection failures and 4xx replies are temporary.
func Permanent(err error) bool {
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var se *gomail.SendError
	return errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500
}

// DefaultFrom is the sender when PAYPORTAL_SMTP_FROM is unset.
const DefaultFrom = "PayPortal Billing <billing@payportal.local>"

// TLSPolicy says whether SMTPSender upgrades the connection with STARTTLS.
type TLSPolicy string

const (
	// TLSOpportunistic uses STARTTLS when the server offers it and plain SMTP otherwise, so
	// the same configuration works with a real relay and with mailpit on loopback.
	TLSOpportunistic TLSPolicy = "opportunistic"
	// TLSMandatory refuses to send unless STARTTLS succeeds.
	TLSMandatory TLSPolicy = "mandatory"
	// TLSNone never attempts STARTTLS.
	TLSNone TLSPolicy = "none"
)

// SMTPConfig configures an SMTPSender.
type SMTPConfig struct {
	Addr     string    // host:port of the SMTP server
	From     string    // header and envelope sender; DefaultFrom when empty
	Username string    // authenticate only when set
	Password string    // never logged
	TLS      TLSPolicy // TLSOpportunistic when empty
	// Timeout bounds each SMTP command; 15s when zero. The caller's ctx still applies.
	Timeout time.Duration
}

// SMTPSender sends each Message over a fresh SMTP connection. A connection per send keeps
// it stateless and safe for concurrent activities; mail volume is far too low for pooling
// to matter.
type SMTPSender struct {
	cfg  SMTPConfig
	host string
	port int
	from *netmail.Address
}

// NewSMTPSender checks cfg and returns a sender; it does not connect.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 1 || port > 65535 || host == "" {
		return nil, fmt.Errorf("smtp address %q: want host:port", cfg.Addr)
	}
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", cfg.From, err)
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSOpportunistic
	case TLSOpportunistic, TLSMandatory, TLSNone:
	default:
		return nil, fmt.Errorf("smtp tls policy %q: want opportunistic, mandatory or none", cfg.TLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	return &SMTPSender{cfg: cfg, host: host, port: port, from: from}, nil
}

// Send delivers m in one SMTP transaction. Cancelling ctx aborts the transaction, whatever
// stage it is in.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}

	// go-mail only watches ctx while dialling; closing the connection when ctx ends makes
	// a stuck DATA phase give up too, instead of outliving the activity.
	var (
		mu    sync.Mutex
		stops []func() bool
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, stop := range stops {
			stop()
		}
	}()
	dial := func(dialCtx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(dialCtx, network, addr)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		stops = append(stops, context.AfterFunc(ctx, func() { _ = conn.Close() }))
		mu.Unlock()
		return conn, nil
	}

	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.cfg.Timeout),
		gomail.WithTLSPolicy(goMailPolicy(s.cfg.TLS)),
		gomail.WithDialContextFunc(dial),
	}
	if s.cfg.Username != "" {
		// PLAIN and LOGIN stay in the list for relays that offer nothing else; go-mail only
		// uses them over TLS or to a loopback server, so the password never crosses a
		// network in clear.
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(s.cfg.Username),
			gomail.WithPassword(s.cfg.Password))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s: %w", s.cfg.Addr, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = errors.Join(ctxErr, err)
		}
		return fmt.Errorf("send mail %q to %s via %s: %w", m.Subject, m.To, s.cfg.Addr, err)
	}
	return nil
}

// build turns m into a go-mail message with the headers every mail needs.
func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	if strings.TrimSpace(m.To) == "" {
		return nil, fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	if m.Subject == "" || m.Text == "" {
		return nil, fmt.Errorf("%w: mail to %s has no subject or text", ErrInvalidMessage, m.To)
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("%w: recipient %q: %v", ErrInvalidMessage, m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// A Message-ID in our own domain, rather than go-mail's default built from the worker's
	// hostname, so replies and bounces thread the same whichever worker sent the mail.
	msg.SetMessageIDWithValue(rand.Text() + "@" + domainOf(s.from.Address))
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "payportal.local"
}

func goMailPolicy(p TLSPolicy) gomail.TLSPolicy {
	switch p {
	case TLSMandatory:
		return gomail.TLSMandatory
	case TLSNone:
		return gomail.NoTLS
	}
	return gomail.TLSOpportunistic
}

// LogSender writes mails to the log instead of sending them: the development default when
// no SMTP server is configured, so every flow still shows what it would have sent.
type LogSender struct {
	Logger *slog.Logger // slog.Default() when nil
}

// Send logs m at Info and never fails.
func (l LogSender) Send(ctx context.Context, m Message) error {
	logger := l.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.InfoContext(ctx, "mail not sent (no SMTP server configured)",
		"to", m.To, "subject", m.Subject, "text", m.Text)
	return nil
}

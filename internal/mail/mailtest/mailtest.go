// Package mailtest runs a real SMTP server on loopback for tests, so the code under test
// speaks SMTP exactly as it does in production, and decodes what arrives so tests can look
// for words in it. It also offers Outbox, an in-memory mail.Sender for tests that only care
// which mails were asked for.
package mailtest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/payportal/payportal/internal/mail"
)

// Received is one message as the server got it: the envelope, the decoded subject and
// bodies, and the raw bytes.
type Received struct {
	From     string   // envelope sender (MAIL FROM)
	To       []string // envelope recipients (RCPT TO)
	Username string   // who authenticated, if anyone
	Header   netmail.Header
	Subject  string // RFC 2047 words decoded
	Text     string // the text/plain part, transfer encoding undone
	HTML     string // the text/html part, if any
	Raw      []byte
}

// Server is an SMTP server on 127.0.0.1 that keeps every message it accepts.
type Server struct {
	smtp *smtp.Server
	addr string

	mu       sync.Mutex
	msgs     []Received
	changed  chan struct{} // closed and replaced whenever msgs grows
	failNext int
	user     string
	pass     string
}

// Option configures a Server.
type Option func(*Server)

// WithAuth makes the server require AUTH PLAIN with these credentials before MAIL FROM.
func WithAuth(username, password string) Option {
	return func(s *Server) { s.user, s.pass = username, password }
}

// Start listens on 127.0.0.1:0 and serves until the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{changed: make(chan struct{})}
	for _, opt := range opts {
		opt(s)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	s.addr = l.Addr().String()

	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &session{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.EnableSMTPUTF8 = true
	srv.AllowInsecureAuth = true // loopback only; lets WithAuth work without TLS
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	// Connections cut by Close at the end of a test are expected, not worth a log line.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.smtp = srv

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// Serve registers the listener only once its goroutine runs; a test that never
		// connected may end before that, so close the listener here as well.
		_ = l.Close()
		<-done
	})
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Messages returns a copy of every message accepted so far, oldest first.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Reset forgets the messages received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// FailNext makes the next n DATA commands fail with 451, a temporary error, so tests can
// watch a retry happen.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// WaitFor waits until at least n messages have arrived and returns them all; it fails the
// test after timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.msgs), s.changed
		if got >= n {
			msgs := append([]Received(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("mailtest: got %d messages after %v, want at least %d", got, timeout, n)
			return nil
		}
	}
}

func (s *Server) deliver(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// takeFailure reports whether this DATA command should fail, counting it down.
func (s *Server) takeFailure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return true
	}
	return false
}

// session is one SMTP connection's transaction state.
type session struct {
	srv      *Server
	username string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.srv.user == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.srv.user || password != ss.srv.pass {
			return smtp.ErrAuthFailed
		}
		ss.username = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.user != "" && ss.username == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.srv.takeFailure() {
		return &smtp.SMTPError{
			Code:         451,
			EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message:      "mailtest: temporary failure injected by FailNext",
		}
	}
	rec, err := Parse(raw)
	if err != nil {
		return &smtp.SMTPError{
			Code:         554,
			EnhancedCode: smtp.EnhancedCode{5, 6, 0},
			Message:      "mailtest: " + err.Error(),
		}
	}
	rec.From, rec.To, rec.Username = ss.from, append([]string(nil), ss.to...), ss.username
	ss.srv.deliver(rec)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// Parse decodes a raw RFC 5322 message: headers, subject, and the text and HTML bodies
// found anywhere in a multipart tree, with quoted-printable or base64 undone. Only the
// envelope fields of the result are left empty.
func Parse(raw []byte) (Received, error) {
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("read message: %w", err)
	}
	rec := Received{Header: msg.Header, Raw: raw}
	var dec mime.WordDecoder
	if rec.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return Received{}, fmt.Errorf("decode subject: %w", err)
	}
	if err := walk(&rec, msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body); err != nil {
		return Received{}, err
	}
	return rec, nil
}

// walk fills rec's bodies from one MIME entity, descending into multiparts. The first
// text/plain and text/html win, which is what a mail client would show.
func walk(rec *Received, contentType, encoding string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walk(rec, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	var content []byte
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		content, err = io.ReadAll(quotedprintable.NewReader(body))
	case "base64":
		content, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, newlineStripper{body}))
	default:
		content, err = io.ReadAll(body)
	}
	if err != nil {
		return fmt.Errorf("decode %s body: %w", encoding, err)
	}
	// go-mail writes UTF-8, as PayPortal's tests expect; other charsets pass through as is.
	switch mediaType {
	case "text/plain":
		if rec.Text == "" {
			rec.Text = strings.ReplaceAll(string(content), "\r\n", "\n")
		}
	case "text/html":
		if rec.HTML == "" {
			rec.HTML = strings.ReplaceAll(string(content), "\r\n", "\n")
		}
	}
	return nil
}

// newlineStripper drops the line breaks base64 bodies are wrapped with, which
// encoding/base64 would otherwise reject.
type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, b := range p[:k] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// Outbox is a mail.Sender that keeps what it is asked to send, for tests of code that
// sends mail but does not need SMTP. Err, when set, is returned by every Send.
type Outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	Err  error
}

var _ mail.Sender = (*Outbox)(nil)

// Send records m (even when Err is set, so tests can count attempts).
func (o *Outbox) Send(_ context.Context, m mail.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return o.Err
}

// Messages returns a copy of every message sent so far.
func (o *Outbox) Messages() []mail.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]mail.Message(nil), o.msgs...)
}

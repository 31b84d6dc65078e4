package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/mail/mailtest"
)

func newSender(t *testing.T, cfg mail.SMTPConfig) *mail.SMTPSender {
	t.Helper()
	s, err := mail.NewSMTPSender(cfg)
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

func TestSMTPRoundTripEnglishAndFrench(t *testing.T) {
	srv := mailtest.Start(t)
	sender := newSender(t, mail.SMTPConfig{Addr: srv.Addr()})
	ctx := context.Background()

	for _, lang := range []string{"en", "fr"} {
		m := mail.CardStatusMail(lang, mail.CardStatus{
			To: "ap@demo.example", CompanyName: "Société Générale d'Électricité", Brand: "visa", Last4: "4242",
			Status: billing.PMValidated,
		})
		if err := sender.Send(ctx, m); err != nil {
			t.Fatalf("Send(%s): %v", lang, err)
		}
	}
	got := srv.WaitFor(t, 2, 5*time.Second)

	wantSubjects := []string{
		"Your Visa card ending in 4242 was validated",
		"Votre carte Visa se terminant par 4242 a été validée",
	}
	for i, r := range got {
		if r.Subject != wantSubjects[i] {
			t.Errorf("message %d subject = %q, want %q", i, r.Subject, wantSubjects[i])
		}
		if r.From != "billing@payportal.local" {
			t.Errorf("envelope from = %q", r.From)
		}
		if len(r.To) != 1 || r.To[0] != "ap@demo.example" {
			t.Errorf("envelope to = %v", r.To)
		}
		if !strings.Contains(r.Text, "Société Générale d'Électricité") {
			t.Errorf("accents lost in text:\n%s", r.Text)
		}
		if !strings.Contains(r.HTML, "Société Générale") {
			t.Errorf("accents lost in HTML:\n%s", r.HTML)
		}
		if h := r.Header.Get("Message-Id"); !strings.HasSuffix(h, "@payportal.local>") {
			t.Errorf("Message-ID = %q", h)
		}
		if d, err := r.Header.Date(); err != nil || time.Since(d) > time.Minute {
			t.Errorf("Date = %v, %v", d, err)
		}
		if from := r.Header.Get("From"); !strings.Contains(from, "PayPortal Billing") {
			t.Errorf("From header = %q", from)
		}
	}
	if !strings.Contains(got[1].Text, "C'est désormais votre moyen de paiement mensuel") {
		t.Errorf("French body:\n%s", got[1].Text)
	}
}

// French typography's no-break spaces survive the subject's and the body's encodings.
func TestSMTPKeepsFrenchSpacing(t *testing.T) {
	srv := mailtest.Start(t)
	m := mail.PaymentReceipt("fr", mail.PaymentReceiptData{To: "ap@demo.example", PaymentID: "pay_1", Amount: usd,
		Method: billing.MethodCard, Brand: "amex", Last4: "0005", NewBalance: balance})
	if err := newSender(t, mail.SMTPConfig{Addr: srv.Addr()}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	r := srv.WaitFor(t, 1, 5*time.Second)[0]
	if r.Subject != m.Subject || r.Subject != "Paiement reçu\u202f: 1\u202f234,56\u00a0$US" {
		t.Errorf("subject %q, want %q", r.Subject, m.Subject)
	}
	if strings.TrimRight(r.Text, "\r\n") != strings.TrimRight(m.Text, "\n") || !strings.Contains(r.Text, "carte American Express se terminant par 0005") {
		t.Errorf("text:\n%s\nwant:\n%s", r.Text, m.Text)
	}
	if !strings.Contains(r.HTML, "Nouveau solde\u202f: 50,00\u00a0$US") {
		t.Errorf("HTML lost the no-break spaces:\n%s", r.HTML)
	}
}

func TestSMTPFailNextThenRetrySucceeds(t *testing.T) {
	srv := mailtest.Start(t)
	sender := newSender(t, mail.SMTPConfig{Addr: srv.Addr(), From: "Billing <noreply@example.com>"})
	m := mail.Message{To: "ap@demo.example", Subject: "hello", Text: "body"}

	srv.FailNext(1)
	err := sender.Send(context.Background(), m)
	if err == nil {
		t.Fatal("Send succeeded, want the injected 451")
	}
	if !strings.Contains(err.Error(), "451") {
		t.Errorf("error %q does not carry the 451", err)
	}
	if mail.Permanent(err) {
		t.Errorf("a 451 must be retryable: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages stored after a failed DATA", n)
	}

	if err := sender.Send(context.Background(), m); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if r := srv.WaitFor(t, 1, 5*time.Second)[0]; r.From != "noreply@example.com" || strings.TrimSpace(r.Text) != "body" {
		t.Errorf("got from %q text %q", r.From, r.Text)
	}
}

func TestSMTPAuth(t *testing.T) {
	srv := mailtest.Start(t, mailtest.WithAuth("billing", "s3cret"))
	m := mail.Message{To: "ap@demo.example", Subject: "hello", Text: "body"}

	if err := newSender(t, mail.SMTPConfig{Addr: srv.Addr()}).Send(context.Background(), m); err == nil {
		t.Error("send without credentials succeeded")
	}
	bad := newSender(t, mail.SMTPConfig{Addr: srv.Addr(), Username: "billing", Password: "wrong"})
	if err := bad.Send(context.Background(), m); err == nil {
		t.Error("send with a wrong password succeeded")
	}
	good := newSender(t, mail.SMTPConfig{Addr: srv.Addr(), Username: "billing", Password: "s3cret"})
	if err := good.Send(context.Background(), m); err != nil {
		t.Fatalf("send with credentials: %v", err)
	}
	if r := srv.WaitFor(t, 1, 5*time.Second)[0]; r.Username != "billing" {
		t.Errorf("authenticated as %q", r.Username)
	}
}

func TestSMTPMandatoryTLSRefusesPlainServer(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, mail.SMTPConfig{Addr: srv.Addr(), TLS: mail.TLSMandatory})
	if err := s.Send(context.Background(), mail.Message{To: "a@b.c", Subject: "s", Text: "t"}); err == nil {
		t.Fatal("mandatory TLS sent over a server without STARTTLS")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered in clear", n)
	}
}

func TestSMTPHonoursContext(t *testing.T) {
	// A server that accepts and then says nothing: without ctx the send would hang until
	// the SMTP timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()

	s := newSender(t, mail.SMTPConfig{Addr: l.Addr().String(), Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, mail.Message{To: "a@b.c", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send to a silent server succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send took %v after ctx expired", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
}

func TestSMTPUnreachableIsTemporary(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	err = newSender(t, mail.SMTPConfig{Addr: addr}).Send(context.Background(), mail.Message{To: "a@b.c", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send to a closed port succeeded")
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the server", err)
	}
	if mail.Permanent(err) {
		t.Errorf("connection refused should be retryable")
	}
}

func TestSMTPInvalidMessageIsPermanent(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, mail.SMTPConfig{Addr: srv.Addr()})
	for _, m := range []mail.Message{
		{Subject: "s", Text: "t"},
		{To: "not an address", Subject: "s", Text: "t"},
		{To: "a@b.c", Text: "t"},
	} {
		err := s.Send(context.Background(), m)
		if !errors.Is(err, mail.ErrInvalidMessage) || !mail.Permanent(err) {
			t.Errorf("Send(%+v) = %v, want a permanent ErrInvalidMessage", m, err)
		}
	}
}

func TestNewSMTPSenderRejectsBadConfig(t *testing.T) {
	for _, cfg := range []mail.SMTPConfig{
		{Addr: "localhost"},
		{Addr: "localhost:smtp"},
		{Addr: ":25"},
		{Addr: "localhost:25", From: "not an address"},
		{Addr: "localhost:25", TLS: "sometimes"},
	} {
		if _, err := mail.NewSMTPSender(cfg); err == nil {
			t.Errorf("NewSMTPSender(%+v) accepted", cfg)
		}
	}
}

func TestLogSender(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	m := mail.PaymentReceipt("fr", mail.PaymentReceiptData{
		To: "ap@demo.example", PaymentID: "pay_1", Amount: usd, Method: billing.MethodPayPal, NewBalance: balance,
	})
	if err := (mail.LogSender{Logger: logger}).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"level=INFO", "ap@demo.example", `Paiement reçu\u202f: 1\u202f234,56\u00a0$US`, "pay_1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestSMTPEnvelopeSenderIsTheBareFromAddress: a From with a display name (the default has one)
// still gives the server a bare envelope sender.
func TestSMTPEnvelopeSenderIsTheBareFromAddress(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, mail.SMTPConfig{Addr: srv.Addr(), From: "Factures <factures@example.fr>", TLS: mail.TLSNone})
	if err := s.Send(context.Background(), mail.Message{To: "a@b.c", Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if r := srv.WaitFor(t, 1, 5*time.Second)[0]; r.From != "factures@example.fr" {
		t.Errorf("from = %q", r.From)
	}
}

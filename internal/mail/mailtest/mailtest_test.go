package mailtest_test

import (
	"context"
	"errors"
	"net/smtp"
	"strings"
	"testing"
	"time"

	"github.com/payportal/payportal/internal/mail"
	"github.com/payportal/payportal/internal/mail/mailtest"
)

// A message as another mailer might write it: base64 text, quoted-printable HTML, an
// encoded-word subject, nested multiparts.
const nested = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?UTF-8?B?RmFjdHVyZSDDqW1pc2U=?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"TGEgZmFjdHVyZSBlc3Qg\r\n" +
	"w6ltaXNlLg==\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<p>La facture est =C3=A9mise, et cette ligne est tr=\r\n" +
	"=C3=A8s longue.</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: application/pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0=\r\n" +
	"--outer--\r\n"

func TestParseDecodesNestedParts(t *testing.T) {
	r, err := mailtest.Parse([]byte(nested))
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Facture émise" {
		t.Errorf("subject = %q", r.Subject)
	}
	if r.Text != "La facture est émise." {
		t.Errorf("text = %q", r.Text)
	}
	if r.HTML != "<p>La facture est émise, et cette ligne est très longue.</p>" {
		t.Errorf("html = %q", r.HTML)
	}
}

func TestServerWithStandardClient(t *testing.T) {
	srv := mailtest.Start(t)
	msg := "Subject: plain\r\n\r\nhello\r\n"
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com", "c@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1, 5*time.Second)
	if r := got[0]; r.From != "a@example.com" || strings.Join(r.To, ",") != "b@example.com,c@example.com" || r.Text != "hello\n" {
		t.Errorf("got %+v", r)
	}

	srv.FailNext(2)
	for i := range 2 {
		if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err == nil || !strings.HasPrefix(err.Error(), "451") {
			t.Errorf("attempt %d: err = %v, want 451", i, err)
		}
	}
	if err := smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte(msg)); err != nil {
		t.Errorf("third attempt: %v", err)
	}
	if n := len(srv.WaitFor(t, 2, 5*time.Second)); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}

	srv.Reset()
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages after Reset", n)
	}
}

func TestWaitForWakesOnArrival(t *testing.T) {
	srv := mailtest.Start(t)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = smtp.SendMail(srv.Addr(), nil, "a@example.com", []string{"b@example.com"}, []byte("Subject: late\r\n\r\nx\r\n"))
	}()
	if got := srv.WaitFor(t, 1, 5*time.Second); got[0].Subject != "late" {
		t.Errorf("got %+v", got)
	}
}

func TestOutbox(t *testing.T) {
	var o mailtest.Outbox
	var s mail.Sender = &o
	if err := s.Send(context.Background(), mail.Message{To: "a@b.c", Subject: "one"}); err != nil {
		t.Fatal(err)
	}
	o.Err = errors.New("smtp down")
	if err := s.Send(context.Background(), mail.Message{To: "a@b.c", Subject: "two"}); err == nil {
		t.Error("Err not returned")
	}
	if got := o.Messages(); len(got) != 2 || got[1].Subject != "two" {
		t.Errorf("got %+v", got)
	}
}

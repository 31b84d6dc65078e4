package gateway

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/payportal/payportal/internal/billing"
)

func TestCardNeverPrintsItsSecrets(t *testing.T) {
	card := Card{Number: "4242 4242 4242 4242", ExpMonth: 12, ExpYear: 2030, CVC: "987", HolderName: "Ada"}
	leaks := func(s string) bool {
		return strings.Contains(strings.ReplaceAll(s, " ", ""), "424242424242") || strings.Contains(s, "987")
	}
	wrapped := struct {
		Card  Card
		Ptr   *Card
		Other string
	}{card, &card, "x"}

	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, arg := range []any{card, &card, wrapped} {
			if out := fmt.Sprintf(verb, arg); leaks(out) {
				t.Errorf("Sprintf(%s) leaks: %s", verb, out)
			}
		}
	}
	if got := card.String(); got != "visa ****4242" {
		t.Errorf("String() = %q, want visa ****4242", got)
	}

	var buf bytes.Buffer
	// Without timestamps: their digits could contain the CVC by chance.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, noTime), slog.NewJSONHandler(&buf, noTime)} {
		slog.New(h).Info("tokenize", "card", card, "ptr", &card, "wrapped", wrapped)
	}
	if leaks(buf.String()) {
		t.Errorf("slog leaks: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "visa ****4242") {
		t.Errorf("slog output lacks the redacted card: %s", buf.String())
	}
}

func TestCardRefusesSerialization(t *testing.T) {
	card := Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2030, CVC: "123", HolderName: "Ada"}
	for _, v := range []any{card, &card, map[string]any{"card": card}, struct{ C Card }{card}} {
		out, err := json.Marshal(v)
		if !errors.Is(err, ErrCardNotSerializable) {
			t.Errorf("json.Marshal(%T) = %s, %v; want ErrCardNotSerializable", v, out, err)
		}
	}
	if err := gob.NewEncoder(&bytes.Buffer{}).Encode(card); err == nil {
		t.Error("gob encoded a card")
	}

	// Request bodies still decode into it.
	var got Card
	body := `{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder_name":"Ada"}`
	if err := json.Unmarshal([]byte(body), &got); err != nil || got != card {
		t.Errorf("Unmarshal = %+v, %v", got.ExpMonth, err)
	}
}

func TestCardLast4(t *testing.T) {
	if got := (Card{Number: "1234"}).String(); got != "card ****" {
		t.Errorf("short number prints %q", got)
	}
	if got := (Card{Number: "3782-822463-10005"}).String(); got != "amex ****0005" {
		t.Errorf("amex prints %q", got)
	}
}

func TestErrorClasses(t *testing.T) {
	decline := fmt.Errorf("authorize: %w", &Decline{Code: billing.CodeCardDeclined, Message: "no"})
	transient := fmt.Errorf("authorize: %w", Transient(billing.CodeProcessingError, errors.New("503")))
	tests := []struct {
		err                  error
		transient, permanent bool
	}{
		{decline, false, true},
		{transient, true, false},
		{fmt.Errorf("capture: %w", ErrNotFound), false, true},
		{fmt.Errorf("capture: %w", ErrInvalidState), false, true},
		{fmt.Errorf("capture: %w", ErrInvalidRequest), false, true},
		{billing.Invalid(billing.CodeInvalidCVC, ParamCardCVC, "bad"), false, true},
		{errors.New("connection refused"), false, false},
		{nil, false, false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.transient {
			t.Errorf("IsTransient(%v) = %v", tt.err, got)
		}
		if got := IsPermanent(tt.err); got != tt.permanent {
			t.Errorf("IsPermanent(%v) = %v", tt.err, got)
		}
	}
	if d, ok := AsDecline(decline); !ok || d.Code != billing.CodeCardDeclined {
		t.Errorf("AsDecline = %v, %v", d, ok)
	}
}

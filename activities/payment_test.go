package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/devdata"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/gateway/sandbox"
	"github.com/payportal/payportal/internal/mail/mailtest"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/internal/testenv"
	"github.com/payportal/payportal/workflows"
)

// paymentSteps is the payment activities over a seeded database and the sandbox processors.
type paymentSteps struct {
	*activities.Payments
	db     *postgres.DB
	cards  *sandbox.CardProcessor
	paypal *sandbox.PayPal
	outbox *mailtest.Outbox
}

func newPaymentSteps(t *testing.T) *paymentSteps {
	t.Helper()
	db, _ := testenv.Database(t)
	clock := billing.SystemClock{}
	if _, err := devdata.Seed(context.Background(), db, clock.Now()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	s := &paymentSteps{db: db, cards: sandbox.NewCardProcessor(db.Pool, clock),
		paypal: sandbox.NewPayPal(db.Pool, "http://portal.test"), outbox: &mailtest.Outbox{}}
	s.Payments = &activities.Payments{DB: db, Cards: s.cards, PayPal: s.paypal, Mail: s.outbox, Clock: clock,
		PublicURL: "http://portal.test"}
	return s
}

// runPaymentStep runs one activity the way a worker would.
func runPaymentStep[T any](t *testing.T, s *paymentSteps, activity any, arg any) (T, error) {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(s.Payments)
	var out T
	v, err := env.ExecuteActivity(activity, arg)
	if err != nil {
		return out, err
	}
	return out, v.Get(&out)
}

// storedCardPayment tokenizes number and stores a card payment of amount for acct_demo.
func (s *paymentSteps) storedCardPayment(t *testing.T, number string, amount int64) billing.Payment {
	t.Helper()
	ctx := context.Background()
	tok, err := s.cards.Tokenize(ctx, gateway.Card{Number: number, ExpMonth: 12, ExpYear: time.Now().Year() + 2,
		CVC: "123", HolderName: "Dana Demo"}, billing.Address{})
	if err != nil {
		t.Fatal(err)
	}
	id := billing.NewID(billing.PrefixPayment)
	p, _, err := s.db.CreatePayment(ctx, billing.Payment{ID: id, AccountID: devdata.DemoAccountID,
		Status: billing.PaymentProcessing, Method: billing.MethodCard, Amount: billing.Money{Amount: amount, Currency: "USD"},
		CardToken: tok.Token, CardBrand: tok.Brand, CardLast4: tok.Last4, CreatedAt: time.Now().UTC(),
		WorkflowID: workflows.PaymentWorkflowID(id)}, "key-"+id, []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func charge(p billing.Payment) activities.ChargeInput {
	return activities.ChargeInput{PaymentID: p.ID, CardToken: p.CardToken, Amount: p.Amount}
}

func TestAuthorizeDeclineIsFinalWithTheDeclineCode(t *testing.T) {
	s := newPaymentSteps(t)
	p := s.storedCardPayment(t, "4000000000009995", 500)
	_, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.NonRetryable() || appErr.Type() != billing.CodeInsufficientFunds {
		t.Fatalf("authorize answered %v, want a non-retryable insufficient_funds", err)
	}
	if appErr.Message() == "" {
		t.Error("the decline carries no message for the customer")
	}
}

func TestAuthorizeProcessingErrorIsRetryableThenSucceedsOnce(t *testing.T) {
	s := newPaymentSteps(t)
	p := s.storedCardPayment(t, "4000000000000119", 500)
	for attempt := 1; attempt <= 2; attempt++ {
		_, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.NonRetryable() || appErr.Type() != billing.CodeProcessingError {
			t.Fatalf("attempt %d answered %v, want a retryable processing_error", attempt, err)
		}
	}
	auth, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
	if err != nil || auth == "" {
		t.Fatalf("attempt 3: %q %v, want an authorization", auth, err)
	}
	// A re-run (a worker crashed before reporting) returns the same authorization.
	again, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
	if err != nil || again != auth {
		t.Errorf("re-run answered %q %v, want %q", again, err, auth)
	}
	in := activities.CardCaptureInput{PaymentID: p.ID, AuthorizationID: auth, Amount: p.Amount}
	capture, err := runPaymentStep[string](t, s, s.CaptureCardPayment, in)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := runPaymentStep[string](t, s, s.CaptureCardPayment, in); err != nil || again != capture {
		t.Errorf("capture re-run answered %q %v, want %q", again, err, capture)
	}
	if n, _ := s.cards.Captures(context.Background(), auth); n != 1 {
		t.Errorf("%d captures, want 1", n)
	}
	if got, _ := s.db.PaymentByID(context.Background(), p.ID); got.CaptureID != capture || got.AuthorizationID != auth {
		t.Errorf("payment records hold %q and capture %q, want %q and %q", got.AuthorizationID, got.CaptureID, auth, capture)
	}
}

// TestOnSessionHoldIsRecordedWithItsCapture: a hold that needs no 3-D Secure is written to the
// payment together with its capture (one write per payment fewer); one waiting for the
// cardholder is written at once, since their return is matched by it.
func TestOnSessionHoldIsRecordedWithItsCapture(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	p := s.storedCardPayment(t, "4242424242424242", 700)
	a, err := runPaymentStep[activities.CardAuthorization](t, s, s.AuthorizeCardPaymentOnSession, charge(p))
	if err != nil || a.RedirectURL != "" {
		t.Fatalf("authorize on session: %+v %v, want a hold", a, err)
	}
	if got, _ := s.db.PaymentByID(ctx, p.ID); got.AuthorizationID != "" {
		t.Errorf("the hold %q is written before its capture", got.AuthorizationID)
	}
	capture, err := runPaymentStep[string](t, s, s.CaptureCardPayment,
		activities.CardCaptureInput{PaymentID: p.ID, AuthorizationID: a.AuthorizationID, Amount: p.Amount})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.db.PaymentByID(ctx, p.ID); got.AuthorizationID != a.AuthorizationID || got.CaptureID != capture {
		t.Errorf("payment records hold %q and capture %q, want %q and %q", got.AuthorizationID, got.CaptureID, a.AuthorizationID, capture)
	}

	tds := s.storedCardPayment(t, "4000002500003155", 700)
	a, err = runPaymentStep[activities.CardAuthorization](t, s, s.AuthorizeCardPaymentOnSession, charge(tds))
	if err != nil || a.RedirectURL == "" {
		t.Fatalf("authorize a 3-D Secure card on session: %+v %v, want a challenge", a, err)
	}
	if got, _ := s.db.PaymentByID(ctx, tds.ID); got.AuthorizationID != a.AuthorizationID || got.Status != billing.PaymentRequiresAction {
		t.Errorf("3-D Secure payment: hold %q status %s, want %q requires_action", got.AuthorizationID, got.Status, a.AuthorizationID)
	}
}

func TestRefundGivesTheCaptureBackOnceAndNeverForAnAppliedPayment(t *testing.T) {
	ctx := context.Background()
	s := newPaymentSteps(t)
	captured := func() (billing.Payment, string) {
		p := s.storedCardPayment(t, "4242424242424242", 800)
		auth, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
		if err != nil {
			t.Fatal(err)
		}
		capture, err := runPaymentStep[string](t, s, s.CaptureCardPayment,
			activities.CardCaptureInput{PaymentID: p.ID, AuthorizationID: auth, Amount: p.Amount, RecordedByBooking: true})
		if err != nil {
			t.Fatal(err)
		}
		return p, capture
	}

	p, capture := captured()
	in := activities.RefundInput{PaymentID: p.ID, Method: billing.MethodCard, CaptureID: capture, Amount: p.Amount}
	first, err := runPaymentStep[activities.RefundResult](t, s, s.RefundPayment, in)
	if err != nil || first.RefundID == "" || first.AlreadyApplied {
		t.Fatalf("refund: %+v %v", first, err)
	}
	again, err := runPaymentStep[activities.RefundResult](t, s, s.RefundPayment, in)
	if err != nil || again.RefundID != first.RefundID {
		t.Errorf("refund re-run: %+v %v, want %s again", again, err, first.RefundID)
	}
	if n, _ := s.cards.Refunds(ctx, capture); n != 1 {
		t.Errorf("%d refunds, want 1", n)
	}
	// The capture the booking never recorded is on the payment with its refund.
	if got, _ := s.db.PaymentByID(ctx, p.ID); got.RefundID != first.RefundID || got.CaptureID != capture {
		t.Errorf("payment records refund %q of capture %q, want %q of %q", got.RefundID, got.CaptureID, first.RefundID, capture)
	}

	// The apply committed but its answer was lost: the compensation must not refund.
	applied, capture := captured()
	if _, err := runPaymentStep[activities.ApplyResult](t, s, s.ApplyPayment, applied.ID); err != nil {
		t.Fatal(err)
	}
	res, err := runPaymentStep[activities.RefundResult](t, s, s.RefundPayment,
		activities.RefundInput{PaymentID: applied.ID, Method: billing.MethodCard, CaptureID: capture, Amount: applied.Amount})
	if err != nil || !res.AlreadyApplied || res.RefundID != "" {
		t.Errorf("refunding an applied payment: %+v %v, want AlreadyApplied and no refund", res, err)
	}
	if n, _ := s.cards.Refunds(ctx, capture); n != 0 {
		t.Errorf("%d refunds of an applied payment, want none", n)
	}
}

func TestPaymentReceiptGoesToTheAccountContact(t *testing.T) {
	s := newPaymentSteps(t)
	p := s.storedCardPayment(t, "4242424242424242", 800)
	if _, err := s.db.ApplyPayment(context.Background(), p.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(s.Payments)
	if _, err := env.ExecuteActivity(s.SendPaymentReceipt, p.ID); err != nil {
		t.Fatal(err)
	}
	msgs := s.outbox.Messages()
	if len(msgs) != 1 || msgs[0].To != "billing@demo-corp.example" {
		t.Fatalf("mails %+v, want one receipt to the contact", msgs)
	}
}

// The booking (versionBookWithCharge) records the hold and the capture the capture step left
// to it, in the booking's transaction; a repeat after a lost answer books nothing more and
// answers the first booking.
func TestBookingRecordsTheCharge(t *testing.T) {
	s := newPaymentSteps(t)
	ctx := context.Background()
	p := s.storedCardPayment(t, "4242424242424242", 700)
	authID, err := runPaymentStep[string](t, s, s.AuthorizeCardPayment, charge(p))
	if err != nil {
		t.Fatal(err)
	}
	capID, err := runPaymentStep[string](t, s, s.CaptureCardPayment,
		activities.CardCaptureInput{PaymentID: p.ID, AuthorizationID: authID, Amount: p.Amount, RecordedByBooking: true})
	if err != nil {
		t.Fatal(err)
	}
	if row, _ := s.db.PaymentByID(ctx, p.ID); row.CaptureID != "" || row.AuthorizationID != "" {
		t.Fatalf("the capture recorded %q/%q itself; it leaves that to the booking", row.AuthorizationID, row.CaptureID)
	}
	in := activities.BookInput{PaymentID: p.ID, AuthorizationID: authID, CaptureID: capID}
	first, err := runPaymentStep[activities.ApplyResult](t, s, s.BookPayment, in)
	if err != nil {
		t.Fatal(err)
	}
	row, err := s.db.PaymentByID(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.Status != billing.PaymentSucceeded || row.AuthorizationID != authID || row.CaptureID != capID ||
		row.CompletedAt == nil || !row.CompletedAt.Equal(first.CompletedAt) {
		t.Fatalf("booked %+v answering %+v, want succeeded with hold %s and capture %s, completed as answered",
			row, first, authID, capID)
	}
	again, err := runPaymentStep[activities.ApplyResult](t, s, s.BookPayment, in)
	if err != nil || !again.CompletedAt.Equal(first.CompletedAt) || again.BalanceAfter != first.BalanceAfter {
		t.Fatalf("repeat answered %+v, %v; want the first booking's %+v", again, err, first)
	}
	if n := entriesOf(t, s, p.ID); n != 1 {
		t.Errorf("%d ledger entries, want 1", n)
	}
	if msgs := s.outbox.Messages(); len(msgs) != 0 {
		t.Errorf("the booking mailed %+v; the receipt is a step of its own", msgs)
	}
}

func entriesOf(t *testing.T, s *paymentSteps, paymentID string) int {
	t.Helper()
	var n int
	if err := s.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM ledger_entries WHERE kind = 'payment' AND reference = $1`, paymentID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

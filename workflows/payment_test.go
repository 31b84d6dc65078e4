package workflows_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/workflows"
)

// paymentEnv runs the payment saga against mocked activities. Every activity answers
// success by default; a test overrides the steps it is about and reads back which steps ran,
// how often, and the PaymentStatus values the workflow published.
type paymentEnv struct {
	*testsuite.TestWorkflowEnvironment
	t        *testing.T
	mu       sync.Mutex
	calls    map[string]int
	finished []activities.PaymentOutcome
	statuses []string
	booked   []booking
}

// paymentBookedAt is when the mocked booking says it booked.
var paymentBookedAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var paymentSteps *activities.Payments

const testPaymentID = "pay_test1"

var testAmount = billing.Money{Amount: 12500, Currency: "USD"}

func newPaymentEnv(t *testing.T) *paymentEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := &paymentEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), t: t, calls: map[string]int{}}
	e.RegisterWorkflow(workflows.Payment)
	e.RegisterActivity(paymentSteps)
	e.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		if v, ok := sa.GetKeyword(workflows.PaymentStatusKey); ok {
			e.mu.Lock()
			e.statuses = append(e.statuses, v)
			e.mu.Unlock()
		}
	}).Return(nil)
	e.OnActivity(paymentSteps.FinishPayment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, o activities.PaymentOutcome) error {
			e.count("FinishPayment")
			e.mu.Lock()
			e.finished = append(e.finished, o)
			e.mu.Unlock()
			return nil
		})
	return e
}

func (e *paymentEnv) count(step string) {
	e.mu.Lock()
	e.calls[step]++
	e.mu.Unlock()
}

func (e *paymentEnv) calledTimes(step string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[step]
}

// happyCard answers every card step with success unless a test set it before.
func (e *paymentEnv) happyCard() {
	e.OnActivity(paymentSteps.AuthorizeCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ChargeInput) (string, error) {
			e.count("Authorize")
			return "auth_1", nil
		}).Maybe()
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "cap_1", nil
		}).Maybe()
	e.happyTail()
}

// happyPayPal answers every PayPal step with success unless a test set it before.
func (e *paymentEnv) happyPayPal() {
	e.OnActivity(paymentSteps.CreatePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.OrderInput) (gateway.Order, error) {
			e.count("CreateOrder")
			return gateway.Order{ID: "ORDER1", ApprovalURL: "http://pp.test/checkout?token=ORDER1"}, nil
		}).Maybe()
	e.OnActivity(paymentSteps.MarkPaymentProcessing, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error { e.count("MarkProcessing"); return nil }).Maybe()
	e.OnActivity(paymentSteps.ReopenPayPalApproval, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ApprovalInput) error { e.count("Reopen"); return nil }).Maybe()
	e.OnActivity(paymentSteps.CapturePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) (string, error) {
			e.count("CaptureOrder")
			return "PPCAP1", nil
		}).Maybe()
	e.OnActivity(paymentSteps.VoidPayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) error { e.count("VoidOrder"); return nil }).Maybe()
	e.happyTail()
}

func (e *paymentEnv) happyTail() {
	e.OnActivity(paymentSteps.ResolveCardCharge, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ResolveInput) (activities.Resolution, error) {
			e.count("ResolveCard")
			return activities.Resolution{}, nil
		}).Maybe()
	e.OnActivity(paymentSteps.ResolvePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ResolveInput) (activities.Resolution, error) {
			e.count("ResolveOrder")
			return activities.Resolution{}, nil
		}).Maybe()
	e.OnActivity(paymentSteps.VoidCardAuthorization, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.VoidInput) error { e.count("Void"); return nil }).Maybe()
	e.OnActivity(paymentSteps.ApplyPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, string) (activities.ApplyResult, error) {
			e.count("Apply")
			return activities.ApplyResult{BalanceAfter: 0}, nil
		}).Maybe()
	// The booking since versionBookWithCharge, and since versionReceiptOutbox the one that
	// makes the receipt due.
	book := func(mailsReceipt bool) func(context.Context, activities.BookInput) (activities.ApplyResult, error) {
		return func(_ context.Context, in activities.BookInput) (activities.ApplyResult, error) {
			e.count("Apply")
			e.mu.Lock()
			e.booked = append(e.booked, booking{In: in, MailsReceipt: mailsReceipt})
			e.mu.Unlock()
			if mailsReceipt {
				e.receiptDue()
			}
			return activities.ApplyResult{CompletedAt: paymentBookedAt}, nil
		}
	}
	e.OnActivity(paymentSteps.BookPayment, mock.Anything, mock.Anything).Return(book(false)).Maybe()
	e.OnActivity(paymentSteps.BookPaymentMailingReceipt, mock.Anything, mock.Anything).Return(book(true)).Maybe()
	e.OnActivity(paymentSteps.RefundPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.RefundInput) (activities.RefundResult, error) {
			e.count("Refund")
			return activities.RefundResult{RefundID: "re_1"}, nil
		}).Maybe()
	e.OnActivity(paymentSteps.SendPaymentReceipt, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error { e.count("Receipt"); e.count("ReceiptStep"); return nil }).Maybe()
	e.OnActivity(paymentSteps.SendPaymentFailedMail, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error { e.count("FailedMail"); return nil }).Maybe()
}

// receiptDue counts the receipt a booking that books the payment makes due (the books' outbox
// mails it, from versionReceiptOutbox on), as "Receipt", the customer's one receipt; the
// saga's own receipt step counts as "ReceiptStep" too.
func (e *paymentEnv) receiptDue() {
	if e.calledTimes("Receipt") == 0 {
		e.count("Receipt")
	}
}

// booking is one booking step the saga ran.
type booking struct {
	In           activities.BookInput
	MailsReceipt bool // BookPaymentMailingReceipt
}

func (e *paymentEnv) run(method billing.PaymentMethodKind) workflows.PaymentState {
	e.t.Helper()
	e.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{
		PaymentID: testPaymentID, AccountID: "acct_demo", Method: method, Amount: testAmount,
		CardToken: "tok_test", PayPalApprovalTimeout: time.Hour,
	})
	if !e.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		e.t.Fatalf("workflow failed: %v", err)
	}
	var st workflows.PaymentState
	if err := e.GetWorkflowResult(&st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *paymentEnv) queryStatus() workflows.PaymentStatusQuery {
	e.t.Helper()
	v, err := e.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		e.t.Fatalf("query status: %v", err)
	}
	var st workflows.PaymentStatusQuery
	if err := v.Get(&st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *paymentEnv) wantSteps(want map[string]int) {
	e.t.Helper()
	for step, n := range want {
		if got := e.calledTimes(step); got != n {
			e.t.Errorf("%s ran %d times, want %d", step, got, n)
		}
	}
}

func (e *paymentEnv) wantStatuses(want ...string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.statuses) == 0 || e.statuses[len(e.statuses)-1] != want[len(want)-1] {
		e.t.Errorf("PaymentStatus search attribute went %v, want it to end %q", e.statuses, want[len(want)-1])
	}
	i := 0
	for _, s := range e.statuses {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	if i != len(want) {
		e.t.Errorf("PaymentStatus search attribute went %v, want %v in that order", e.statuses, want)
	}
}

func (e *paymentEnv) wantFinished(status billing.PaymentStatus, code string) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.finished) != 1 {
		e.t.Fatalf("payment end recorded %d times (%v), want once", len(e.finished), e.finished)
	}
	got := e.finished[0]
	if got.Status != status {
		e.t.Errorf("recorded status %s, want %s", got.Status, status)
	}
	switch {
	case code == "" && got.Failure != nil:
		e.t.Errorf("recorded failure %+v, want none", *got.Failure)
	case code != "" && (got.Failure == nil || got.Failure.Code != code):
		e.t.Errorf("recorded failure %+v, want code %s", got.Failure, code)
	}
}

func TestPaymentByCardSucceeds(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded || st.CaptureID != "cap_1" || st.Failure != nil {
		t.Errorf("result %+v, want succeeded with capture cap_1", st)
	}
	e.wantSteps(map[string]int{"Authorize": 1, "Capture": 1, "Apply": 1, "Receipt": 1, "FinishPayment": 0, "Refund": 0})
	e.wantStatuses("processing", "succeeded")
}

// The booking records the card's hold and capture, which the capture leaves to it, and the
// answer says when the books took the money.
func TestPaymentBookingRecordsTheCharge(t *testing.T) {
	e := newPaymentEnv(t)
	var capture activities.CardCaptureInput
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CardCaptureInput) (string, error) {
			capture = in
			return "cap_1", nil
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded || st.CompletedAt == nil || !st.CompletedAt.Equal(paymentBookedAt) {
		t.Errorf("result %+v, want succeeded, completed when booked (%v)", st, paymentBookedAt)
	}
	if !capture.RecordedByBooking {
		t.Errorf("capture asked %+v, want it to leave recording to the booking", capture)
	}
	want := booking{In: activities.BookInput{PaymentID: testPaymentID, AuthorizationID: "auth_1", CaptureID: "cap_1"}, MailsReceipt: true}
	if len(e.booked) != 1 || e.booked[0] != want {
		t.Errorf("booked %+v, want once %+v", e.booked, want)
	}
	// The receipt is the outbox's: the booking made it due, and the saga mails none itself.
	e.wantSteps(map[string]int{"Apply": 1, "Receipt": 1, "ReceiptStep": 0, "FailedMail": 0})
}

func TestPaymentByPayPalSucceedsOnceApproved(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		st := e.queryStatus()
		if st.Status != billing.PaymentRequiresAction || st.ApprovalURL == "" {
			t.Errorf("while waiting for the buyer the status query says %+v, want requires_action with the approval URL", st)
		}
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, 10*time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentSucceeded || st.CaptureID != "PPCAP1" {
		t.Errorf("result %+v, want succeeded with capture PPCAP1", st)
	}
	e.wantSteps(map[string]int{"CreateOrder": 1, "CaptureOrder": 1, "Apply": 1, "Receipt": 1, "ResolveOrder": 0})
	e.wantStatuses("processing", "requires_action", "processing", "succeeded")
}

func TestPaymentDeclinedIsFinalWithItsCode(t *testing.T) {
	for _, code := range []string{billing.CodeCardDeclined, billing.CodeInsufficientFunds, billing.CodeExpiredCard, billing.CodeIncorrectCVC} {
		t.Run(code, func(t *testing.T) {
			e := newPaymentEnv(t)
			e.OnActivity(paymentSteps.AuthorizeCardPayment, mock.Anything, mock.Anything).Return(
				func(context.Context, activities.ChargeInput) (string, error) {
					e.count("Authorize")
					return "", temporal.NewNonRetryableApplicationError("The card said no.", code, errors.New("declined"))
				})
			e.happyCard()
			st := e.run(billing.MethodCard)
			if st.Status != billing.PaymentFailed || st.Failure == nil || st.Failure.Code != code || st.Failure.Message != "The card said no." {
				t.Errorf("result %+v, want failed with code %s and the processor's message", st, code)
			}
			e.wantFinished(billing.PaymentFailed, code)
			// A decline is never retried, and no money is touched afterwards.
			e.wantSteps(map[string]int{"Authorize": 1, "Capture": 0, "Apply": 0, "Refund": 0, "FailedMail": 1, "Receipt": 0})
			e.wantStatuses("processing", "failed")
		})
	}
}

func TestPaymentRetriesTransientErrorsWithBackoff(t *testing.T) {
	e := newPaymentEnv(t)
	var attemptTimes []time.Time
	e.OnActivity(paymentSteps.AuthorizeCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ChargeInput) (string, error) {
			e.count("Authorize")
			attemptTimes = append(attemptTimes, e.Now())
			if e.calledTimes("Authorize") <= 2 {
				return "", temporal.NewApplicationError("The payment processor had a temporary problem.", activities.ErrTypeProcessingError)
			}
			return "auth_1", nil
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded {
		t.Fatalf("result %+v, want succeeded after the processing errors", st)
	}
	e.wantSteps(map[string]int{"Authorize": 3, "Capture": 1, "Apply": 1, "FinishPayment": 0})
	if len(attemptTimes) == 3 {
		first, second := attemptTimes[1].Sub(attemptTimes[0]), attemptTimes[2].Sub(attemptTimes[1])
		if first <= 0 || second < 2*first {
			t.Errorf("waits between attempts %v then %v, want exponential backoff", first, second)
		}
	}
}

func TestPaymentFailsWhenTheProcessorKeepsFailing(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.AuthorizeCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ChargeInput) (string, error) {
			e.count("Authorize")
			return "", temporal.NewApplicationError("The payment processor had a temporary problem.", activities.ErrTypeProcessingError)
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentFailed || st.Failure == nil || st.Failure.Code != billing.CodeProcessingError {
		t.Errorf("result %+v, want failed with processing_error", st)
	}
	if n := e.calledTimes("Authorize"); n < 3 {
		t.Errorf("authorize tried %d times, want several retries before giving up", n)
	}
	// The last attempt's answer may have been lost: the saga asks the processor, which
	// releases any hold it finds.
	e.wantSteps(map[string]int{"Capture": 0, "ResolveCard": 1})
	e.wantFinished(billing.PaymentFailed, billing.CodeProcessingError)
}

func TestPaymentCaptureFailingForGoodReleasesTheHold(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "", temporal.NewNonRetryableApplicationError("The payment processor refused the request.", activities.ErrTypeProcessorRefused, nil)
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentFailed {
		t.Errorf("result %+v, want failed", st)
	}
	e.wantSteps(map[string]int{"Capture": 1, "ResolveCard": 1, "Apply": 0, "Refund": 0})
	e.wantFinished(billing.PaymentFailed, billing.CodeProcessingError)
}

func TestPaymentCapturedButNotAppliedIsRefunded(t *testing.T) {
	for _, method := range []billing.PaymentMethodKind{billing.MethodCard, billing.MethodPayPal} {
		t.Run(string(method), func(t *testing.T) {
			e := newPaymentEnv(t)
			e.OnActivity(paymentSteps.BookPaymentMailingReceipt, mock.Anything, mock.Anything).Return(
				func(context.Context, activities.BookInput) (activities.ApplyResult, error) {
					e.count("Apply")
					if e.calledTimes("Apply") <= 3 {
						return activities.ApplyResult{}, errors.New("database is gone") // retried until it answers
					}
					return activities.ApplyResult{}, temporal.NewNonRetryableApplicationError("payment pay_test1 is canceled",
						activities.ErrTypeNotApplicable, nil)
				})
			var refund activities.RefundInput
			e.OnActivity(paymentSteps.RefundPayment, mock.Anything, mock.Anything).Return(
				func(_ context.Context, in activities.RefundInput) (activities.RefundResult, error) {
					e.count("Refund")
					refund = in
					if e.calledTimes("Refund") == 1 {
						return activities.RefundResult{}, errors.New("processor timeout") // compensations are retried
					}
					return activities.RefundResult{RefundID: "re_1"}, nil
				})
			if method == billing.MethodPayPal {
				e.happyPayPal()
				e.RegisterDelayedCallback(func() {
					e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
				}, time.Minute)
			} else {
				e.happyCard()
			}
			st := e.run(method)
			if st.Status != billing.PaymentFailed || st.RefundID != "re_1" || st.Failure == nil || st.Failure.Code != workflows.FailureRefunded {
				t.Errorf("result %+v, want failed, refunded as re_1", st)
			}
			if n := e.calledTimes("Apply"); n != 4 {
				t.Errorf("apply tried %d times, want it retried until refused", n)
			}
			e.wantSteps(map[string]int{"Refund": 2, "Receipt": 0, "FailedMail": 1})
			if refund.CaptureID == "" || refund.Amount != testAmount || refund.Method != method {
				t.Errorf("refund asked %+v, want the whole capture", refund)
			}
			e.wantFinished(billing.PaymentFailed, workflows.FailureRefunded)
			e.wantStatuses("processing", "failed")
		})
	}
}

func TestPaymentAppliedAfterAllIsNotRefunded(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.BookPaymentMailingReceipt, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.BookInput) (activities.ApplyResult, error) {
			e.count("Apply")
			e.receiptDue() // it booked, and its answer was lost
			return activities.ApplyResult{}, temporal.NewNonRetryableApplicationError("lost answer", "test", nil)
		})
	e.OnActivity(paymentSteps.RefundPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.RefundInput) (activities.RefundResult, error) {
			e.count("Refund")
			return activities.RefundResult{AlreadyApplied: true}, nil
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded || st.RefundID != "" {
		t.Errorf("result %+v, want succeeded and not refunded", st)
	}
	e.wantSteps(map[string]int{"Refund": 1, "Receipt": 1, "FinishPayment": 0})
}

func TestPaymentPayPalCanceledByTheBuyer(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: false})
	}, 5*time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentCanceled {
		t.Errorf("result %+v, want canceled", st)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "CaptureOrder": 0, "Apply": 0, "FailedMail": 0})
	e.wantFinished(billing.PaymentCanceled, "")
	e.wantStatuses("requires_action", "canceled")
}

func TestPaymentPayPalCanceledThroughTheAPI(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalCancel, workflows.CancelPaymentSignal{Reason: "customer"})
	}, 5*time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentCanceled {
		t.Errorf("result %+v, want canceled", st)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "CaptureOrder": 0, "Apply": 0})
	e.wantFinished(billing.PaymentCanceled, "")
}

func TestPaymentPayPalExpiresWithoutApproval(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	st := e.run(billing.MethodPayPal) // the test clock skips to the approval timeout
	if st.Status != billing.PaymentExpired {
		t.Errorf("result %+v, want expired", st)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "CaptureOrder": 0, "Apply": 0})
	e.wantFinished(billing.PaymentExpired, "")
	e.wantStatuses("requires_action", "expired")
}

func TestPaymentPayPalReturnWithoutApprovalKeepsWaiting(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CapturePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) (string, error) {
			e.count("CaptureOrder")
			if e.calledTimes("CaptureOrder") == 1 {
				return "", temporal.NewNonRetryableApplicationError("The buyer has not approved the order.", gateway.CodeOrderNotApproved, nil)
			}
			return "PPCAP1", nil
		})
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true}) // not really approved
	}, time.Minute)
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PaymentRequiresAction {
			t.Errorf("after an unconfirmed return the status is %s, want requires_action again", st.Status)
		}
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, 10*time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded on the real approval", st)
	}
	e.wantSteps(map[string]int{"CaptureOrder": 2, "ResolveOrder": 0, "Apply": 1})
}

func TestPaymentPayPalOrderDeclinedFails(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CapturePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) (string, error) {
			e.count("CaptureOrder")
			return "", temporal.NewNonRetryableApplicationError("The instrument was declined.", gateway.CodeInstrumentDeclined, nil)
		})
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentFailed || st.Failure == nil || st.Failure.Code != gateway.CodeInstrumentDeclined {
		t.Errorf("result %+v, want failed with instrument_declined", st)
	}
	e.wantSteps(map[string]int{"CaptureOrder": 1, "ResolveOrder": 1, "Apply": 0})
}

func TestPaymentMailFailureDoesNotChangeTheOutcome(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.SendPaymentReceipt, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error {
			e.count("Receipt")
			return temporal.NewNonRetryableApplicationError("refused", activities.ErrTypeMailRejected, nil)
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded even though the receipt bounced", st)
	}
}

// A capture whose every answer was lost is found by asking the processor, and booked: the
// customer paid, so the ledger shows it.
func TestPaymentCaptureAnswerLostIsFoundAndBooked(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "", temporal.NewApplicationError("timeout after the commit", activities.ErrTypeProcessingError)
		})
	e.OnActivity(paymentSteps.ResolveCardCharge, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ResolveInput) (activities.Resolution, error) {
			e.count("ResolveCard")
			return activities.Resolution{Captured: true, CaptureID: "cap_found"}, nil
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded || st.CaptureID != "cap_found" {
		t.Errorf("result %+v, want succeeded with the capture the processor reported", st)
	}
	e.wantSteps(map[string]int{"ResolveCard": 1, "Apply": 1, "Receipt": 1, "FailedMail": 0, "Void": 0, "FinishPayment": 0})
	e.wantStatuses("processing", "succeeded")
}

// The same for PayPal: a capture that timed out but happened is booked.
func TestPaymentPayPalCaptureAnswerLostIsFoundAndBooked(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CapturePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) (string, error) {
			e.count("CaptureOrder")
			return "", temporal.NewApplicationError("503 after the commit", activities.ErrTypeProcessingError)
		})
	e.OnActivity(paymentSteps.ResolvePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ResolveInput) (activities.Resolution, error) {
			e.count("ResolveOrder")
			return activities.Resolution{Captured: true, CaptureID: "PPFOUND"}, nil
		})
	e.happyPayPal()
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentSucceeded || st.CaptureID != "PPFOUND" {
		t.Errorf("result %+v, want succeeded with the capture PayPal reported", st)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "Apply": 1, "Receipt": 1, "FailedMail": 0})
}

// Booking waits for Postgres however long it is down, rather than refunding money taken.
func TestPaymentBookingWaitsForTheDatabase(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.BookPaymentMailingReceipt, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.BookInput) (activities.ApplyResult, error) {
			e.count("Apply")
			// The test suite caps "unlimited" retries at 10 attempts; the fault matrix on the
			// real server shows a longer outage.
			if e.calledTimes("Apply") <= 9 {
				return activities.ApplyResult{}, errors.New("connection refused")
			}
			e.receiptDue()
			return activities.ApplyResult{}, nil
		})
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded once the database is back", st)
	}
	e.wantSteps(map[string]int{"Apply": 10, "Refund": 0, "Receipt": 1})
}

// Cancelling the workflow (the Temporal UI's Cancel) while it waits for the buyer releases
// the order and ends the payment canceled, on a context the cancellation does not reach.
func TestPaymentCancelledWorkflowEndsTheWaitingPaymentCanceled(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	e.RegisterDelayedCallback(e.CancelWorkflow, 10*time.Minute)
	e.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{PaymentID: testPaymentID, AccountID: "acct_demo",
		Method: billing.MethodPayPal, Amount: testAmount, PayPalApprovalTimeout: time.Hour})
	if err := e.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Errorf("workflow error %v, want canceled", err)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "CaptureOrder": 0, "Apply": 0, "FailedMail": 1})
	e.wantFinished(billing.PaymentCanceled, "")
	e.wantStatuses("requires_action", "canceled")
}

// Cancelled while the capture is being retried: the processor is asked, and money it took is
// booked all the same; the payment succeeds and the customer gets a receipt.
func TestPaymentCancelledMidCaptureBooksWhatWasTaken(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "", temporal.NewApplicationError("timeout", activities.ErrTypeProcessingError)
		})
	e.OnActivity(paymentSteps.ResolveCardCharge, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ResolveInput) (activities.Resolution, error) {
			e.count("ResolveCard")
			return activities.Resolution{Captured: true, CaptureID: "cap_late"}, nil
		})
	e.happyCard()
	e.RegisterDelayedCallback(e.CancelWorkflow, 20*time.Second)
	e.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{PaymentID: testPaymentID, AccountID: "acct_demo",
		Method: billing.MethodCard, Amount: testAmount, CardToken: "tok_test"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error %v; a cancelled payment whose money was taken is booked and completes", err)
	}
	e.wantSteps(map[string]int{"ResolveCard": 1, "Apply": 1, "Receipt": 1, "FinishPayment": 0})
}

// Cancelled with a hold on the card: the hold is released and the payment ends canceled. The
// capture runs as an activity here (version 1): the test server retries a local activity
// without waiting, so the cancel would come too late; the real-server test in
// internal/e2e/payments (cancel_test.go) cancels the local capture.
func TestPaymentCancelledMidCaptureReleasesTheHold(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnGetVersion("resolve-outcomes", workflow.DefaultVersion, 5).Return(workflow.Version(1))
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "", temporal.NewApplicationError("timeout", activities.ErrTypeProcessingError)
		})
	e.happyCard()
	e.RegisterDelayedCallback(e.CancelWorkflow, 20*time.Second)
	e.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{PaymentID: testPaymentID, AccountID: "acct_demo",
		Method: billing.MethodCard, Amount: testAmount, CardToken: "tok_test"})
	if err := e.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Errorf("workflow error %v, want canceled", err)
	}
	e.wantSteps(map[string]int{"ResolveCard": 1, "Apply": 0, "Receipt": 0, "FailedMail": 1})
	e.wantFinished(billing.PaymentCanceled, "")
}

// A run that started before versionReceiptOutbox (version 4) keeps mailing its receipt as its
// own step, and its booking makes none due: one receipt either way.
func TestPaymentVersion4RunMailsItsOwnReceipt(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnGetVersion("resolve-outcomes", workflow.DefaultVersion, 5).Return(workflow.Version(4))
	e.happyCard()
	if st := e.run(billing.MethodCard); st.Status != billing.PaymentSucceeded {
		t.Fatalf("result %+v, want succeeded", st)
	}
	if len(e.booked) != 1 || e.booked[0].MailsReceipt {
		t.Errorf("booked %+v, want once, asking for no receipt", e.booked)
	}
	e.wantSteps(map[string]int{"Apply": 1, "Receipt": 1, "ReceiptStep": 1})
}

// A buyer hammering the return link without approving cannot grow the history without bound.
func TestPaymentUnapprovedReturnsAreBounded(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnActivity(paymentSteps.CapturePayPalOrder, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PayPalOrderRef) (string, error) {
			e.count("CaptureOrder")
			return "", temporal.NewNonRetryableApplicationError("not approved", gateway.CodeOrderNotApproved, nil)
		})
	e.happyPayPal()
	for i := 1; i <= 30; i++ {
		e.RegisterDelayedCallback(func() {
			e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
		}, time.Duration(i)*time.Minute)
	}
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentExpired {
		t.Errorf("result %+v, want expired: the buyer never approved", st)
	}
	if n := e.calledTimes("CaptureOrder"); n != 10 {
		t.Errorf("%d capture attempts for 30 unapproved returns, want the bound of 10", n)
	}
}

// The update sent with the saga's start answers a PayPal payment as soon as its approval URL
// exists, while the saga goes on waiting for the buyer.
func TestPaymentStartedUpdateAnswersTheApprovalURL(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	var r updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() { e.UpdateWorkflow(workflows.UpdatePaymentStarted, "upd_start", r.callbacks(t)) }, 0)
	e.RegisterDelayedCallback(func() {
		if !r.completed {
			t.Error("the start update was not answered while the payment waited for the buyer")
		}
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
	}, 10*time.Minute)
	st := e.run(billing.MethodPayPal)
	if !r.accepted || r.err != nil || r.answer.Status != billing.PaymentRequiresAction || r.answer.ApprovalURL == "" {
		t.Errorf("start update answered %+v (accepted %v, err %v, rejected %v), want requires_action with the approval URL",
			r.answer, r.accepted, r.err, r.rejected)
	}
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded", st)
	}
}

// For a card the start update answers the outcome: succeeded, or failed with the decline.
func TestPaymentStartedUpdateAnswersTheCardOutcome(t *testing.T) {
	t.Run("succeeded", func(t *testing.T) {
		e := newPaymentEnv(t)
		e.happyCard()
		var r updateResult[workflows.PaymentState]
		e.RegisterDelayedCallback(func() { e.UpdateWorkflow(workflows.UpdatePaymentStarted, "upd_start", r.callbacks(t)) }, 0)
		st := e.run(billing.MethodCard)
		if !r.completed || r.err != nil || r.answer.Status != billing.PaymentSucceeded || r.answer.CaptureID != st.CaptureID {
			t.Errorf("start update answered %+v (err %v, rejected %v), want succeeded as the result %+v", r.answer, r.err, r.rejected, st)
		}
	})
	t.Run("declined", func(t *testing.T) {
		e := newPaymentEnv(t)
		e.OnActivity(paymentSteps.AuthorizeCardPayment, mock.Anything, mock.Anything).Return("",
			temporal.NewNonRetryableApplicationError("declined", billing.CodeCardDeclined, nil))
		e.happyCard()
		var r updateResult[workflows.PaymentState]
		e.RegisterDelayedCallback(func() { e.UpdateWorkflow(workflows.UpdatePaymentStarted, "upd_start", r.callbacks(t)) }, 0)
		e.run(billing.MethodCard)
		if !r.completed || r.answer.Status != billing.PaymentFailed || r.answer.Failure == nil || r.answer.Failure.Code != billing.CodeCardDeclined {
			t.Errorf("start update answered %+v (err %v), want failed with card_declined", r.answer, r.err)
		}
	})
}

// The cancel update does what the cancel-payment signal does, and answers the final state.
func TestPaymentCancelUpdateCancelsTheWaitingPayment(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	var r updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", r.callbacks(t), workflows.CancelPaymentSignal{Reason: "customer"})
	}, 5*time.Minute)
	st := e.run(billing.MethodPayPal)
	if !r.accepted || r.err != nil || r.answer.Status != billing.PaymentCanceled {
		t.Errorf("cancel update answered %+v (accepted %v, err %v, rejected %v), want canceled", r.answer, r.accepted, r.err, r.rejected)
	}
	if st.Status != billing.PaymentCanceled {
		t.Errorf("result %+v, want canceled", st)
	}
	e.wantSteps(map[string]int{"ResolveOrder": 1, "CaptureOrder": 0, "Apply": 0})
	e.wantFinished(billing.PaymentCanceled, "")
	e.wantStatuses("requires_action", "canceled")
}

// The validator refuses a cancel unless the payment waits for the buyer; nothing changes.
func TestPaymentCancelUpdateRefusedUnlessWaitingForTheBuyer(t *testing.T) {
	t.Run("card payment", func(t *testing.T) {
		e := newPaymentEnv(t)
		e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.CardCaptureInput) (string, error) {
				e.count("Capture")
				return "", temporal.NewApplicationError("timeout", activities.ErrTypeProcessingError)
			}).Times(2)
		e.happyCard()
		var r updateResult[workflows.PaymentState]
		e.RegisterDelayedCallback(func() {
			e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", r.callbacks(t), workflows.CancelPaymentSignal{})
		}, 50*time.Millisecond) // while the capture is retried (its first retry waits 100 ms)
		st := e.run(billing.MethodCard)
		r.rejectedAs(t, workflows.ErrTypeNotCancelable)
		if st.Status != billing.PaymentSucceeded {
			t.Errorf("result %+v, want succeeded: the refused cancel changed nothing", st)
		}
	})
	t.Run("PayPal payment before its order", func(t *testing.T) {
		e := newPaymentEnv(t)
		e.OnActivity(paymentSteps.CreatePayPalOrder, mock.Anything, mock.Anything).Return(gateway.Order{},
			temporal.NewApplicationError("timeout", activities.ErrTypeProcessingError)).Once()
		e.happyPayPal()
		var r updateResult[workflows.PaymentState]
		e.RegisterDelayedCallback(func() {
			e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", r.callbacks(t), workflows.CancelPaymentSignal{})
		}, 50*time.Millisecond) // while the order is retried (its first retry waits 100 ms)
		e.RegisterDelayedCallback(func() {
			e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
		}, 10*time.Minute)
		if st := e.run(billing.MethodPayPal); st.Status != billing.PaymentSucceeded {
			t.Errorf("result %+v, want succeeded", st)
		}
		r.rejectedAs(t, workflows.ErrTypeNotCancelable)
		e.wantSteps(map[string]int{"ResolveOrder": 0})
	})
}

// The buyer's approval arriving with the cancel wins: the cancel, accepted while the payment
// waited, answers how it ended (succeeded), which the API reports as not cancelable.
func TestPaymentCancelUpdateLosesToTheApproval(t *testing.T) {
	e := newPaymentEnv(t)
	e.happyPayPal()
	var r updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: true})
		e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", r.callbacks(t), workflows.CancelPaymentSignal{})
	}, 5*time.Minute)
	st := e.run(billing.MethodPayPal)
	if st.Status != billing.PaymentSucceeded {
		t.Fatalf("result %+v, want succeeded", st)
	}
	t.Logf("cancel update accepted %v, answered %+v, refused %v", r.accepted, r.answer, r.rejected)
	if r.accepted && (r.err != nil || r.answer.Status != billing.PaymentSucceeded) {
		t.Errorf("cancel update answered %+v (err %v), want succeeded", r.answer, r.err)
	}
	if !r.accepted {
		r.rejectedAs(t, workflows.ErrTypeNotCancelable)
	}
}

// A run that started before resolve-outcomes waits for the buyer without listening for the
// cancel update, so it does not register it: the update is refused as unknown (the API then
// signals), while the start update is answered as on any run.
func TestPaymentVersion0RunRefusesTheCancelUpdate(t *testing.T) {
	e := newPaymentEnv(t)
	e.OnGetVersion("resolve-outcomes", workflow.DefaultVersion, 5).Return(workflow.DefaultVersion)
	e.happyPayPal()
	var started, cancel updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() { e.UpdateWorkflow(workflows.UpdatePaymentStarted, "upd_start", started.callbacks(t)) }, 0)
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", cancel.callbacks(t), workflows.CancelPaymentSignal{})
	}, 5*time.Minute)
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalCancel, workflows.CancelPaymentSignal{Reason: "customer"})
	}, 6*time.Minute)
	st := e.run(billing.MethodPayPal)
	if cancel.accepted || cancel.rejected == nil || !strings.Contains(cancel.rejected.Error(), "unknown update") {
		t.Errorf("cancel update on a version-0 run: accepted %v, rejected %v; want refused as unknown", cancel.accepted, cancel.rejected)
	}
	if !started.completed || started.answer.Status != billing.PaymentRequiresAction || started.answer.ApprovalURL == "" {
		t.Errorf("start update on a version-0 run answered %+v (err %v, rejected %v), want requires_action with the URL",
			started.answer, started.err, started.rejected)
	}
	if st.Status != billing.PaymentCanceled {
		t.Errorf("result %+v, want canceled by the signal", st)
	}
	e.wantSteps(map[string]int{"VoidOrder": 1, "ResolveOrder": 0})
}

// From versionLeanSteps on, a local step that keeps failing stops after its small budget and
// goes on as an activity under the step's own retries (so the workflow task ends and updates
// are answered meanwhile), and a run started with PaymentStatus processing does not upsert it
// again.
func TestPaymentLocalStepOutOfBudgetGoesOnAsAnActivity(t *testing.T) {
	e := newPaymentEnv(t)
	if err := e.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		workflows.PaymentStatusKey.ValueSet(string(billing.PaymentProcessing)))); err != nil {
		t.Fatal(err)
	}
	e.OnActivity(paymentSteps.CaptureCardPayment, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardCaptureInput) (string, error) {
			e.count("Capture")
			return "", temporal.NewApplicationError("timeout", activities.ErrTypeProcessingError)
		}).Times(5) // three local tries, then two as an activity
	e.happyCard()
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded {
		t.Fatalf("result %+v, want succeeded", st)
	}
	e.wantSteps(map[string]int{"Capture": 6, "Apply": 1, "Receipt": 1, "FinishPayment": 0})
	e.mu.Lock()
	defer e.mu.Unlock()
	if !slices.Equal(e.statuses, []string{"succeeded"}) {
		t.Errorf("PaymentStatus search attribute went %v, want only succeeded: the start set processing", e.statuses)
	}
}

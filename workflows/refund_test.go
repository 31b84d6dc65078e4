package workflows_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/workflows"
)

var refundSteps *activities.Refunds

var testRefund = workflows.RefundInput{RefundID: "rf_test1", PaymentID: "pay_test1", AccountID: "acct_test1",
	Amount: billing.Money{Amount: 2500, Currency: "USD"}}

// refundEnv runs the refund and credit workflows against mocked activities; each step
// answers success unless a test sets it first, and counts its calls.
type refundEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu     sync.Mutex
	calls  map[string]int
	booked []activities.BookRefundInput
	failed []activities.FailRefundInput
}

func newRefundEnv(t *testing.T) *refundEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	e := &refundEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment(), calls: map[string]int{}}
	e.RegisterWorkflow(workflows.RefundWorkflow)
	e.RegisterWorkflow(workflows.CreditWorkflow)
	e.RegisterActivity(refundSteps)
	return e
}

func (e *refundEnv) count(step string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls[step]++
	return e.calls[step]
}

func (e *refundEnv) called(step string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[step]
}

// processor answers the processor step with answer(attempt).
func (e *refundEnv) processor(answer func(attempt int) (string, error)) {
	e.OnActivity(refundSteps.RefundAtProcessor, mock.Anything, mock.Anything).Return(
		func(_ context.Context, id string) (string, error) { return answer(e.count("RefundAtProcessor")) })
}

// books answers the booking step with answer(attempt) and records what was booked.
func (e *refundEnv) books(answer func(attempt int) error) {
	e.OnActivity(refundSteps.BookRefund, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.BookRefundInput) error {
			if err := answer(e.count("BookRefund")); err != nil {
				return err
			}
			e.mu.Lock()
			e.booked = append(e.booked, in)
			e.mu.Unlock()
			return nil
		})
}

func (e *refundEnv) rest() {
	e.OnActivity(refundSteps.FailRefund, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FailRefundInput) error {
			e.count("FailRefund")
			e.mu.Lock()
			e.failed = append(e.failed, in)
			e.mu.Unlock()
			return nil
		})
	e.OnActivity(refundSteps.SendRefundMail, mock.Anything, mock.Anything).Return(
		func(context.Context, string) error { e.count("SendRefundMail"); return nil })
}

func (e *refundEnv) refundState(t *testing.T) workflows.RefundState {
	t.Helper()
	if !e.IsWorkflowCompleted() {
		t.Fatal("refund workflow did not complete")
	}
	var st workflows.RefundState
	if err := e.GetWorkflowResult(&st); err != nil {
		t.Fatalf("refund workflow: %v", err)
	}
	return st
}

func ok(int) error { return nil }

func TestRefundIsMadeThenBookedOnce(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(int) (string, error) { return "re_1", nil })
	e.books(ok)
	e.rest()
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	st := e.refundState(t)
	if st.Status != billing.RefundSucceeded || st.ProcessorRefundID != "re_1" {
		t.Fatalf("state = %+v, want succeeded with re_1", st)
	}
	if len(e.booked) != 1 || e.booked[0] != (activities.BookRefundInput{RefundID: testRefund.RefundID, ProcessorRefundID: "re_1"}) {
		t.Fatalf("booked %+v, want the refund once with re_1", e.booked)
	}
	if e.called("SendRefundMail") != 1 || e.called("FailRefund") != 0 {
		t.Fatalf("calls = %v", e.calls)
	}
}

// The processor's answer is lost twice (a timeout, a dropped connection): the step is asked
// again with the same key, and the refund it then answers is booked once.
func TestRefundWhoseProcessorAnswerWasLostIsBookedOnce(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(attempt int) (string, error) {
		if attempt <= 2 {
			return "", errors.New("read tcp: connection reset by peer")
		}
		return "re_1", nil
	})
	e.books(ok)
	e.rest()
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	st := e.refundState(t)
	if st.Status != billing.RefundSucceeded {
		t.Fatalf("state = %+v, want succeeded", st)
	}
	if e.called("RefundAtProcessor") != 3 || len(e.booked) != 1 || e.booked[0].ProcessorRefundID != "re_1" {
		t.Fatalf("processor asked %d times, booked %+v; want 3 asks and one booking of re_1", e.called("RefundAtProcessor"), e.booked)
	}
}

// A refusal books nothing and frees the amount (FailRefund), with the processor's reason.
func TestRefusedRefundIsNotBooked(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(int) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("The payment processor refused the request.",
			activities.ErrTypeProcessorRefused, nil)
	})
	e.books(ok)
	e.rest()
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	st := e.refundState(t)
	if st.Status != billing.RefundFailed || st.Failure == nil || st.Failure.Code != activities.ErrTypeProcessorRefused {
		t.Fatalf("state = %+v, want failed processor_refused", st)
	}
	if e.called("BookRefund") != 0 || e.called("SendRefundMail") != 0 || e.called("RefundAtProcessor") != 1 {
		t.Fatalf("calls = %v, want one ask and nothing booked or mailed", e.calls)
	}
	if len(e.failed) != 1 || e.failed[0].RefundID != testRefund.RefundID || e.failed[0].Failure.Code != activities.ErrTypeProcessorRefused {
		t.Fatalf("failed = %+v", e.failed)
	}
}

// Postgres is down when the money has gone back: booking is retried until it answers, and
// the processor is not asked again.
func TestRefundBookingOutlastsPostgresDown(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(int) (string, error) { return "re_1", nil })
	e.books(func(attempt int) error {
		// The test environment caps an unlimited retry policy at 10 attempts; on a server
		// booking goes on as long as Postgres is down.
		if attempt <= 9 {
			return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
		}
		return nil
	})
	e.rest()
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	st := e.refundState(t)
	if st.Status != billing.RefundSucceeded || e.called("BookRefund") != 10 || len(e.booked) != 1 || e.called("RefundAtProcessor") != 1 {
		t.Fatalf("state %+v, calls %v, booked %+v", st, e.calls, e.booked)
	}
}

// Cancelling a refund while the processor is being asked does not leave the money in doubt:
// the refund is finished and booked once.
func TestCancelledRefundIsStillSettled(t *testing.T) {
	e := newRefundEnv(t)
	e.processor(func(attempt int) (string, error) {
		if attempt <= 3 {
			return "", temporal.NewApplicationError("The payment processor had a temporary problem.", activities.ErrTypeProcessingError)
		}
		return "re_1", nil
	})
	e.books(ok)
	e.rest()
	e.RegisterDelayedCallback(e.CancelWorkflow, 2*time.Second)
	e.ExecuteWorkflow(workflows.TypeRefund, testRefund)
	st := e.refundState(t)
	if st.Status != billing.RefundSucceeded || len(e.booked) != 1 || e.called("FailRefund") != 0 {
		t.Fatalf("state %+v, booked %+v, calls %v; want the refund finished and booked once", st, e.booked, e.calls)
	}
}

func TestCreditIsIssuedOnceAndMailed(t *testing.T) {
	e := newRefundEnv(t)
	e.OnActivity(refundSteps.IssueCredit, mock.Anything, mock.Anything).Return(func(context.Context, string) error {
		if e.count("IssueCredit") <= 2 {
			return errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
		}
		return nil
	})
	e.OnActivity(refundSteps.SendCreditMail, mock.Anything, mock.Anything).Return(func(context.Context, string) error {
		e.count("SendCreditMail")
		return temporal.NewNonRetryableApplicationError("mailbox unavailable", activities.ErrTypeMailRejected, nil)
	})
	e.ExecuteWorkflow(workflows.TypeCredit, workflows.CreditInput{CreditID: "cr_test1", AccountID: "acct_test1",
		Amount: billing.Money{Amount: 1000, Currency: "USD"}})
	if !e.IsWorkflowCompleted() {
		t.Fatal("credit workflow did not complete")
	}
	var st workflows.CreditState
	if err := e.GetWorkflowResult(&st); err != nil {
		t.Fatalf("credit workflow: %v", err)
	}
	if st.Status != billing.CreditIssued || e.called("IssueCredit") != 3 || e.called("SendCreditMail") != 1 {
		t.Fatalf("state %+v, calls %v; want issued after 3 tries, one mail (refused for good)", st, e.calls)
	}
}

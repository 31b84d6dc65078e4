package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/workflows"
)

const challengeURL = "http://portal.test/sandbox/v1/3ds/challenge?authorization=auth_3ds"

// happy3DS answers the on-session authorization with a 3-D Secure challenge, and the check
// after the cardholder's return with check (nil: authenticated).
func (e *paymentEnv) happy3DS(check func() error) {
	e.OnActivity(paymentSteps.AuthorizeCardPaymentOnSession, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.ChargeInput) (activities.CardAuthorization, error) {
			e.count("AuthorizeOnSession")
			return activities.CardAuthorization{AuthorizationID: "auth_3ds", RedirectURL: challengeURL}, nil
		}).Maybe()
	e.OnActivity(paymentSteps.CheckCardAuthentication, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CardAuthenticationRef) error {
			e.count("CheckAuthentication")
			return check()
		}).Maybe()
	e.happyCard()
}

// runOnSession runs a card payment the customer makes now, as the API starts it.
func (e *paymentEnv) runOnSession() workflows.PaymentState {
	e.t.Helper()
	e.ExecuteWorkflow(workflows.Payment, workflows.PaymentInput{
		PaymentID: testPaymentID, AccountID: "acct_demo", Method: billing.MethodCard, Amount: testAmount,
		CardToken: "tok_test", OnSession: true,
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

// A card wanting 3-D Secure: the start update answers requires_action with the challenge's
// URL, and once the cardholder is back authenticated the money is captured and booked.
func TestPayment3DSCompletedIsCaptured(t *testing.T) {
	e := newPaymentEnv(t)
	e.happy3DS(func() error { return nil })
	var r updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() { e.UpdateWorkflow(workflows.UpdatePaymentStarted, "upd_start", r.callbacks(t)) }, 0)
	e.RegisterDelayedCallback(func() {
		if !r.completed || r.answer.Status != billing.PaymentRequiresAction || r.answer.RedirectURL != challengeURL {
			t.Errorf("start update answered %+v (completed %v, err %v), want requires_action with the challenge URL", r.answer, r.completed, r.err)
		}
		e.SignalWorkflow(workflows.SignalCardAuthenticationReturn, workflows.CardAuthenticationReturnSignal{})
	}, 2*time.Minute)
	st := e.runOnSession()
	if st.Status != billing.PaymentSucceeded || st.CaptureID != "cap_1" {
		t.Errorf("result %+v, want succeeded with capture cap_1", st)
	}
	e.wantSteps(map[string]int{"AuthorizeOnSession": 1, "Authorize": 0, "CheckAuthentication": 1, "Capture": 1, "Apply": 1,
		"Receipt": 1, "ResolveCard": 0, "FailedMail": 0})
	e.wantStatuses("processing", "requires_action", "processing", "succeeded")
}

// The cardholder failed the challenge: the payment fails authentication_failed, the
// authorization is settled (never captured) and the customer is told.
func TestPayment3DSFailedIsNeverCaptured(t *testing.T) {
	e := newPaymentEnv(t)
	e.happy3DS(func() error {
		return temporal.NewNonRetryableApplicationError("The card's 3-D Secure authentication failed.", gateway.CodeAuthenticationFailed, nil)
	})
	e.RegisterDelayedCallback(func() {
		e.SignalWorkflow(workflows.SignalCardAuthenticationReturn, workflows.CardAuthenticationReturnSignal{})
	}, time.Minute)
	st := e.runOnSession()
	if st.Status != billing.PaymentFailed || st.Failure == nil || st.Failure.Code != gateway.CodeAuthenticationFailed {
		t.Errorf("result %+v, want failed authentication_failed", st)
	}
	e.wantSteps(map[string]int{"Capture": 0, "Apply": 0, "ResolveCard": 1, "FailedMail": 1})
	e.wantFinished(billing.PaymentFailed, gateway.CodeAuthenticationFailed)
}

// Nobody comes back: after DefaultCardAuthenticationTimeout the payment fails
// authentication_timeout, the open challenge is settled (voided) and nothing is captured.
func TestPayment3DSTimesOut(t *testing.T) {
	e := newPaymentEnv(t)
	e.happy3DS(func() error { return nil })
	e.RegisterDelayedCallback(func() {
		if st := e.queryStatus(); st.Status != billing.PaymentRequiresAction {
			t.Errorf("a minute before the timeout the payment is %s, want requires_action", st.Status)
		}
	}, workflows.DefaultCardAuthenticationTimeout-time.Minute)
	st := e.runOnSession() // the test clock skips to the timeout
	if st.Status != billing.PaymentFailed || st.Failure == nil || st.Failure.Code != workflows.FailureAuthenticationTimeout {
		t.Errorf("result %+v, want failed %s", st, workflows.FailureAuthenticationTimeout)
	}
	e.wantSteps(map[string]int{"CheckAuthentication": 0, "Capture": 0, "Apply": 0, "ResolveCard": 1, "FailedMail": 1})
	e.wantFinished(billing.PaymentFailed, workflows.FailureAuthenticationTimeout)
	e.wantStatuses("requires_action", "failed")
}

// A return the processor does not confirm (the link is public) keeps the payment waiting for
// the real one.
func TestPayment3DSReturnWithoutAuthenticationKeepsWaiting(t *testing.T) {
	e := newPaymentEnv(t)
	checks := 0
	e.happy3DS(func() error {
		if checks++; checks == 1 {
			return temporal.NewNonRetryableApplicationError("not yet", activities.ErrTypeAuthenticationPending, nil)
		}
		return nil
	})
	for _, at := range []time.Duration{time.Minute, 3 * time.Minute} {
		e.RegisterDelayedCallback(func() {
			e.SignalWorkflow(workflows.SignalCardAuthenticationReturn, workflows.CardAuthenticationReturnSignal{})
		}, at)
	}
	st := e.runOnSession()
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded", st)
	}
	e.wantSteps(map[string]int{"CheckAuthentication": 2, "Capture": 1, "ResolveCard": 0})
}

// The customer cancels while the challenge is open: canceled, the challenge settled.
func TestPayment3DSCanceledThroughTheAPI(t *testing.T) {
	e := newPaymentEnv(t)
	e.happy3DS(func() error { return nil })
	var r updateResult[workflows.PaymentState]
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(workflows.UpdateCancelPayment, "upd_cancel", r.callbacks(t), workflows.CancelPaymentSignal{Reason: "changed my mind"})
	}, time.Minute)
	st := e.runOnSession()
	if st.Status != billing.PaymentCanceled || r.answer.Status != billing.PaymentCanceled {
		t.Errorf("result %+v, cancel answered %+v (err %v, rejected %v); want canceled", st, r.answer, r.err, r.rejected)
	}
	e.wantSteps(map[string]int{"Capture": 0, "ResolveCard": 1})
}

// Off session (a recurring charge) the saga authorizes as before: no 3-D Secure wait.
func TestPaymentOffSessionAuthorizesWithoutAChallenge(t *testing.T) {
	e := newPaymentEnv(t)
	e.happy3DS(func() error { return nil })
	st := e.run(billing.MethodCard)
	if st.Status != billing.PaymentSucceeded {
		t.Errorf("result %+v, want succeeded", st)
	}
	e.wantSteps(map[string]int{"Authorize": 1, "AuthorizeOnSession": 0})
}

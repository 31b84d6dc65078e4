package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/internal/billing"
)

// RefundInput starts a rep's refund. The refund is already stored, pending, with its amount
// counted against the payment (the database refuses more than was paid).
type RefundInput struct {
	RefundID  string
	PaymentID string
	AccountID string
	Amount    billing.Money
}

// RefundState is the refund's progress; the status query answers it and the workflow returns
// it.
type RefundState struct {
	Status            billing.RefundStatus
	ProcessorRefundID string           `json:",omitempty"`
	Failure           *billing.Failure `json:",omitempty"`
}

// CreditInput starts a rep's credit, already stored pending.
type CreditInput struct {
	CreditID  string
	AccountID string
	Amount    billing.Money
}

// CreditState is the credit's progress.
type CreditState struct {
	Status billing.CreditStatus
}

// refundSteps names the refund and credit activities; only its methods are used.
var refundSteps *activities.Refunds

// RefundWorkflow gives a rep's refund back through the payment's processor, then books it:
// the processor first, so nothing is booked that the processor refused; a refusal ends the
// refund failed and frees its amount (the compensation of the reservation made when it was
// stored). The processor call carries the refund's own idempotency key and is retried until
// the processor answers, so a lost answer is asked again and answers the same refund, which
// is booked once (the ledger's (kind, reference) is the refund's id). Booking is retried
// however long Postgres is down: the money has gone.
//
// Once the processor may have been asked, cancelling the workflow does not stop it: a refund
// cannot be called back, and only finishing tells where the money is. A refund cancelled
// before its first step ends failed with nothing asked.
func RefundWorkflow(ctx workflow.Context, in RefundInput) (RefundState, error) {
	st := RefundState{Status: billing.RefundPending}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (RefundStatusQuery, error) { return st.statusQuery(), nil }); err != nil {
		return st, err
	}
	settle, _ := workflow.NewDisconnectedContext(ctx)
	if ctx.Err() != nil {
		f := billing.Failure{Code: billing.CodePaymentCanceled, Message: "The refund was cancelled before the processor was asked."}
		st.Failure = &f
		st.Status = billing.RefundFailed
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, compensationOptions), refundSteps.FailRefund,
			activities.FailRefundInput{RefundID: in.RefundID, Failure: f}).Get(settle, nil); err != nil {
			workflow.GetLogger(ctx).Error("could not record the cancelled refund", "refund_id", in.RefundID, "err", err)
		}
		return st, temporal.NewCanceledError()
	}

	var processorRefundID string
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, processorRefundOptions), refundSteps.RefundAtProcessor,
		in.RefundID).Get(settle, &processorRefundID)
	if err != nil {
		f := refundFailureOf(err)
		workflow.GetLogger(ctx).Warn("processor refused the refund", "refund_id", in.RefundID, "code", f.Code)
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, compensationOptions), refundSteps.FailRefund,
			activities.FailRefundInput{RefundID: in.RefundID, Failure: f}).Get(settle, nil); err != nil {
			workflow.GetLogger(ctx).Error("could not record the refused refund", "refund_id", in.RefundID, "err", err)
		}
		st.Status, st.Failure = billing.RefundFailed, &f
		return st, nil
	}
	st.ProcessorRefundID = processorRefundID

	err = workflow.ExecuteActivity(workflow.WithActivityOptions(settle, refundLedgerOptions), refundSteps.BookRefund,
		activities.BookRefundInput{RefundID: in.RefundID, ProcessorRefundID: processorRefundID}).Get(settle, nil)
	if err != nil {
		// Only a refund ended failed meanwhile gets here: the money went back but is not
		// booked. The reconciler's refund check does not see it; say it loudly.
		workflow.GetLogger(ctx).Error("refund made but not bookable; a person must book it", "refund_id", in.RefundID,
			"processor_refund_id", processorRefundID, "err", err)
		st.Failure = &billing.Failure{Code: billing.CodeProcessingError, Message: "The refund was made but could not be booked."}
		return st, nil
	}
	st.Status = billing.RefundSucceeded
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, notificationOptions), refundSteps.SendRefundMail,
		in.RefundID).Get(settle, nil); err != nil {
		workflow.GetLogger(ctx).Warn("refund mail not sent", "refund_id", in.RefundID, "err", err)
	}
	return st, nil
}

// CreditWorkflow books a rep's credit (its Credit invoice, once) and mails the customer. A
// credit asked for is issued: cancelling the workflow does not take it back.
func CreditWorkflow(ctx workflow.Context, in CreditInput) (CreditState, error) {
	st := CreditState{Status: billing.CreditPending}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (CreditStatusQuery, error) { return CreditStatusQuery(st), nil }); err != nil {
		return st, err
	}
	settle, _ := workflow.NewDisconnectedContext(ctx)
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, refundLedgerOptions), refundSteps.IssueCredit,
		in.CreditID).Get(settle, nil); err != nil {
		return st, err
	}
	st.Status = billing.CreditIssued
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(settle, notificationOptions), refundSteps.SendCreditMail,
		in.CreditID).Get(settle, nil); err != nil {
		workflow.GetLogger(ctx).Warn("credit mail not sent", "credit_id", in.CreditID, "err", err)
	}
	return st, nil
}

// refundFailureOf says why the processor refused a refund: its decline code, or
// processor_refused.
func refundFailureOf(err error) billing.Failure {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		return billing.Failure{Code: appErr.Type(), Message: appErr.Message()}
	}
	return billing.Failure{Code: activities.ErrTypeProcessorRefused, Message: "The payment processor refused the refund."}
}

var (
	// processorRefundOptions: asking the processor to give money back. Retried until it
	// answers, since the refund's key makes every retry the same refund; only a refusal
	// stops it.
	processorRefundOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 5 * time.Minute},
	}
	// refundLedgerOptions: booking; retried until Postgres answers. Only a refund that
	// ended another way stops it.
	refundLedgerOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{activities.ErrTypeRefundEnded}},
	}
)

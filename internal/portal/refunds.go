package portal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

// Refunds is the reps' refund and credit service: it stores a refund or credit with its
// Idempotency-Key and starts the workflow that makes and books it.
type Refunds struct {
	DB        *postgres.DB
	Temporal  client.Client
	Clock     billing.Clock
	TaskQueue string
	Logger    *slog.Logger
	// RequestHashKey keys request fingerprints, as Payments.RequestHashKey.
	RequestHashKey []byte
	// OutcomeWait bounds how long Refund and Credit wait for the workflow to finish before
	// answering the refund or credit pending; 5 s when zero.
	OutcomeWait time.Duration
}

// NewRefund is a rep's refund request as the API checked it.
type NewRefund struct {
	PaymentID      string
	Amount         int64 // minor units of the payment's currency
	Reason         string
	RepKeyID       string
	IdempotencyKey string
}

// Refund stores the refund, its amount counted against the payment under the payment's lock
// (the database refuses more than was paid), and starts its workflow, which asks the
// processor and books the refund once. It answers the refund as it stands after OutcomeWait at
// most. A request again with its Idempotency-Key answers the same refund (replayed) and starts
// its workflow if a crash came between the two.
func (s *Refunds) Refund(ctx context.Context, in NewRefund) (_ billing.Refund, replayed bool, err error) {
	if in.Amount <= 0 {
		return billing.Refund{}, false, billing.Invalid(billing.CodeAmountNotPositive, "amount", "amount must be a positive number of minor units")
	}
	reason, err := billing.NormalizeReason(in.Reason)
	if err != nil {
		return billing.Refund{}, false, err
	}
	pay, err := s.DB.PaymentByID(ctx, in.PaymentID)
	if err != nil {
		return billing.Refund{}, false, err
	}
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	r := billing.Refund{ID: billing.NewID(billing.PrefixRefund), PaymentID: pay.ID, AccountID: pay.AccountID,
		Status: billing.RefundPending, Amount: billing.Money{Amount: in.Amount, Currency: pay.Amount.Currency},
		Reason: reason, CreatedBy: in.RepKeyID, CreatedAt: now}
	r.WorkflowID = workflows.RefundWorkflowID(r.ID)
	key := postgres.IdempotencyRecord{RepKeyID: in.RepKeyID, Key: in.IdempotencyKey, RequestHash: fingerprint(s.RequestHashKey, struct {
		PaymentID string `json:"payment_id"`
		Amount    int64  `json:"amount"`
		Reason    string `json:"reason"`
	}{pay.ID, in.Amount, reason})}
	stored, created, err := s.DB.CreateRefund(ctx, r, key)
	if err != nil {
		return billing.Refund{}, false, err
	}
	if stored.Status == billing.RefundPending {
		if err := s.start(ctx, stored.WorkflowID, stored.AccountID, stored.Amount, workflows.TypeRefund,
			fmt.Sprintf("Refund %s of %s", stored.Amount, stored.PaymentID),
			workflows.RefundInput{RefundID: stored.ID, PaymentID: stored.PaymentID, AccountID: stored.AccountID, Amount: stored.Amount}); err != nil {
			return billing.Refund{}, false, err
		}
	}
	if created {
		s.log().InfoContext(ctx, "refund requested", "refund_id", stored.ID, "payment_id", stored.PaymentID,
			"amount", stored.Amount.Amount, "rep_key_id", in.RepKeyID)
	}
	stored = awaitEnd(ctx, orDefault(s.OutcomeWait, 5*time.Second), stored,
		func(ctx context.Context) (billing.Refund, error) { return s.DB.RefundByID(ctx, stored.ID) },
		func(r billing.Refund) bool { return r.Status != billing.RefundPending })
	return stored, !created, nil
}

// NewCredit is a rep's credit request as the API checked it.
type NewCredit struct {
	AccountID      string
	Amount         billing.Money
	Reason         string
	RepKeyID       string
	IdempotencyKey string
}

// Credit stores the credit and starts its workflow, which books its Credit invoice once. The
// currency must be the account's.
func (s *Refunds) Credit(ctx context.Context, in NewCredit) (_ billing.Credit, replayed bool, err error) {
	if in.Amount.Amount <= 0 {
		return billing.Credit{}, false, billing.Invalid(billing.CodeAmountNotPositive, "amount", "amount must be a positive number of minor units")
	}
	reason, err := billing.NormalizeReason(in.Reason)
	if err != nil {
		return billing.Credit{}, false, err
	}
	acct, err := s.DB.Account(ctx, in.AccountID)
	if err != nil {
		return billing.Credit{}, false, err
	}
	if in.Amount.Currency != acct.Currency {
		return billing.Credit{}, false, billing.Invalid(billing.CodeCurrencyMismatch, "currency", "this account is billed in %s", acct.Currency)
	}
	now := s.Clock.Now().UTC().Truncate(time.Microsecond)
	c := billing.Credit{ID: billing.NewID(billing.PrefixCredit), AccountID: acct.ID, Status: billing.CreditPending,
		Amount: in.Amount, Reason: reason, CreatedBy: in.RepKeyID, CreatedAt: now}
	c.WorkflowID = workflows.CreditWorkflowID(c.ID)
	key := postgres.IdempotencyRecord{RepKeyID: in.RepKeyID, Key: in.IdempotencyKey, RequestHash: fingerprint(s.RequestHashKey, struct {
		AccountID string        `json:"account_id"`
		Amount    billing.Money `json:"amount"`
		Reason    string        `json:"reason"`
	}{acct.ID, in.Amount, reason})}
	stored, created, err := s.DB.CreateCredit(ctx, c, key)
	if err != nil {
		return billing.Credit{}, false, err
	}
	if stored.Status == billing.CreditPending {
		if err := s.start(ctx, stored.WorkflowID, stored.AccountID, stored.Amount, workflows.TypeCredit,
			fmt.Sprintf("Credit %s to %s", stored.Amount, stored.AccountID),
			workflows.CreditInput{CreditID: stored.ID, AccountID: stored.AccountID, Amount: stored.Amount}); err != nil {
			return billing.Credit{}, false, err
		}
	}
	if created {
		s.log().InfoContext(ctx, "credit requested", "credit_id", stored.ID, "account_id", stored.AccountID,
			"amount", stored.Amount.Amount, "rep_key_id", in.RepKeyID)
	}
	stored = awaitEnd(ctx, orDefault(s.OutcomeWait, 5*time.Second), stored,
		func(ctx context.Context) (billing.Credit, error) { return s.DB.CreditByID(ctx, stored.ID) },
		func(c billing.Credit) bool { return c.Status != billing.CreditPending })
	return stored, !created, nil
}

// Get returns one refund.
func (s *Refunds) Get(ctx context.Context, id string) (billing.Refund, error) {
	return s.DB.RefundByID(ctx, id)
}

// PaymentRefunds lists a payment's refunds, oldest first; an unknown payment is not_found.
func (s *Refunds) PaymentRefunds(ctx context.Context, paymentID string) ([]billing.Refund, error) {
	if _, err := s.DB.PaymentByID(ctx, paymentID); err != nil {
		return nil, err
	}
	return s.DB.PaymentRefunds(ctx, paymentID)
}

// GetCredit returns one credit.
func (s *Refunds) GetCredit(ctx context.Context, id string) (billing.Credit, error) {
	return s.DB.CreditByID(ctx, id)
}

// AccountCredits lists an account's credits, newest first; an unknown account is not_found.
func (s *Refunds) AccountCredits(ctx context.Context, accountID string) ([]billing.Credit, error) {
	if _, err := s.DB.Account(ctx, accountID); err != nil {
		return nil, err
	}
	return s.DB.AccountCredits(ctx, accountID)
}

// start starts the refund's or credit's workflow; a second start (a replay) joins it or is
// refused once it has closed.
func (s *Refunds) start(ctx context.Context, id, accountID string, amount billing.Money, typ, summary string, in any) error {
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AccountIDKey.ValueSet(accountID),
			workflows.AmountMinorKey.ValueSet(amount.Amount),
		),
		StaticSummary: summary,
	}
	_, err := s.Temporal.ExecuteWorkflow(ctx, opts, typ, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return unavailable(fmt.Errorf("start %s: %w", id, err))
	}
	return nil
}

// awaitEnd reads the row until done or wait has passed, and answers the last row read. A
// failed read answers what was read before: the row is stored and its workflow started, so
// that answer stands.
func awaitEnd[T any](ctx context.Context, wait time.Duration, first T, read func(context.Context) (T, error), done func(T) bool) T {
	deadline := time.Now().Add(wait)
	last := first
	for !done(last) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return last
		case <-time.After(50 * time.Millisecond):
		}
		row, err := read(ctx)
		if err != nil {
			return last
		}
		last = row
	}
	return last
}

func (s *Refunds) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

package portal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
	"github.com/payportal/payportal/internal/postgres"
	"github.com/payportal/payportal/workflows"
)

// Payments takes one-time payments: it checks the request, tokenizes the card, stores the
// payment with its Idempotency-Key and starts the payment saga; it lists payments, cancels one
// waiting for PayPal and passes the buyer's return from PayPal on to the saga.
type Payments struct {
	DB                    *postgres.DB
	Temporal              client.Client
	Processor             gateway.CardProcessor
	PayPal                gateway.PayPal // asked whether an order is approved before the saga is told
	Clock                 billing.Clock
	TaskQueue             string
	PayPalApprovalTimeout time.Duration // PAYPORTAL_PAYPAL_APPROVAL_TIMEOUT
	Logger                *slog.Logger
	// RequestHashKey keys the HMAC that fingerprints a request for its Idempotency-Key
	// (PAYPORTAL_IDEMPOTENCY_SECRET). The fingerprint never covers the card number or CVC
	// (PCI DSS forbids keeping the CVC in any form), only what is safe to keep of the card:
	// brand, last4, expiry and holder. It is still keyed, because what it covers (a name, an
	// address, an amount) is easily guessed, and a plain hash of guessable facts tells them.
	//
	// An empty stored fingerprint is "unknown": migration 00006 cleared those of the card
	// payments made before, which covered the number and CVC. A request with such a key
	// answers the key's payment whatever the request, as a replay would: the key was the
	// client's promise that it is the same payment, and nothing is charged twice.
	RequestHashKey []byte
	// OutcomeWait bounds how long Create waits for a PayPal payment's approval_url, and Cancel
	// and PayPalReturn for the saga to act, before answering the payment as it stands; 5 s
	// when zero.
	OutcomeWait time.Duration
	// CardOutcomeWait bounds how long Create waits for a card payment's outcome before
	// answering it processing; 3 s when zero.
	CardOutcomeWait time.Duration
}

// NewPayment is a one-time payment request as the API validated it. Card holds the raw number
// and CVC: they go to the processor, nowhere else (the request hash takes only the card's
// brand, last4, expiry and holder).
type NewPayment struct {
	IdempotencyKey string
	Amount         billing.Money
	Method         billing.PaymentMethodKind
	Card           *gateway.Card    // card payments: the raw card, or
	Token          string           // the processor's token made in the browser (exactly one)
	BillingAddress *billing.Address // card payments: nil means the company address
	UseCompanyInfo bool
	EUSupported    bool
	ReturnURL      string
	// Metadata is checked by the API and stored with the payment; the saga never sees it.
	Metadata map[string]string
}

// Create takes a one-time payment. A request whose Idempotency-Key was seen before answers
// the payment that key made (created=false) when the request is the same, and is a 409 when it
// is not. Otherwise the card is tokenized first, then the payment and its key are stored in
// one transaction and the saga is started, with the update that has it answer what the buyer
// needs next (startAndAwait): a PayPal payment comes back with its approval_url, a card
// payment that completes within CardOutcomeWait with its outcome.
//
// The saga is started on replays too, unless the payment has ended: if a crash came between
// storing the payment and starting its workflow, the client's retry with the same key starts
// it. The workflow ID is the payment's and duplicates are refused or joined, so a second
// start is harmless.
func (s *Payments) Create(ctx context.Context, accountID string, in NewPayment) (_ billing.Payment, created bool, err error) {
	if in.Amount.Amount <= 0 {
		return billing.Payment{}, false, billing.Invalid(billing.CodeAmountNotPositive, "amount", "amount must be a positive number of minor units")
	}
	// One round trip for the account, the key's payment and the available amount.
	facts, err := s.DB.PaymentRequestFacts(ctx, accountID, in.IdempotencyKey)
	if err != nil {
		return billing.Payment{}, false, err
	}
	acct := facts.Account
	if in.Amount.Currency != acct.Currency {
		return billing.Payment{}, false, billing.Invalid(billing.CodeCurrencyMismatch, "currency",
			"currency must be %s: this account pays in %s", acct.Currency, acct.Currency)
	}
	hash := in.requestHash(s.RequestHashKey)

	// Cheap checks before the card goes to the processor; CreatePayment repeats both under
	// the account lock, where they count.
	if facts.KeyReused {
		return billing.Payment{}, false, postgres.IdempotencyKeyReused()
	}
	if facts.Found {
		return s.replay(ctx, facts.Existing, facts.PrevHash, hash)
	}
	if in.Amount.Amount > facts.Available {
		return billing.Payment{}, false, postgres.AmountExceedsBalance(facts.Available, acct.Currency)
	}

	now := s.Clock.Now().UTC().Truncate(time.Microsecond) // what Postgres keeps
	p := billing.Payment{
		ID:          billing.NewID(billing.PrefixPayment),
		AccountID:   acct.ID,
		Status:      billing.PaymentProcessing,
		Method:      in.Method,
		Amount:      in.Amount,
		EUSupported: in.EUSupported,
		ReturnURL:   in.ReturnURL,
		CreatedAt:   now,
		Metadata:    in.Metadata,
	}
	p.WorkflowID = workflows.PaymentWorkflowID(p.ID)
	switch in.Method {
	case billing.MethodCard:
		addr := acct.Address
		if in.BillingAddress != nil {
			addr = *in.BillingAddress
		}
		tok, err := cardToken(ctx, s.Processor, in.Card, in.Token, addr)
		if err != nil {
			return billing.Payment{}, false, err
		}
		p.CardToken, p.CardBrand, p.CardLast4, p.BillingAddress = tok.Token, tok.Brand, tok.Last4, &addr
	case billing.MethodPayPal:
		if in.Card != nil || in.Token != "" {
			return billing.Payment{}, false, billing.Invalid(billing.CodeInvalidValue, "card", "card and token are only for method card")
		}
	default:
		return billing.Payment{}, false, billing.Invalid(billing.CodeInvalidValue, "method", "method must be card or paypal")
	}

	stored, created, err := s.DB.CreatePayment(ctx, p, in.IdempotencyKey, hash)
	if err != nil {
		return billing.Payment{}, false, err
	}
	if created {
		s.log().InfoContext(ctx, "payment accepted", "payment_id", stored.ID, "account_id", stored.AccountID,
			"method", string(stored.Method), "amount", stored.Amount.String(), "workflow_id", stored.WorkflowID)
	}
	answer, err := s.startAndAwait(ctx, stored)
	if err != nil {
		return billing.Payment{}, false, err
	}
	return answer, created, nil
}

func (s *Payments) replay(ctx context.Context, existing billing.Payment, prevHash, hash []byte) (billing.Payment, bool, error) {
	// An empty fingerprint is unknown (see RequestHashKey): the key's payment is the answer.
	if len(prevHash) > 0 && !bytes.Equal(prevHash, hash) {
		return billing.Payment{}, false, postgres.IdempotencyKeyReused()
	}
	answer, err := s.startAndAwait(ctx, existing)
	if err != nil {
		return billing.Payment{}, false, err
	}
	return answer, false, nil
}

// startAndAwait starts the payment's saga together with the update UpdatePaymentStarted
// (update-with-start: one round trip) and answers the payment once the saga has answered it:
// a PayPal payment with its approval_url, a card payment in its final status. A running saga
// is joined and asked the same; a payment that has ended is answered as it is, and nothing
// starts.
//
// The update only hastens the answer. When it is not answered within the wait (a slow
// processor, no worker polling, a run on a worker from before the update), the payment is
// answered as it stands, still processing; when it could not be sent at all, the saga is
// started the plain way (start), and only if that fails too is the answer a 503.
func (s *Payments) startAndAwait(ctx context.Context, p billing.Payment) (billing.Payment, error) {
	if p.Status.Final() {
		return p, nil
	}
	wait := orDefault(s.OutcomeWait, 5*time.Second)
	if p.Method == billing.MethodCard {
		wait = orDefault(s.CardOutcomeWait, 3*time.Second)
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	opts, in := s.startOptions(p)
	handle, err := s.Temporal.UpdateWithStartWorkflow(waitCtx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: s.Temporal.NewWithStartWorkflowOperation(opts, workflows.TypePayment, in),
		// Completed: the answer comes back with the start, one call instead of a start and a
		// poll for the outcome (a card payment's saga answers in its first workflow task).
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: workflows.UpdatePaymentStarted,
			WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	var closed *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case err == nil:
		// The saga runs and took the update; its answer, or the end of the wait, is the
		// moment to read the payment. The saga records a step before its state shows it, so
		// the row is at least as far along as the answer.
		var state workflows.PaymentState
		if err := handle.Get(waitCtx, &state); err != nil && waitCtx.Err() == nil {
			s.log().WarnContext(ctx, "payment saga did not answer its start", "payment_id", p.ID, "err", err)
		} else if answer, ok := succeededAs(p, state); ok {
			return answer, nil
		}
	case errors.As(err, &closed):
		// The saga ran and closed: the row says how it ended.
	case ctx.Err() != nil:
		return billing.Payment{}, ctx.Err()
	default:
		s.log().InfoContext(ctx, "update-with-start not answered; starting the saga plainly", "payment_id", p.ID, "err", err)
		if err := s.start(ctx, p); err != nil {
			return billing.Payment{}, err
		}
	}
	return s.DB.PaymentByID(ctx, p.ID)
}

// succeededAs is p as the saga's answer leaves it when the payment succeeded and the answer
// says when it was booked: the saga changed nothing else on the row, so the answer needs no
// read of it. Any other answer is read from the row.
func succeededAs(p billing.Payment, state workflows.PaymentState) (billing.Payment, bool) {
	if state.Status != billing.PaymentSucceeded || state.CompletedAt == nil {
		return billing.Payment{}, false
	}
	p.Status, p.CompletedAt, p.Failure = billing.PaymentSucceeded, state.CompletedAt, nil
	p.CaptureID = state.CaptureID
	return p, true
}

// requestHash tells a replay from a reuse of an Idempotency-Key. It is the HMAC-SHA-256 under
// key of the request in a canonical form (fields in a fixed order), so the same payment sent
// twice hashes the same whatever the JSON's formatting. The card is reduced to what may be
// kept at rest, brand, last4, expiry and holder, so the stored fingerprint depends on neither
// the full number nor the CVC: two cards alike in those facts sent with one key are taken as
// the same payment (a replay), never charged twice.
func (in NewPayment) requestHash(key []byte) []byte {
	canonical := struct {
		Amount         int64            `json:"amount"`
		Currency       string           `json:"currency"`
		Method         string           `json:"method"`
		Card           *cardFacts       `json:"card"`
		Token          string           `json:"token,omitempty"` // absent before tokens: old fingerprints still match
		BillingAddress *billing.Address `json:"billing_address"`
		UseCompanyInfo bool             `json:"use_company_info"`
		EUSupported    bool             `json:"eu_supported"`
		ReturnURL      string           `json:"return_url"`
		// Keys in sorted order (encoding/json sorts a map's); omitted when empty, so a
		// request without metadata hashes as it did before metadata existed.
		Metadata map[string]string `json:"metadata,omitempty"`
	}{
		Amount: in.Amount.Amount, Currency: in.Amount.Currency, Method: string(in.Method),
		BillingAddress: in.BillingAddress, UseCompanyInfo: in.UseCompanyInfo, EUSupported: in.EUSupported,
		ReturnURL: in.ReturnURL, Token: in.Token, Metadata: in.Metadata,
	}
	if in.Card != nil {
		canonical.Card = factsOf(*in.Card)
	}
	return fingerprint(key, canonical)
}

// start starts the payment's saga unless it has ended, without waiting for anything. The
// reuse policy refuses a second run of a closed workflow and the conflict policy joins a
// running one, so 20 concurrent duplicates start one saga.
func (s *Payments) start(ctx context.Context, p billing.Payment) error {
	if p.Status.Final() {
		return nil
	}
	opts, in := s.startOptions(p)
	_, err := s.Temporal.ExecuteWorkflow(ctx, opts, workflows.TypePayment, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return unavailable(fmt.Errorf("start %s: %w", p.WorkflowID, err))
	}
	return nil
}

// startOptions are how every start of a payment's saga looks: the workflow ID is the
// payment's, duplicates are refused (closed) or joined (running), and ops find it by its
// search attributes, summary and details.
func (s *Payments) startOptions(p billing.Payment) (client.StartWorkflowOptions, workflows.PaymentInput) {
	opts := client.StartWorkflowOptions{
		ID:                       p.WorkflowID,
		TaskQueue:                s.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AccountIDKey.ValueSet(p.AccountID),
			workflows.PaymentStatusKey.ValueSet(string(billing.PaymentProcessing)),
			workflows.PaymentMethodKindKey.ValueSet(string(p.Method)),
			workflows.AmountMinorKey.ValueSet(p.Amount.Amount),
		),
		StaticSummary: fmt.Sprintf("One-time %s payment of %s for %s", p.Method, p.Amount, p.AccountID),
		StaticDetails: fmt.Sprintf("**One-time payment**\n\n- Payment: %s\n- Account: %s\n- Method: %s%s\n- Amount: %s\n\n"+
			"`%s` query answers the status. The API starts it with the `%s` update and cancels with the `%s` update "+
			"(the `%s` signal does the same); PayPal returns arrive as the `%s` signal, 3-D Secure returns as `%s`.",
			p.ID, p.AccountID, p.Method, cardSuffix(p), p.Amount, workflows.QueryStatus,
			workflows.UpdatePaymentStarted, workflows.UpdateCancelPayment, workflows.SignalCancel, workflows.SignalPayPalReturn,
			workflows.SignalCardAuthenticationReturn),
	}
	in := workflows.PaymentInput{
		PaymentID:             p.ID,
		AccountID:             p.AccountID,
		Method:                p.Method,
		Amount:                p.Amount,
		CardToken:             p.CardToken,
		PayPalApprovalTimeout: s.PayPalApprovalTimeout,
		// The customer is paying now through the API: a card may ask for 3-D Secure.
		OnSession: p.Method == billing.MethodCard,
	}
	return opts, in
}

func cardSuffix(p billing.Payment) string {
	if p.Method != billing.MethodCard {
		return ""
	}
	return fmt.Sprintf(" (%s ending %s)", p.CardBrand, p.CardLast4)
}

// List returns the account's payments, newest first.
func (s *Payments) List(ctx context.Context, accountID string, page billing.ListParams) ([]billing.Payment, bool, error) {
	return s.DB.Payments(ctx, accountID, page)
}

// Get returns one payment of the account.
func (s *Payments) Get(ctx context.Context, accountID, paymentID string) (billing.Payment, error) {
	return s.DB.Payment(ctx, accountID, paymentID)
}

// Cancel cancels a payment still waiting for the buyer's PayPal approval. The saga decides:
// the UpdateCancelPayment validator refuses (409 not_cancelable) a payment that does not wait
// for the buyer, before anything enters its history, and an accepted cancel voids the order
// and answers once the payment has ended. A buyer's approval that came first wins: the
// payment is then not cancelable either. When the saga does not answer within OutcomeWait,
// or has closed, the payment is answered as it stands. A run from before the update refuses
// it as unknown; it is sent the cancel-payment signal instead (cancelBySignal).
//
// With an Idempotency-Key, the key is recorded before the cancel is sent (claimed), so of
// concurrent requests with one key only the first sends it; the others, and later retries,
// are its replays (replayCancel). A refusal (a 4xx) gives the key back, so its retry is
// refused the same way; after a 503 the key stays claimed.
func (s *Payments) Cancel(ctx context.Context, accountID, paymentID, idempotencyKey string) (_ billing.Payment, replayed bool, err error) {
	if idempotencyKey == "" {
		p, err := s.cancel(ctx, accountID, paymentID)
		return p, false, err
	}
	if _, err := s.DB.Payment(ctx, accountID, paymentID); err != nil {
		return billing.Payment{}, false, err // no claim on another account's payment
	}
	key := postgres.IdempotencyRecord{AccountID: accountID, Key: idempotencyKey, Route: postgres.RouteCancelPayment,
		PaymentID: paymentID, RequestHash: fingerprint(s.RequestHashKey, struct {
			PaymentID string `json:"payment_id"`
		}{paymentID})}
	rec, claimed, err := s.DB.RecordIdempotencyKey(ctx, key)
	if err != nil {
		return billing.Payment{}, false, err
	}
	if !claimed {
		return s.replayCancel(ctx, rec, key)
	}
	p, err := s.cancel(ctx, accountID, paymentID)
	if err != nil {
		releaseIfRefused(ctx, s.DB, s.log(), key, err)
		return billing.Payment{}, false, err
	}
	return p, false, nil
}

// replayCancel answers a cancel sent again with its key: the payment as it now stands, once
// the request that claimed the key has had its time (OutcomeWait) to have it canceled. A
// payment still waiting for the buyer then was never canceled, that request having failed
// before the saga took it (or the saga being slow): the cancel is sent now, and the saga,
// taking one cancel however many arrive, keeps it harmless.
func (s *Payments) replayCancel(ctx context.Context, rec, key postgres.IdempotencyRecord) (billing.Payment, bool, error) {
	if !rec.Matches(key) {
		return billing.Payment{}, false, postgres.IdempotencyKeyReused()
	}
	p, err := awaitRow(ctx, rec, orDefault(s.OutcomeWait, 5*time.Second),
		func(ctx context.Context) (billing.Payment, error) { return s.DB.PaymentByID(ctx, rec.PaymentID) },
		func(p billing.Payment) bool { return p.Status != billing.PaymentRequiresAction })
	if err != nil {
		return billing.Payment{}, false, err
	}
	if p.Status != billing.PaymentRequiresAction {
		return p, true, nil
	}
	p, err = s.cancel(ctx, rec.AccountID, rec.PaymentID)
	if isConflict(err, billing.CodeNotCancelable) {
		p, err = s.DB.PaymentByID(ctx, rec.PaymentID) // canceled by the claiming request after all, or ended otherwise
	}
	if err != nil {
		return billing.Payment{}, false, err
	}
	return p, true, nil
}

func (s *Payments) cancel(ctx context.Context, accountID, paymentID string) (billing.Payment, error) {
	p, err := s.DB.Payment(ctx, accountID, paymentID)
	if err != nil {
		return billing.Payment{}, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, orDefault(s.OutcomeWait, 5*time.Second))
	defer cancel()
	var state workflows.PaymentState
	err = update(waitCtx, s.Temporal, p.WorkflowID, workflows.UpdateCancelPayment,
		workflows.CancelPaymentSignal{Reason: "canceled by the customer"}, &state)
	var gone *serviceerror.NotFound
	switch {
	case isUnknownUpdate(err):
		return s.cancelBySignal(ctx, p)
	case refusedAs(err, workflows.ErrTypeNotCancelable):
		return billing.Payment{}, billing.Conflict(billing.CodeNotCancelable, "%s", refusal(err))
	case errors.As(err, &gone):
		return billing.Payment{}, s.sagaEnded(ctx, p, err)
	case err == nil, waitCtx.Err() != nil && ctx.Err() == nil:
		// Answered (the payment has ended: canceled, or how the buyer's approval ended it),
		// or not answered in time (still waiting, or canceled just now): the row says which.
	default:
		return billing.Payment{}, unavailable(fmt.Errorf("%s update to %s: %w", workflows.UpdateCancelPayment, p.WorkflowID, err))
	}
	cur, err := s.DB.PaymentByID(ctx, p.ID)
	if err != nil {
		return billing.Payment{}, err
	}
	return cancelAnswer(cur)
}

// sagaEnded answers a cancel of a payment without a running saga: only a payment waiting
// for the buyer is cancelable, and one whose saga closed leaving it so is the reconciler's
// to settle within minutes.
func (s *Payments) sagaEnded(ctx context.Context, p billing.Payment, cause error) error {
	cur, err := s.DB.PaymentByID(ctx, p.ID)
	if err != nil {
		return err
	}
	if cur.Status != billing.PaymentRequiresAction {
		return notCancelable(cur)
	}
	return unavailable(fmt.Errorf("payment %s is %s but its saga %s has closed: %w", cur.ID, cur.Status, cur.WorkflowID, cause))
}

// cancelBySignal cancels a payment whose saga predates UpdateCancelPayment, as the API did
// before it: the cancel-payment signal, then a wait on the saga's status query until the
// payment leaves requires_action.
func (s *Payments) cancelBySignal(ctx context.Context, p billing.Payment) (billing.Payment, error) {
	if p.Status != billing.PaymentRequiresAction {
		return billing.Payment{}, notCancelable(p)
	}
	err := s.Temporal.SignalWorkflow(ctx, p.WorkflowID, "", workflows.SignalCancel, workflows.CancelPaymentSignal{Reason: "canceled by the customer"})
	var gone *serviceerror.NotFound
	if errors.As(err, &gone) {
		return billing.Payment{}, s.sagaEnded(ctx, p, err)
	}
	if err != nil {
		return billing.Payment{}, unavailable(fmt.Errorf("signal %s to %s: %w", workflows.SignalCancel, p.WorkflowID, err))
	}
	cur, err := s.awaitSaga(ctx, p, leftRequiresAction)
	if err != nil {
		return billing.Payment{}, err
	}
	return cancelAnswer(cur)
}

// cancelAnswer is Cancel's answer once the saga has acted on the cancel: the payment
// canceled, or still waiting when the saga was slow; any other status means something else
// came first.
func cancelAnswer(p billing.Payment) (billing.Payment, error) {
	switch p.Status {
	case billing.PaymentCanceled, billing.PaymentRequiresAction:
		return p, nil
	}
	return billing.Payment{}, notCancelable(p)
}

func leftRequiresAction(st workflows.PaymentStatusQuery) bool {
	return st.Status != billing.PaymentRequiresAction
}

func notCancelable(p billing.Payment) error {
	return billing.Conflict(billing.CodeNotCancelable,
		"payment %s %s; only a payment waiting for the buyer (PayPal approval or 3-D Secure: requires_action) can be canceled", p.ID, p.Status.Phrase())
}

// PayPalReturn passes the buyer's return from PayPal (approved, or cancelled on PayPal's side)
// to the payment waiting on the order, then answers the payment; waited reports whether the
// payment was waiting for the buyer when the link was visited (only then may the API send the
// buyer on to return_url). The order id is the capability: whoever holds it may only nudge
// the saga. An approval is passed on only when PayPal confirms the order approved, so a link
// hit again and again before the buyer approves adds nothing to the saga's history; the saga
// asks PayPal again when it captures.
func (s *Payments) PayPalReturn(ctx context.Context, orderID string, approved bool) (_ billing.Payment, waited bool, err error) {
	p, err := s.DB.PaymentByPayPalOrder(ctx, orderID)
	if err != nil {
		return billing.Payment{}, false, err
	}
	if p.Status != billing.PaymentRequiresAction {
		return p, false, nil // a second visit of the link, or the payment already ended
	}
	if approved && !s.orderApproved(ctx, p, orderID) {
		return p, true, nil
	}
	if err := s.signal(ctx, p, workflows.SignalPayPalReturn, workflows.PayPalReturnSignal{Approved: approved}); err != nil {
		return billing.Payment{}, false, err
	}
	cur, err := s.awaitSaga(ctx, p, leftRequiresAction)
	return cur, err == nil, err
}

// PayPalOrderPayment is the payment behind a PayPal order and the account it pays, for the
// sandbox's approval page. The order id is the capability, as for PayPalReturn.
func (s *Payments) PayPalOrderPayment(ctx context.Context, orderID string) (billing.Payment, billing.Account, error) {
	p, err := s.DB.PaymentByPayPalOrder(ctx, orderID)
	if err != nil {
		return billing.Payment{}, billing.Account{}, err
	}
	acct, err := s.DB.Account(ctx, p.AccountID)
	return p, acct, err
}

// CardAuthenticationReturn passes the cardholder's return from 3-D Secure on to the payment
// waiting on the authorization, then answers the payment; waited is as for PayPalReturn. The
// authorization id is the capability, as the order id is for PayPal, and it only nudges the
// saga: the return is passed on only once the processor no longer says requires_action, so
// a link hit again and again adds nothing to the history; the saga asks the processor again.
func (s *Payments) CardAuthenticationReturn(ctx context.Context, authorizationID string) (_ billing.Payment, waited bool, err error) {
	p, err := s.DB.PaymentByAuthorization(ctx, authorizationID)
	if err != nil {
		return billing.Payment{}, false, err
	}
	if p.Status != billing.PaymentRequiresAction {
		return p, false, nil
	}
	if c, err := s.Processor.LookupAuthorization(ctx, authorizationID); err != nil {
		s.log().WarnContext(ctx, "could not ask the processor about a 3-D Secure return; passing it on", "payment_id", p.ID, "err", err)
	} else if c.Status == gateway.ChargeRequiresAction {
		return p, true, nil
	}
	if err := s.signal(ctx, p, workflows.SignalCardAuthenticationReturn, workflows.CardAuthenticationReturnSignal{}); err != nil {
		return billing.Payment{}, false, err
	}
	cur, err := s.awaitSaga(ctx, p, leftRequiresAction)
	return cur, err == nil, err
}

// orderApproved asks PayPal whether the buyer approved the order (or it was captured
// already). When PayPal cannot be asked the return is passed on as before: the saga checks
// the order again when it captures, so an unconfirmed approval costs history, never money.
func (s *Payments) orderApproved(ctx context.Context, p billing.Payment, orderID string) bool {
	if s.PayPal == nil {
		return true
	}
	o, err := s.PayPal.LookupOrder(ctx, orderID)
	if err != nil {
		s.log().WarnContext(ctx, "could not ask PayPal about a returned order; passing the return on", "payment_id", p.ID, "err", err)
		return true
	}
	return o.Status == gateway.OrderApproved || o.Status == gateway.OrderCaptured
}

// signal sends a signal to the payment's saga. A saga that has ended already ignores it:
// the payment's row says how it ended.
func (s *Payments) signal(ctx context.Context, p billing.Payment, name string, arg any) error {
	err := s.Temporal.SignalWorkflow(ctx, p.WorkflowID, "", name, arg)
	var gone *serviceerror.NotFound
	if err != nil && !errors.As(err, &gone) {
		return unavailable(fmt.Errorf("signal %s to %s: %w", name, p.WorkflowID, err))
	}
	return nil
}

// awaitSaga waits, at most OutcomeWait, until the saga's status query says done, then
// answers the payment as stored (read once: the saga records a step before its state shows
// it). A query that fails ends the wait early; the payment is then answered as it stands.
func (s *Payments) awaitSaga(ctx context.Context, p billing.Payment, done func(workflows.PaymentStatusQuery) bool) (billing.Payment, error) {
	waitCtx, cancel := context.WithTimeout(ctx, orDefault(s.OutcomeWait, 5*time.Second))
	defer cancel()
	if _, _, err := awaitStatus(waitCtx, s.Temporal, p.WorkflowID, done); err != nil {
		s.log().WarnContext(ctx, "status query failed; answering the payment as stored", "workflow_id", p.WorkflowID, "err", err)
	}
	return s.DB.PaymentByID(ctx, p.ID)
}

func (s *Payments) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// StartSaga starts the saga of a payment stored without one (Temporal was unreachable when
// the API took it, and the client never retried): the reconciler calls it. Starting is
// idempotent, so a running saga is joined and a closed one is not run again.
func (s *Payments) StartSaga(ctx context.Context, p billing.Payment) error { return s.start(ctx, p) }

// --- asking a workflow ---------------------------------------------------------------------

// update sends a workflow update and waits, as long as ctx allows, for its answer in result.
// A refusal by the update's validator, or by a run that does not know the update, is the
// error (see refusedAs and isUnknownUpdate).
func update(ctx context.Context, c client.Client, workflowID, name string, arg, result any) error {
	return updateAs(ctx, c, workflowID, "", name, arg, result)
}

// updateAs is update with the update's ID ("": a new one): Temporal takes an update sent
// again with an ID it accepted as that update, and answers its outcome.
func updateAs(ctx context.Context, c client.Client, workflowID, updateID, name string, arg, result any) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateID: updateID, UpdateName: name,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, result)
}

// refusedAs reports whether err is the workflow refusing an update with an error of type
// errType (the workflows' ErrType constants).
func refusedAs(err error, errType string) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == errType
}

// refusal is the workflow's own words for why it refused.
func refusal(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// isUnknownUpdate reports whether the run refused the update because it registers no handler
// for it: a run from before the update (the SDK refuses those as "unknown update NAME").
func isUnknownUpdate(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && strings.HasPrefix(appErr.Message(), "unknown update ")
}

// awaitStatus asks the workflow's status query every 50 ms until done accepts the answer or
// ctx ends, and answers the last state it got and whether done accepted it. It is how the
// API waits on runs that predate the updates, which answer by themselves. A query that fails
// while ctx is live is an error; one cut short by ctx ending is simply the end of the wait.
func awaitStatus[T any](ctx context.Context, c client.Client, workflowID string, done func(T) bool) (last T, ok bool, err error) {
	for {
		var st T
		v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
		if err == nil {
			err = v.Get(&st)
		}
		switch {
		case err == nil && done(st):
			return st, true, nil
		case err == nil:
			last = st
		case ctx.Err() == nil:
			return last, false, err
		}
		select {
		case <-ctx.Done():
			return last, false, nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

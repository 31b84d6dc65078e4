package portal

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
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

// Cards is the card-on-file service: it tokenizes a new card, stores it pending validation
// and starts the workflow that waits for a rep; it lists cards and passes reps' decisions on.
type Cards struct {
	DB                *postgres.DB
	Temporal          client.Client
	Processor         gateway.CardProcessor
	Clock             billing.Clock
	TaskQueue         string
	ValidationTimeout time.Duration // PAYPORTAL_CARD_VALIDATION_TIMEOUT
	Logger            *slog.Logger
	// DecisionWait bounds how long Decide waits for the workflow to take and record a
	// decision; 10 s when zero.
	DecisionWait time.Duration
	// RequestHashKey keys the fingerprints of requests sent with an Idempotency-Key
	// (PAYPORTAL_IDEMPOTENCY_SECRET), as Payments.RequestHashKey.
	RequestHashKey []byte
}

// NewCard is a card to put on file, as the API validated it. Card holds the raw number and
// CVC: it goes to the processor and nowhere else.
type NewCard struct {
	IdempotencyKey string           // optional: "" when the client sent none
	Card           gateway.Card     // the raw card, unless
	Token          string           // the processor's token made in the browser is given instead
	BillingAddress *billing.Address // nil: the account's company address (use_company_info)
	ContactEmail   string
	EUSupported    bool
	Metadata       map[string]string // checked by the API; stored with the card, not given to its workflow
}

// Add tokenizes the card and has the processor verify it, then stores it pending validation
// and starts its validation workflow. Only the token, brand, last four digits and expiry go
// past the processor call: the database row and the workflow's input never see the number.
// A processor decline is a 422 on card.number carrying the decline code.
//
// With an Idempotency-Key, the card and its key are stored in one transaction, so concurrent
// requests with one key store one card, and a request again with the key answers that card
// (replayed) without calling the processor. A card stored but whose workflow could not be
// started (a 503) stays: the retry with the key starts it. The workflow ID is the card's, so
// one card has one workflow, and one workflow sends one mail.
func (s *Cards) Add(ctx context.Context, accountID string, in NewCard) (_ billing.PaymentMethod, replayed bool, err error) {
	acct, err := s.DB.Account(ctx, accountID)
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	key := postgres.IdempotencyRecord{AccountID: acct.ID, Key: in.IdempotencyKey, Route: postgres.RouteAddPaymentMethod,
		RequestHash: in.requestHash(s.RequestHashKey)}
	if in.IdempotencyKey != "" {
		// A cheap look before the card goes to the processor; the insert looks again, under
		// the account lock, where it counts.
		rec, found, err := s.DB.FindIdempotencyKey(ctx, key)
		if err != nil {
			return billing.PaymentMethod{}, false, err
		}
		if found {
			return s.replayAdd(ctx, acct, rec, key)
		}
	}
	addr := acct.Address
	if in.BillingAddress != nil {
		addr = *in.BillingAddress
	}
	var raw *gateway.Card
	if in.Token == "" {
		raw = &in.Card
	}
	tok, err := cardToken(ctx, s.Processor, raw, in.Token, addr)
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	if err := s.Processor.Verify(ctx, tok.Token); err != nil {
		return billing.PaymentMethod{}, false, processorError("verify the card", err)
	}

	now := s.Clock.Now().UTC().Truncate(time.Microsecond) // what Postgres keeps
	pm := billing.PaymentMethod{
		ID:                 billing.NewID(billing.PrefixPaymentMethod),
		AccountID:          acct.ID,
		Status:             billing.PMPendingValidation,
		ProcessorToken:     tok.Token,
		Brand:              tok.Brand,
		Last4:              tok.Last4,
		ExpMonth:           tok.ExpMonth,
		ExpYear:            tok.ExpYear,
		HolderName:         strings.TrimSpace(in.Card.HolderName),
		EUSupported:        in.EUSupported,
		ContactEmail:       in.ContactEmail,
		BillingAddress:     addr,
		CreatedAt:          now,
		ValidationDeadline: now.Add(s.ValidationTimeout),
		Metadata:           in.Metadata,
	}
	pm.WorkflowID = workflows.CardValidationWorkflowID(pm.ID)
	if in.IdempotencyKey != "" {
		stored, created, err := s.DB.CreateIdempotentPaymentMethod(ctx, pm, key)
		if err != nil {
			return billing.PaymentMethod{}, false, err
		}
		if err := s.startValidation(ctx, acct, stored); err != nil {
			return billing.PaymentMethod{}, false, err
		}
		if created {
			s.logSubmitted(ctx, stored)
		}
		return stored, !created, nil
	}
	if err := s.DB.CreatePaymentMethod(ctx, pm); err != nil {
		return billing.PaymentMethod{}, false, err
	}
	if err := s.startValidation(ctx, acct, pm); err != nil {
		// Without its workflow nobody would ever decide the card, and without a key the
		// customer cannot ask for it again: take it back so they can simply try again.
		if derr := s.DB.DeletePendingPaymentMethod(context.WithoutCancel(ctx), pm.ID); derr != nil {
			s.log().ErrorContext(ctx, "card left pending without a workflow", "payment_method_id", pm.ID, "err", derr)
		}
		return billing.PaymentMethod{}, false, err
	}
	s.logSubmitted(ctx, pm)
	return pm, false, nil
}

// replayAdd answers a card addition sent again with its Idempotency-Key: the card the key
// added, as it now stands. A card still pending gets its workflow started, in case the first
// request stored it and then failed to start it (a no-op when it runs or has run).
func (s *Cards) replayAdd(ctx context.Context, acct billing.Account, rec, key postgres.IdempotencyRecord) (billing.PaymentMethod, bool, error) {
	if !rec.Matches(key) {
		return billing.PaymentMethod{}, false, postgres.IdempotencyKeyReused()
	}
	pm, err := s.DB.PaymentMethodByID(ctx, rec.PaymentMethodID)
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	if pm.Status == billing.PMPendingValidation {
		if err := s.startValidation(ctx, acct, pm); err != nil {
			return billing.PaymentMethod{}, false, err
		}
	}
	return pm, true, nil
}

func (s *Cards) logSubmitted(ctx context.Context, pm billing.PaymentMethod) {
	s.log().InfoContext(ctx, "card submitted for validation", "payment_method_id", pm.ID, "account_id", pm.AccountID,
		"brand", pm.Brand, "last4", pm.Last4, "workflow_id", pm.WorkflowID)
}

// requestHash fingerprints the card addition for its Idempotency-Key (see fingerprint); the
// card counts by the facts kept at rest only.
func (in NewCard) requestHash(secret []byte) []byte {
	return fingerprint(secret, struct {
		Card           *cardFacts       `json:"card"`
		Token          string           `json:"token,omitempty"` // absent before tokens: old fingerprints still match
		BillingAddress *billing.Address `json:"billing_address"` // nil: the company address
		ContactEmail   string           `json:"contact_email"`
		EUSupported    bool             `json:"eu_supported"`
	}{factsOf(in.Card), in.Token, in.BillingAddress, in.ContactEmail, in.EUSupported})
}

func (s *Cards) startValidation(ctx context.Context, acct billing.Account, pm billing.PaymentMethod) error {
	opts := client.StartWorkflowOptions{
		ID:        pm.WorkflowID,
		TaskQueue: s.TaskQueue,
		// A second start (a replayed card addition) joins the running workflow or is refused
		// once it has closed: one card, one workflow, one mail.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AccountIDKey.ValueSet(pm.AccountID),
			workflows.PaymentStatusKey.ValueSet(string(billing.PMPendingValidation)),
			workflows.PaymentMethodKindKey.ValueSet(string(billing.MethodCard)),
		),
		StaticSummary: fmt.Sprintf("Card %s ****%s for %s", pm.Brand, pm.Last4, pm.AccountID),
		StaticDetails: fmt.Sprintf("**Card validation**\n\n- Card: %s ending %s, expires %02d/%d\n- Account: %s (%s)\n"+
			"- Payment method: %s\n- Validation deadline: %s\n\nReps decide with the `%s` update (the API) or the `%s` signal "+
			"(by hand); `%s` query answers the status.",
			pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear, acct.ID, acct.CompanyName, pm.ID,
			pm.ValidationDeadline.Format(time.RFC3339), workflows.UpdateRepDecision, workflows.SignalRepDecision, workflows.QueryStatus),
	}
	in := workflows.CardValidationInput{
		PaymentMethodID: pm.ID,
		AccountID:       pm.AccountID,
		CompanyName:     acct.CompanyName,
		Brand:           pm.Brand,
		Last4:           pm.Last4,
		ContactEmail:    pm.ContactEmail,
		Language:        acct.MailLanguage,
		Deadline:        pm.ValidationDeadline,
		Timeout:         s.ValidationTimeout,
	}
	_, err := s.Temporal.ExecuteWorkflow(ctx, opts, workflows.TypeCardValidation, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &started) {
		return unavailable(fmt.Errorf("start %s: %w", pm.WorkflowID, err))
	}
	return nil
}

// List returns the account's cards, newest first.
func (s *Cards) List(ctx context.Context, accountID string, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return s.DB.PaymentMethods(ctx, accountID, p)
}

// Get returns one card of the account.
func (s *Cards) Get(ctx context.Context, accountID, id string) (billing.PaymentMethod, error) {
	return s.DB.PaymentMethod(ctx, accountID, id)
}

// Pending lists the cards waiting for a rep, oldest first.
func (s *Cards) Pending(ctx context.Context, p billing.ListParams) ([]billing.PaymentMethod, bool, error) {
	return s.DB.PendingPaymentMethods(ctx, p)
}

// Decide passes a rep's decision to the card's workflow and answers the card once the
// workflow has recorded the outcome.
//
// The decision travels as the rep-decision update, which the workflow takes exactly as it
// takes the rep-decision signal ops send by hand, so the API cannot decide differently from
// it. Its validator refuses a decision on a card already decided (or being decided), before
// anything enters the history: that rep gets 409 already_decided. An accepted decision is
// answered with the card's state once recorded; it names the decision that won, so when two
// reps click at once and both are accepted, each learns whether its own won (200) or lost
// (409). Once the workflow has closed, the card's row answers (409). A run from before the
// update refuses it as unknown and is sent the signal instead (decideBySignal).
//
// With an Idempotency-Key (scoped to the rep's API key), the key is recorded before the
// decision is sent (claimed), so of concurrent requests with one key only the first sends it;
// the others, and later retries, are its replays (replayDecision). A refusal (a 4xx) gives the
// key back, so its retry is refused the same way; after a 503 the key stays claimed.
func (s *Cards) Decide(ctx context.Context, repKeyID, pmID string, decision billing.Decision, reason, idempotencyKey string) (_ billing.PaymentMethod, replayed bool, err error) {
	if idempotencyKey == "" {
		pm, err := s.decide(ctx, repKeyID, pmID, decision, reason, billing.NewID("dec_"))
		return pm, false, err
	}
	pm, err := s.DB.PaymentMethodByID(ctx, pmID)
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	key := postgres.IdempotencyRecord{AccountID: pm.AccountID, RepKeyID: repKeyID, Key: idempotencyKey,
		Route: postgres.RouteDecidePaymentMethod, PaymentMethodID: pm.ID, RequestHash: fingerprint(s.RequestHashKey, struct {
			PaymentMethodID string           `json:"payment_method_id"`
			Decision        billing.Decision `json:"decision"`
			Reason          string           `json:"reason"`
		}{pm.ID, decision, reason})}
	rec, claimed, err := s.DB.RecordIdempotencyKey(ctx, key)
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	if !claimed {
		return s.replayDecision(ctx, rec, key, decision, reason)
	}
	decided, err := s.decide(ctx, repKeyID, pmID, decision, reason, keyedDecisionID(key))
	if err != nil {
		releaseIfRefused(ctx, s.DB, s.log(), key, err)
		return billing.PaymentMethod{}, false, err
	}
	return decided, false, nil
}

// replayDecision answers a decision sent again with its key: the card as it now stands, once
// the request that claimed the key has had its time (DecisionWait) to have it decided. A card
// still pending then is sent the decision again, as the same update (keyedDecisionID): if the
// first was accepted (its answer lost with the API that sent it, its recording waiting for a
// worker), Temporal answers the first's outcome; if it never reached the workflow, this one
// decides.
func (s *Cards) replayDecision(ctx context.Context, rec, key postgres.IdempotencyRecord, decision billing.Decision, reason string) (billing.PaymentMethod, bool, error) {
	if !rec.Matches(key) {
		return billing.PaymentMethod{}, false, postgres.IdempotencyKeyReused()
	}
	pm, err := awaitRow(ctx, rec, orDefault(s.DecisionWait, 10*time.Second),
		func(ctx context.Context) (billing.PaymentMethod, error) {
			return s.DB.PaymentMethodByID(ctx, rec.PaymentMethodID)
		},
		func(pm billing.PaymentMethod) bool { return pm.Status.Final() })
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	if pm.Status.Final() {
		return pm, true, nil
	}
	pm, err = s.decide(ctx, key.RepKeyID, rec.PaymentMethodID, decision, reason, keyedDecisionID(key))
	if isConflict(err, billing.CodeAlreadyDecided) {
		if cur, rerr := s.DB.PaymentMethodByID(ctx, rec.PaymentMethodID); rerr == nil && decidedAs(cur, key.RepKeyID, decision, reason) {
			pm, err = cur, nil // the claiming request got there first after all
		}
	}
	if err != nil {
		return billing.PaymentMethod{}, false, err
	}
	return pm, true, nil
}

// keyedDecisionID is the decision's ID, and its update's, when sent with an Idempotency-Key:
// the same for every retry with the key, so Temporal takes them as one update.
func keyedDecisionID(key postgres.IdempotencyRecord) string {
	sum := sha256.Sum256([]byte(key.RepKeyID + "\x00" + key.PaymentMethodID + "\x00" + key.Key))
	return "dec_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
}

// decidedAs reports whether the card is decided as the rep asked, by that rep.
func decidedAs(pm billing.PaymentMethod, repKeyID string, decision billing.Decision, reason string) bool {
	want := billing.PMRejected
	if decision == billing.DecisionApprove {
		want = billing.PMValidated
	}
	return pm.Status == want && pm.DecidedBy == repKeyID && pm.DecisionReason == reason
}

// decide sends the decision as the rep-decision update with decisionID, which is also the
// update's ID.
func (s *Cards) decide(ctx context.Context, repKeyID, pmID string, decision billing.Decision, reason, decisionID string) (billing.PaymentMethod, error) {
	pm, err := s.DB.PaymentMethodByID(ctx, pmID)
	if err != nil {
		return billing.PaymentMethod{}, err
	}
	if !s.Clock.Now().Before(pm.ValidationDeadline) {
		// The workflow's timer is about to expire it, if it has not already.
		return billing.PaymentMethod{}, billing.Conflict(billing.CodeAlreadyDecided,
			"the validation deadline of payment method %s has passed", pm.ID)
	}
	d := workflows.RepDecision{DecisionID: decisionID, Decision: decision, Reason: reason, RepID: repKeyID}
	s.log().InfoContext(ctx, "rep decision sent", "payment_method_id", pm.ID, "decision", string(decision),
		"rep_key_id", repKeyID, "decision_id", d.DecisionID)
	waitCtx, cancel := context.WithTimeout(ctx, orDefault(s.DecisionWait, 10*time.Second))
	defer cancel()
	var st workflows.CardValidationState
	err = updateAs(waitCtx, s.Temporal, pm.WorkflowID, d.DecisionID, workflows.UpdateRepDecision, d, &st)
	var gone *serviceerror.NotFound
	switch {
	case err == nil:
	case isUnknownUpdate(err):
		if st, err = s.decideBySignal(waitCtx, pm, d); err != nil {
			return billing.PaymentMethod{}, err
		}
	case refusedAs(err, workflows.ErrTypeAlreadyDecided):
		return billing.PaymentMethod{}, billing.Conflict(billing.CodeAlreadyDecided, "payment method %s: %s", pm.ID, refusal(err))
	case refusedAs(err, workflows.ErrTypeInvalidRequest):
		return billing.PaymentMethod{}, billing.Invalid(billing.CodeInvalidValue, "decision", "%s", refusal(err))
	case errors.As(err, &gone):
		return billing.PaymentMethod{}, s.ended(ctx, pm, err)
	case waitCtx.Err() != nil && ctx.Err() == nil:
		return billing.PaymentMethod{}, notRecordedYet(pm)
	default:
		return billing.PaymentMethod{}, unavailable(fmt.Errorf("%s update to %s: %w", workflows.UpdateRepDecision, pm.WorkflowID, err))
	}
	cur, err := s.DB.PaymentMethodByID(ctx, pm.ID)
	if err != nil {
		return billing.PaymentMethod{}, err
	}
	if st.DecisionID != d.DecisionID {
		return billing.PaymentMethod{}, alreadyDecided(cur)
	}
	return cur, nil
}

// decideBySignal decides a card whose workflow predates UpdateRepDecision, as the API did
// before it: the rep-decision signal, then a wait on the workflow's status query until the
// card is decided. Should the query fail (no worker to answer it), the recorded rep and status
// tell whether d won.
func (s *Cards) decideBySignal(ctx context.Context, pm billing.PaymentMethod, d workflows.RepDecision) (workflows.CardValidationState, error) {
	err := s.Temporal.SignalWorkflow(ctx, pm.WorkflowID, "", workflows.SignalRepDecision, d)
	var gone *serviceerror.NotFound
	if errors.As(err, &gone) {
		return workflows.CardValidationState{}, s.ended(ctx, pm, err)
	}
	if err != nil {
		return workflows.CardValidationState{}, unavailable(fmt.Errorf("signal %s to %s: %w", workflows.SignalRepDecision, pm.WorkflowID, err))
	}
	st, decided, err := awaitStatus(ctx, s.Temporal, pm.WorkflowID,
		func(st workflows.CardValidationState) bool { return st.Status != "" && st.Status.Final() })
	if decided {
		return st, nil
	}
	if err == nil {
		return st, notRecordedYet(pm)
	}
	s.log().WarnContext(ctx, "status query failed; judging the decision from the database", "workflow_id", pm.WorkflowID, "err", err)
	cur, rerr := s.DB.PaymentMethodByID(context.WithoutCancel(ctx), pm.ID)
	if rerr != nil {
		return st, rerr
	}
	if !cur.Status.Final() {
		return st, notRecordedYet(pm)
	}
	want := billing.PMRejected
	if d.Decision == billing.DecisionApprove {
		want = billing.PMValidated
	}
	st = workflows.CardValidationState{Status: cur.Status, Reason: cur.DecisionReason, DecidedBy: cur.DecidedBy}
	if cur.Status == want && cur.DecidedBy == d.RepID {
		st.DecisionID = d.DecisionID
	}
	return st, nil
}

// ended is the answer when the card's workflow has ended: the card should have its outcome.
func (s *Cards) ended(ctx context.Context, pm billing.PaymentMethod, cause error) error {
	cur, err := s.DB.PaymentMethodByID(ctx, pm.ID)
	if err != nil {
		return err
	}
	if cur.Status.Final() {
		return alreadyDecided(cur)
	}
	return fmt.Errorf("card %s is pending but its workflow %s has ended: %w", pm.ID, pm.WorkflowID, cause)
}

func notRecordedYet(pm billing.PaymentMethod) error {
	return billing.Errorf(billing.KindUnavailable, billing.CodeUnavailable,
		"the decision on %s was sent but is not recorded yet; read the card again shortly", pm.ID)
}

func alreadyDecided(pm billing.PaymentMethod) error {
	return billing.Conflict(billing.CodeAlreadyDecided, "payment method %s is already %s", pm.ID, pm.Status)
}

// cardToken is the processor's token for a card given either raw (tokenized here) or as a
// token made in the browser (redeemed: single-use tokens cannot serve twice).
func cardToken(ctx context.Context, p gateway.CardProcessor, raw *gateway.Card, token string, addr billing.Address) (gateway.TokenizedCard, error) {
	switch {
	case token != "" && raw != nil:
		return gateway.TokenizedCard{}, billing.Invalid(billing.CodeInvalidValue, gateway.ParamToken, "send either card or token, not both")
	case token != "":
		tok, err := p.RedeemToken(ctx, token)
		if err != nil {
			return gateway.TokenizedCard{}, processorError("redeem the card token", err)
		}
		return tok, nil
	case raw != nil:
		tok, err := p.Tokenize(ctx, *raw, addr)
		if err != nil {
			return gateway.TokenizedCard{}, processorError("tokenize the card", err)
		}
		return tok, nil
	}
	return gateway.TokenizedCard{}, billing.Invalid(billing.CodeMissingField, "card", "card or token is required to pay by card")
}

// processorError turns what the card processor said into what the caller sees: a decline
// is a 422 on the card number with the processor's code, a format problem keeps its own
// param, a transient failure is a 503 to retry later; anything else is internal.
func processorError(doing string, err error) error {
	if d, ok := gateway.AsDecline(err); ok {
		msg := d.Message
		if msg == "" {
			msg = "the card was declined"
		}
		return billing.Invalid(d.Code, gateway.ParamCardNumber, "%s", msg)
	}
	if e := billing.ErrorOf(err); e != nil {
		return e
	}
	if gateway.IsTransient(err) {
		return unavailable(fmt.Errorf("%s: %w", doing, err))
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// unavailableError is a 503 whose cause is logged, never shown.
type unavailableError struct {
	public *billing.Error
	cause  error
}

func (e unavailableError) Error() string   { return e.public.Error() + ": " + e.cause.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.public, e.cause} }

func unavailable(cause error) error {
	return unavailableError{
		public: billing.Errorf(billing.KindUnavailable, billing.CodeUnavailable, "a service PayPortal depends on is unavailable; retry shortly"),
		cause:  cause,
	}
}

func (s *Cards) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

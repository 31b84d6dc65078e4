package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/gateway"
)

// CardProcessor is the sandbox card processor.
type CardProcessor struct {
	faults
	pool  *pgxpool.Pool
	clock billing.Clock
	// publicURL prefixes the 3-D Secure challenge page's URL (WithPublicURL).
	publicURL string
}

var _ gateway.CardProcessor = (*CardProcessor)(nil)

// NewCardProcessor returns a card processor keeping its state in pool's database; clock
// decides which cards have expired.
func NewCardProcessor(pool *pgxpool.Pool, clock billing.Clock) *CardProcessor {
	return &CardProcessor{pool: pool, clock: clock}
}

// WithPublicURL sets where this server answers, e.g. "http://127.0.0.1:8080": the 3-D Secure
// challenge page's URL starts with it. It returns p.
func (p *CardProcessor) WithPublicURL(publicURL string) *CardProcessor {
	p.publicURL = strings.TrimRight(publicURL, "/")
	return p
}

// Tokenize validates the card and stores its token, public facts and sandbox behaviour;
// never the number or the CVC. Like real processors, it runs no address checks and never
// declines: a token is cheap, so calling it twice just makes two.
func (p *CardProcessor) Tokenize(ctx context.Context, card gateway.Card, _ billing.Address) (gateway.TokenizedCard, error) {
	if err := p.inject(OpTokenize, false); err != nil {
		return gateway.TokenizedCard{}, err
	}
	if err := gateway.ValidateCard(card, p.clock.Now()); err != nil {
		return gateway.TokenizedCard{}, fmt.Errorf("tokenize %v: %w", card, err)
	}
	tc := gateway.TokenizedCard{
		Token:    billing.NewID("tok_"),
		Brand:    card.Brand(),
		Last4:    card.Last4(),
		ExpMonth: card.ExpMonth,
		ExpYear:  card.ExpYear,
	}
	b := beginAsync()
	b.Queue(`
		INSERT INTO sandbox_cards (token, brand, last4, exp_month, exp_year, behaviour, redeemed_at)
		VALUES ($1, $2, $3, $4, $5, $6, now())`,
		tc.Token, tc.Brand, tc.Last4, tc.ExpMonth, tc.ExpYear, string(behaviourOf(card.Number)))
	b.Queue("COMMIT")
	if err := p.pool.SendBatch(ctx, b).Close(); err != nil {
		return gateway.TokenizedCard{}, fmt.Errorf("tokenize %v: store token: %w", card, err)
	}
	if err := p.inject(OpTokenize, true); err != nil {
		return gateway.TokenizedCard{}, err
	}
	return tc, nil
}

// Verify answers the card's decline, if its number declines, as a zero-amount check would.
func (p *CardProcessor) Verify(ctx context.Context, token string) error {
	if err := p.inject(OpVerify, false); err != nil {
		return err
	}
	c, err := p.card(ctx, token)
	if err != nil {
		return fmt.Errorf("verify %s: %w", token, err)
	}
	if code := c.behaviour.declinesOnVerify(); code != "" {
		return decline(code)
	}
	if gateway.Expired(c.expMonth, c.expYear, p.clock.Now()) {
		return decline(billing.CodeExpiredCard)
	}
	return p.inject(OpVerify, true)
}

// Authorize holds the amount on the card. Every call is counted per idempotency key (see
// Attempts), which is what lets the transient card fail its first two attempts of each
// charge; a key that already holds an authorization returns it.
func (p *CardProcessor) Authorize(ctx context.Context, req gateway.ChargeRequest) (string, error) {
	if err := p.inject(OpAuthorize, false); err != nil {
		return "", err
	}
	a, err := p.authorize(ctx, req, "")
	if err != nil {
		return "", fmt.Errorf("authorize %s for %s: %w", req.Amount, req.Token, err)
	}
	if err := p.inject(OpAuthorize, true); err != nil {
		return "", err
	}
	return a.ID, nil
}

// AuthorizeOnSession is Authorize with the cardholder present: a card that wants 3-D Secure
// makes an authorization waiting for the challenge page (ChallengePath) instead of declining.
func (p *CardProcessor) AuthorizeOnSession(ctx context.Context, req gateway.ChargeRequest, returnURL string) (gateway.Authorization, error) {
	if err := p.inject(OpAuthorize, false); err != nil {
		return gateway.Authorization{}, err
	}
	if strings.TrimSpace(returnURL) == "" {
		return gateway.Authorization{}, fmt.Errorf("%w: a return URL is required on session", gateway.ErrInvalidRequest)
	}
	a, err := p.authorize(ctx, req, returnURL)
	if err != nil {
		return gateway.Authorization{}, fmt.Errorf("authorize %s for %s on session: %w", req.Amount, req.Token, err)
	}
	if err := p.inject(OpAuthorize, true); err != nil {
		return gateway.Authorization{}, err
	}
	return a, nil
}

// authorize holds the money, or with a returnURL and a card that wants 3-D Secure, makes the
// authorization wait for the challenge.
func (p *CardProcessor) authorize(ctx context.Context, req gateway.ChargeRequest, returnURL string) (gateway.Authorization, error) {
	if err := checkKey(req.IdempotencyKey); err != nil {
		return gateway.Authorization{}, err
	}
	if err := checkMoney(req.Amount); err != nil {
		return gateway.Authorization{}, err
	}
	// One round trip: count the attempt, find what the key already made, read the card. The
	// count commits in its own transaction ahead of the reads, so a failed attempt still
	// counts; the reads' answers are checked in the order they used to be made. A failed count
	// leaves its transaction open, and the pool closes such a connection.
	var attempts int
	var prior gateway.Authorization
	var priorFound bool
	var priorErr, cardErr error
	var c cardRow
	b := beginAsync()
	b.Queue(`
		INSERT INTO sandbox_charge_attempts (idempotency_key, attempts) VALUES ($1, 1)
		ON CONFLICT (idempotency_key)
		DO UPDATE SET attempts = sandbox_charge_attempts.attempts + 1, updated_at = now()
		RETURNING attempts`, req.IdempotencyKey).QueryRow(func(row pgx.Row) error { return row.Scan(&attempts) })
	b.Queue("COMMIT")
	b.Queue(authorizationByKeySQL, req.IdempotencyKey).QueryRow(func(row pgx.Row) error {
		prior, priorFound, priorErr = p.scanAuthorizationByKey(row, req)
		return nil
	})
	b.Queue(cardSQL, req.Token).QueryRow(func(row pgx.Row) error {
		c, cardErr = scanCard(row)
		return nil
	})
	if err := p.pool.SendBatch(ctx, b).Close(); err != nil {
		return gateway.Authorization{}, fmt.Errorf("count attempt: %w", err)
	}
	if priorErr != nil || priorFound {
		return prior, priorErr
	}
	if cardErr != nil {
		return gateway.Authorization{}, cardErr
	}

	if code := c.behaviour.declinesOnAuthorize(); code != "" {
		return gateway.Authorization{}, decline(code)
	}
	if gateway.Expired(c.expMonth, c.expYear, p.clock.Now()) {
		return gateway.Authorization{}, decline(billing.CodeExpiredCard)
	}
	if attempts <= c.behaviour.transientAttempts() {
		return gateway.Authorization{}, &gateway.TransientError{Code: billing.CodeProcessingError,
			Message: fmt.Sprintf("sandbox processing error on attempt %d", attempts)}
	}
	status := "authorized"
	if c.behaviour == behaviourAuthenticate {
		if returnURL == "" {
			return gateway.Authorization{}, &gateway.Decline{Code: gateway.CodeAuthenticationRequired,
				Message: "The card requires authentication."}
		}
		status = "requires_action"
	}

	var id string
	var insertErr error
	b = beginAsync()
	b.Queue(`
		INSERT INTO sandbox_authorizations (id, idempotency_key, token, amount, currency, description, status, return_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING id`,
		billing.NewID("auth_"), req.IdempotencyKey, req.Token, req.Amount.Amount, req.Amount.Currency, req.Description,
		status, returnURL,
	).QueryRow(func(row pgx.Row) error {
		insertErr = row.Scan(&id)
		return nil
	})
	b.Queue("COMMIT")
	err := p.pool.SendBatch(ctx, b).Close()
	if err == nil {
		err = insertErr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		// A concurrent call with the same key won; answer with its authorization.
		a, _, err := p.authorizationByKey(ctx, req)
		return a, err
	}
	if err != nil {
		return gateway.Authorization{}, fmt.Errorf("store authorization: %w", err)
	}
	return p.authorization(id, status), nil
}

// authorization is what an authorize call answers for the authorization id in status.
func (p *CardProcessor) authorization(id, status string) gateway.Authorization {
	a := gateway.Authorization{ID: id}
	if status == "requires_action" {
		a.RedirectURL = p.publicURL + ChallengePath + "?authorization=" + url.QueryEscape(id)
	}
	return a
}

const authorizationByKeySQL = `
	SELECT id, token, amount, currency, status FROM sandbox_authorizations WHERE idempotency_key = $1`

// authorizationByKey finds the authorization an idempotency key already made, refusing a
// key reused for another charge.
func (p *CardProcessor) authorizationByKey(ctx context.Context, req gateway.ChargeRequest) (gateway.Authorization, bool, error) {
	return p.scanAuthorizationByKey(p.pool.QueryRow(ctx, authorizationByKeySQL, req.IdempotencyKey), req)
}

// scanAuthorizationByKey reads the row of authorizationByKeySQL for req.
func (p *CardProcessor) scanAuthorizationByKey(row pgx.Row, req gateway.ChargeRequest) (gateway.Authorization, bool, error) {
	var id, token, currency, status string
	var amount int64
	err := row.Scan(&id, &token, &amount, &currency, &status)
	if errors.Is(err, pgx.ErrNoRows) {
		return gateway.Authorization{}, false, nil
	}
	if err != nil {
		return gateway.Authorization{}, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	if token != req.Token || amount != req.Amount.Amount || currency != req.Amount.Currency {
		return gateway.Authorization{}, true, fmt.Errorf("%w: idempotency key %q was used for another charge", gateway.ErrInvalidState, req.IdempotencyKey)
	}
	return p.authorization(id, status), true, nil
}

// Capture moves the authorized money; an authorization has at most one capture, and the
// same key returns it again.
func (p *CardProcessor) Capture(ctx context.Context, authorizationID string, amount billing.Money, idempotencyKey string) (string, error) {
	if err := p.inject(OpCapture, false); err != nil {
		return "", err
	}
	id, err := p.capture(ctx, authorizationID, amount, idempotencyKey)
	if err != nil {
		return "", fmt.Errorf("capture %s of %s: %w", amount, authorizationID, err)
	}
	if err := p.inject(OpCapture, true); err != nil {
		return "", err
	}
	return id, nil
}

func (p *CardProcessor) capture(ctx context.Context, authorizationID string, amount billing.Money, key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	if err := checkMoney(amount); err != nil {
		return "", err
	}
	return onConn(ctx, p.pool, func(conn *pgxpool.Conn) (string, error) {
		id, err := captureAtOnce(ctx, conn, authorizationID, amount, key)
		if err != nil || id != "" {
			return id, err
		}
		return captureChecked(ctx, conn, authorizationID, amount, key)
	})
}

// onConn runs fn on a connection of pool. What did not commit is rolled back (a repeat or
// refusal wrote nothing); should that fail, the pool closes a connection given back inside a
// transaction.
func onConn(ctx context.Context, pool *pgxpool.Pool, fn func(*pgxpool.Conn) (string, error)) (string, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Release()
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
	}()
	return fn(conn)
}

// captureAtOnce is the one round trip of a capture whose every condition holds: a single
// statement captures an authorized authorization in the currency for at most its amount,
// under a key never used. It answers "" when it captured nothing, leaving the answer to
// captureChecked: a refusal, a repeat, a key used for another authorization (the unique
// violation), a concurrent capture (whose lock it waited for; the row, re-read, is no longer
// authorized).
func captureAtOnce(ctx context.Context, conn *pgxpool.Conn, authorizationID string, amount billing.Money, key string) (string, error) {
	var id string
	b := beginAsync()
	b.Queue(`
		WITH held AS (
			UPDATE sandbox_authorizations SET status = 'captured'
			WHERE id = $1 AND status = 'authorized' AND currency = $2 AND amount >= $3
			RETURNING id, currency)
		INSERT INTO sandbox_captures (id, authorization_id, idempotency_key, amount, currency)
		SELECT $4, id, $5, $3, currency FROM held
		RETURNING id`,
		authorizationID, amount.Currency, amount.Amount, billing.NewID("cap_"), key,
	).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&id); !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	})
	b.Queue("COMMIT")
	err := conn.SendBatch(ctx, b).Close()
	if isUniqueViolation(err) {
		// The failed statement left its transaction aborted.
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			return "", fmt.Errorf("roll back capture: %w", err)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store capture: %w", err)
	}
	return id, nil
}

// captureChecked answers what captureAtOnce did not, in two round trips, the transaction
// spanning both: BEGIN is sent with the lock and COMMIT with the writes.
func captureChecked(ctx context.Context, conn *pgxpool.Conn, authorizationID string, amount billing.Money, key string) (string, error) {
	// Lock the authorization, then look up the key. A concurrent call with the same key waits
	// on the lock; the lookup is a statement of its own, starting once the lock is granted,
	// so it finds the capture that call committed.
	var authorized int64
	var currency, status string
	var prior struct {
		id, authorizationID string
		amount              int64
	}
	var lockErr, priorErr error
	b := beginAsync()
	b.Queue(`SELECT amount, currency, status FROM sandbox_authorizations WHERE id = $1 FOR UPDATE`,
		authorizationID).QueryRow(func(row pgx.Row) error {
		lockErr = row.Scan(&authorized, &currency, &status)
		return nil
	})
	b.Queue(`SELECT id, authorization_id, amount FROM sandbox_captures WHERE idempotency_key = $1`,
		key).QueryRow(func(row pgx.Row) error {
		priorErr = row.Scan(&prior.id, &prior.authorizationID, &prior.amount)
		return nil
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("lock authorization: %w", err)
	}

	switch {
	case errors.Is(lockErr, pgx.ErrNoRows):
		return "", fmt.Errorf("authorization: %w", gateway.ErrNotFound)
	case lockErr != nil:
		return "", fmt.Errorf("lock authorization: %w", lockErr)
	case priorErr == nil:
		if prior.authorizationID != authorizationID || prior.amount != amount.Amount {
			return "", fmt.Errorf("%w: idempotency key %q was used for another capture", gateway.ErrInvalidState, key)
		}
		return prior.id, nil
	case !errors.Is(priorErr, pgx.ErrNoRows):
		return "", fmt.Errorf("look up idempotency key: %w", priorErr)
	case status == "voided":
		return "", fmt.Errorf("%w: the authorization was voided", gateway.ErrInvalidState)
	case status == "requires_action", status == "authentication_failed":
		return "", fmt.Errorf("%w: the cardholder has not authenticated the charge", gateway.ErrInvalidState)
	case status == "captured":
		return "", fmt.Errorf("%w: the authorization was already captured", gateway.ErrInvalidState)
	case amount.Currency != currency:
		return "", fmt.Errorf("%w: the authorization is in %s", gateway.ErrInvalidRequest, currency)
	case amount.Amount > authorized:
		return "", fmt.Errorf("%w: only %d was authorized", gateway.ErrInvalidRequest, authorized)
	}

	captureID := billing.NewID("cap_")
	b = &pgx.Batch{}
	b.Queue(`
		INSERT INTO sandbox_captures (id, authorization_id, idempotency_key, amount, currency)
		VALUES ($1, $2, $3, $4, $5)`,
		captureID, authorizationID, key, amount.Amount, amount.Currency)
	b.Queue(`UPDATE sandbox_authorizations SET status = 'captured' WHERE id = $1`, authorizationID)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		if isUniqueViolation(err) {
			return "", fmt.Errorf("%w: idempotency key %q was used for another capture", gateway.ErrInvalidState, key)
		}
		return "", fmt.Errorf("store capture: %w", err)
	}
	return captureID, nil
}

// Void releases an authorization. Voiding is naturally idempotent, so the key is not
// needed to recognise a repeat: voiding a voided authorization succeeds.
func (p *CardProcessor) Void(ctx context.Context, authorizationID, idempotencyKey string) error {
	if err := p.inject(OpVoid, false); err != nil {
		return err
	}
	if err := p.void(ctx, authorizationID); err != nil {
		return fmt.Errorf("void %s: %w", authorizationID, err)
	}
	return p.inject(OpVoid, true)
}

func (p *CardProcessor) void(ctx context.Context, authorizationID string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM sandbox_authorizations WHERE id = $1 FOR UPDATE`,
			authorizationID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("authorization: %w", gateway.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("lock authorization: %w", err)
		}
		switch status {
		case "voided":
			return nil
		case "captured":
			return fmt.Errorf("%w: the authorization was captured; refund it instead", gateway.ErrInvalidState)
		}
		_, err = tx.Exec(ctx, `UPDATE sandbox_authorizations SET status = 'voided', voided_at = now() WHERE id = $1`, authorizationID)
		return err
	})
}

// Refund gives back part or all of a capture; refunds never exceed what was captured, and
// the same key returns the same refund.
func (p *CardProcessor) Refund(ctx context.Context, captureID string, amount billing.Money, idempotencyKey string) (string, error) {
	if err := p.inject(OpRefund, false); err != nil {
		return "", err
	}
	id, err := refund(ctx, p.pool, cardRefunds, captureID, amount, idempotencyKey, billing.NewID("re_"))
	if err != nil {
		return "", fmt.Errorf("refund %s of %s: %w", amount, captureID, err)
	}
	if err := p.inject(OpRefund, true); err != nil {
		return "", err
	}
	return id, nil
}

// cardRow is what the sandbox knows of a token.
type cardRow struct {
	behaviour         behaviour
	expMonth, expYear int
}

// beginAsync starts a batch with a transaction whose COMMIT does not wait for the WAL to reach
// the disk. The sandbox stands in for a processor across the network, not for the books, and
// a payment's steps commit one after another: since the WAL is written in order, the books' next
// (synchronous) commit makes every sandbox write before it durable too. A crash of Postgres
// loses at most sandbox writes that no booking followed yet, which the saga's retried step
// makes again. Changes are visible to others at COMMIT as usual.
func beginAsync() *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	return b
}

const cardSQL = `SELECT behaviour, exp_month, exp_year FROM sandbox_cards WHERE token = $1`

func (p *CardProcessor) card(ctx context.Context, token string) (cardRow, error) {
	return scanCard(p.pool.QueryRow(ctx, cardSQL, token))
}

// scanCard reads the row of cardSQL; no row is ErrNotFound.
func scanCard(row pgx.Row) (cardRow, error) {
	var c cardRow
	var b string
	err := row.Scan(&b, &c.expMonth, &c.expYear)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("card token: %w", gateway.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("look up card token: %w", err)
	}
	c.behaviour = behaviour(b)
	return c, nil
}

// Authorization is the sandbox's record of an authorization, for tests and ops.
type Authorization struct {
	ID        string
	Token     string
	Amount    billing.Money
	Status    string // requires_action, authentication_failed, authorized, captured or voided
	CaptureID string // "" until captured
	CreatedAt time.Time
}

// Authorization returns what the sandbox holds for id.
func (p *CardProcessor) Authorization(ctx context.Context, id string) (Authorization, error) {
	a := Authorization{ID: id}
	var captureID *string
	err := p.pool.QueryRow(ctx, `
		SELECT a.token, a.amount, a.currency, a.status, c.id, a.created_at
		FROM sandbox_authorizations a LEFT JOIN sandbox_captures c ON c.authorization_id = a.id
		WHERE a.id = $1`, id).Scan(&a.Token, &a.Amount.Amount, &a.Amount.Currency, &a.Status, &captureID, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("authorization %s: %w", id, gateway.ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("authorization %s: %w", id, err)
	}
	if captureID != nil {
		a.CaptureID = *captureID
	}
	return a, nil
}

// Attempts counts the Authorize calls made with idempotencyKey, replays included: a
// declined charge shows 1 when nobody retried it.
func (p *CardProcessor) Attempts(ctx context.Context, idempotencyKey string) (int, error) {
	return count(ctx, p.pool, `SELECT COALESCE(max(attempts), 0) FROM sandbox_charge_attempts WHERE idempotency_key = $1`, idempotencyKey)
}

// Captures counts the captures of an authorization: 0 or 1.
func (p *CardProcessor) Captures(ctx context.Context, authorizationID string) (int, error) {
	return count(ctx, p.pool, `SELECT count(*) FROM sandbox_captures WHERE authorization_id = $1`, authorizationID)
}

// Refunds counts the refunds of a capture.
func (p *CardProcessor) Refunds(ctx context.Context, captureID string) (int, error) {
	return count(ctx, p.pool, `SELECT count(*) FROM sandbox_refunds WHERE capture_id = $1`, captureID)
}

// Stats are totals over everything the sandbox card processor ever did in this database.
type Stats struct {
	Cards, Authorizations, Captures, Voids, Refunds int
	CapturedAmount, RefundedAmount                  int64 // summed across currencies: for tests that use one
}

// Stats totals the sandbox's records; a crash test on its own database can check that a
// payment was captured exactly once.
func (p *CardProcessor) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	err := p.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM sandbox_cards),
		       (SELECT count(*) FROM sandbox_authorizations),
		       (SELECT count(*) FROM sandbox_captures),
		       (SELECT count(*) FROM sandbox_authorizations WHERE status = 'voided'),
		       (SELECT count(*) FROM sandbox_refunds),
		       (SELECT COALESCE(sum(amount), 0) FROM sandbox_captures),
		       (SELECT COALESCE(sum(amount), 0) FROM sandbox_refunds)`).
		Scan(&s.Cards, &s.Authorizations, &s.Captures, &s.Voids, &s.Refunds, &s.CapturedAmount, &s.RefundedAmount)
	if err != nil {
		return s, fmt.Errorf("sandbox stats: %w", err)
	}
	return s, nil
}

func count(ctx context.Context, q querier, sql string, arg any) (int, error) {
	var n int
	if err := q.QueryRow(ctx, sql, arg).Scan(&n); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

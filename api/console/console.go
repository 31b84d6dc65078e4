// Package console is the rep console at /rep: server-rendered pages (html/template, embedded,
// no script) over the same services as the HTTP API. A rep signs in with their rep key and
// gets a session cookie; the session lives in Postgres (its id hashed) and is checked on
// every request, with the rep's key, so a disabled rep is signed out at once. Every form
// carries the session's CSRF token (the sign-in form a cookie's), and a POST without it is
// refused with 403.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/i18n"
	"github.com/payportal/payportal/internal/postgres"
)

// Decider passes a rep's decision to the card's workflow: portal.Cards, as the API's
// decision route does.
type Decider interface {
	Decide(ctx context.Context, repKeyID, pmID string, decision billing.Decision, reason, idempotencyKey string) (billing.PaymentMethod, bool, error)
}

// Console serves the pages under /rep.
type Console struct {
	DB    *postgres.DB
	Cards Decider
	// Refunds makes reps' refunds and credits: portal.Refunds, as the API's rep routes do.
	Refunds Refunder
	Clock   billing.Clock
	// Secure marks the cookies Secure: everywhere but development (plain http on localhost).
	Secure bool
	// TemporalUI is the Temporal Web UI's base URL and namespace, for the links to workflows.
	TemporalUI        string
	TemporalNamespace string
	SessionLifetime   time.Duration // 8 h when zero
	Logger            *slog.Logger

	pages    *template.Template
	static   http.Handler
	lifetime time.Duration // SessionLifetime or its default
}

const (
	sessionCookie = "payportal_rep_session"
	signInCookie  = "payportal_rep_signin" // the sign-in form's CSRF token, before any session
	langCookie    = "payportal_rep_lang"
	csrfField     = "csrf_token"
	// Prefix is where the console lives.
	Prefix = "/rep"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Handler builds the console's routes, all under Prefix.
func (c *Console) Handler() http.Handler {
	if c.Clock == nil {
		c.Clock = billing.SystemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.lifetime = c.SessionLifetime
	if c.lifetime <= 0 {
		c.lifetime = 8 * time.Hour
	}
	c.pages = template.Must(template.New("").Funcs(template.FuncMap{
		"t": func(lang, key string) string { return text(lang, key) },
	}).ParseFS(templateFS, "templates/*.html"))
	sub, _ := fs.Sub(staticFS, "static")
	c.static = http.StripPrefix(Prefix+"/static/", http.FileServer(http.FS(sub)))

	mux := http.NewServeMux()
	mux.Handle("GET "+Prefix+"/static/", c.static)
	mux.HandleFunc("GET "+Prefix+"/sign-in", c.signInPage)
	mux.HandleFunc("POST "+Prefix+"/sign-in", c.signIn)
	mux.HandleFunc("GET "+Prefix, c.withSession(c.queue))
	mux.HandleFunc("GET "+Prefix+"/{$}", c.withSession(c.queue))
	mux.HandleFunc("GET "+Prefix+"/decisions", c.withSession(c.decisions))
	mux.HandleFunc("POST "+Prefix+"/cards/{pm_id}/decision", c.withSession(c.decide))
	mux.HandleFunc("GET "+Prefix+"/accounts/{account_id}", c.withSession(c.account))
	mux.HandleFunc("POST "+Prefix+"/payments/{payment_id}/refund", c.withSession(c.refund))
	mux.HandleFunc("POST "+Prefix+"/accounts/{account_id}/credit", c.withSession(c.credit))
	mux.HandleFunc("POST "+Prefix+"/sign-out", c.withSession(c.signOut))
	return securePage(mux)
}

// securePage sets the console's headers: a strict Content-Security-Policy (own origin only,
// no inline script or style), no framing, no caching of per-rep pages.
func securePage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, Prefix+"/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

type sessionKey struct{}

var errNoSession = errors.New("no session cookie")

type session struct {
	postgres.RepSession
	id string
}

// withSession lets through a request of a signed-in rep (and, for a POST, only with the
// session's CSRF token); without a session a page sends the browser to sign in, a POST is
// refused.
func (c *Console) withSession(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var s session
		err := errNoSession
		if ck, cerr := r.Cookie(sessionCookie); cerr == nil && ck.Value != "" && len(ck.Value) <= 200 {
			s.id = ck.Value
			s.RepSession, err = c.DB.RepSessionByID(r.Context(), ck.Value, c.Clock.Now())
		}
		if err != nil && !errors.Is(err, errNoSession) && billing.KindOf(err) == billing.KindInternal {
			c.fail(w, r, err)
			return
		}
		if err != nil {
			if r.Method == http.MethodPost {
				c.forbidden(w, r, "signed_out")
				return
			}
			http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue(csrfField), s.CSRFToken) {
			c.forbidden(w, r, "bad_csrf")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	}
}

func sessionOf(r *http.Request) session { s, _ := r.Context().Value(sessionKey{}).(session); return s }

func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// page is what every template gets.
type page struct {
	Lang      string
	Rep       string // the signed-in rep's name; "" on the sign-in page
	CSRF      string
	Path      string // for the language switch
	Title     string
	Error     string
	Notice    string
	Data      any
	OtherLang string
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	p.Lang = language(r)
	p.OtherLang = "fr"
	if p.Lang == "fr" {
		p.OtherLang = "en"
	}
	p.Path = r.URL.Path
	if s := sessionOf(r); s.KeyID != "" {
		p.Rep, p.CSRF = s.Name, s.CSRFToken
	}
	p.Title = text(p.Lang, p.Title)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", p.Lang)
	w.WriteHeader(status)
	if err := c.pages.ExecuteTemplate(w, name, p); err != nil {
		c.Logger.ErrorContext(r.Context(), "render console page", "page", name, "err", err)
	}
}

// language is the rep's choice (?lang=, kept in a cookie), else the browser's
// Accept-Language.
func language(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "fr" {
		return l
	}
	if ck, err := r.Cookie(langCookie); err == nil && (ck.Value == "en" || ck.Value == "fr") {
		return ck.Value
	}
	return i18n.Lang(r.Header.Get("Accept-Language"))
}

// rememberLanguage keeps a ?lang= choice for the next pages.
func (c *Console) rememberLanguage(w http.ResponseWriter, r *http.Request) {
	if l := r.URL.Query().Get("lang"); l == "en" || l == "fr" {
		c.setCookie(w, langCookie, l, 365*24*time.Hour)
	}
}

// setCookie sets one of the console's cookies: HttpOnly, SameSite=Strict, under /rep, Secure
// except in development (plain http on localhost), for maxAge (negative: delete it).
func (c *Console) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: -1, HttpOnly: true, Secure: c.Secure, //nolint:gosec // Secure is off in development only
		SameSite: http.SameSiteStrictMode}
	if maxAge > 0 {
		ck.MaxAge, ck.Expires = int(maxAge/time.Second), c.Clock.Now().Add(maxAge)
	}
	http.SetCookie(w, ck)
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	c.render(w, r, http.StatusForbidden, "error.html", page{Title: "forbidden", Error: msg})
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	c.Logger.ErrorContext(r.Context(), "rep console", "path", r.URL.Path, "err", err)
	c.render(w, r, http.StatusInternalServerError, "error.html", page{Title: "error", Error: "internal"})
}

// signInPage shows the key form with a fresh CSRF token, kept in a short-lived cookie until
// the form comes back.
func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.rememberLanguage(w, r)
	token := randomToken()
	c.setCookie(w, signInCookie, token, time.Hour)
	c.render(w, r, http.StatusOK, "sign-in.html", page{Title: "sign_in", CSRF: token})
}

// signIn trades a rep key for a session. A customer key is refused (403), any other key is
// unknown (401); neither says more.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(signInCookie)
	if err != nil || !sameToken(r.PostFormValue(csrfField), ck.Value) {
		c.forbidden(w, r, "bad_csrf")
		return
	}
	key := strings.TrimSpace(r.PostFormValue("key"))
	again := func(status int, msg string) {
		token := randomToken()
		c.setCookie(w, signInCookie, token, time.Hour)
		c.render(w, r, status, "sign-in.html", page{Title: "sign_in", CSRF: token, Error: msg})
	}
	if key == "" || len(key) > 200 {
		again(http.StatusUnauthorized, "bad_key")
		return
	}
	caller, err := c.DB.CallerByAPIKey(r.Context(), key)
	switch {
	case billing.KindOf(err) == billing.KindUnauthenticated:
		again(http.StatusUnauthorized, "bad_key")
		return
	case err != nil:
		c.fail(w, r, err)
		return
	case !caller.Rep:
		again(http.StatusForbidden, "not_a_rep")
		return
	}
	id := randomToken()
	s := postgres.RepSession{KeyID: caller.KeyID, CSRFToken: randomToken(), ExpiresAt: c.Clock.Now().Add(c.lifetime)}
	if err := c.DB.CreateRepSession(r.Context(), id, s); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, signInCookie, "", -1)
	c.setCookie(w, sessionCookie, id, c.lifetime)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if err := c.DB.DeleteRepSession(r.Context(), sessionOf(r).id, c.Clock.Now()); err != nil {
		c.fail(w, r, err)
		return
	}
	c.setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/sign-in", http.StatusSeeOther)
}

// queueCard is one card waiting, with what the rep needs to know about its account.
type queueCard struct {
	Card        billing.PaymentMethod
	TimeLeft    string
	Account     billing.Account
	Balance     string
	EarlierCard []billing.PaymentMethod
	Payments    []paymentRow
	WorkflowURL string
	Error       string // the decision form's complaint (a reason missing)
	Reason      string
	Decided     *billing.PaymentMethod // set when someone else decided it meanwhile
}

type paymentRow struct {
	billing.Payment
	Amount      string
	WorkflowURL string
}

type queueData struct {
	Cards []queueCard
	Lang  string
}

func (c *Console) queue(w http.ResponseWriter, r *http.Request) {
	c.rememberLanguage(w, r)
	notice := ""
	if r.URL.Query().Get("decided") != "" {
		notice = "decision_recorded"
	}
	c.showQueue(w, r, http.StatusOK, nil, notice)
}

// showQueue renders the queue; focus, when set, is the card a decision form was posted for,
// with its error or the decision that came first.
func (c *Console) showQueue(w http.ResponseWriter, r *http.Request, status int, focus *queueCard, notice string) {
	ctx := r.Context()
	lang := language(r)
	pending, _, err := c.DB.PendingPaymentMethods(ctx, billing.ListParams{Limit: 50})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	data := queueData{Lang: lang}
	if focus != nil && focus.Decided != nil {
		data.Cards = append(data.Cards, *focus)
	}
	now := c.Clock.Now()
	for _, pm := range pending {
		qc, err := c.queueCard(ctx, lang, pm, now)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if focus != nil && focus.Card.ID == pm.ID {
			qc.Error, qc.Reason = focus.Error, focus.Reason
		}
		data.Cards = append(data.Cards, qc)
	}
	c.render(w, r, status, "queue.html", page{Title: "queue", Data: data, Notice: notice})
}

func (c *Console) queueCard(ctx context.Context, lang string, pm billing.PaymentMethod, now time.Time) (queueCard, error) {
	qc := queueCard{Card: pm, TimeLeft: timeLeft(lang, pm.ValidationDeadline.Sub(now)), WorkflowURL: c.workflowURL(pm.WorkflowID)}
	var err error
	if qc.Account, err = c.DB.Account(ctx, pm.AccountID); err != nil {
		return qc, err
	}
	bal, err := c.DB.Balance(ctx, pm.AccountID)
	if err != nil {
		return qc, err
	}
	qc.Balance = i18n.FormatMoney(lang, billing.Money{Amount: bal, Currency: qc.Account.Currency})
	cards, _, err := c.DB.PaymentMethods(ctx, pm.AccountID, billing.ListParams{Limit: 10})
	if err != nil {
		return qc, err
	}
	for _, other := range cards {
		if other.ID != pm.ID {
			qc.EarlierCard = append(qc.EarlierCard, other)
		}
	}
	pays, _, err := c.DB.Payments(ctx, pm.AccountID, billing.ListParams{Limit: 10})
	if err != nil {
		return qc, err
	}
	for _, p := range pays {
		qc.Payments = append(qc.Payments, paymentRow{Payment: p, Amount: i18n.FormatMoney(lang, p.Amount), WorkflowURL: c.workflowURL(p.WorkflowID)})
	}
	return qc, nil
}

// timeLeft says how long until the card expires undecided, to the minute.
func timeLeft(lang string, d time.Duration) string {
	if d <= 0 {
		return text(lang, "expired_now")
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf(text(lang, "time_left"), int(d.Hours()), int(d.Minutes())%60)
}

func (c *Console) workflowURL(id string) string {
	if c.TemporalUI == "" || id == "" {
		return ""
	}
	ns := c.TemporalNamespace
	if ns == "" {
		ns = "default"
	}
	return strings.TrimRight(c.TemporalUI, "/") + "/namespaces/" + url.PathEscape(ns) + "/workflows/" + url.PathEscape(id)
}

// decide takes the approve or reject form: a reason is required. The decision goes through
// the API's path (Cards.Decide: the workflow's rep-decision update), so the workflow decides
// a card once; a card someone else decided meanwhile is shown as they decided it.
func (c *Console) decide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := language(r)
	pmID := r.PathValue("pm_id")
	if !billing.HasPrefix(pmID, billing.PrefixPaymentMethod) {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "not_found"})
		return
	}
	pm, err := c.DB.PaymentMethodByID(ctx, pmID)
	if billing.KindOf(err) == billing.KindNotFound {
		c.render(w, r, http.StatusNotFound, "error.html", page{Title: "error", Error: "not_found"})
		return
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	decision := billing.Decision(r.PostFormValue("decision"))
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	focus := queueCard{Card: pm, Reason: reason}
	switch {
	case decision != billing.DecisionApprove && decision != billing.DecisionReject:
		focus.Error = "bad_decision"
	case reason == "":
		focus.Error = "reason_required"
	case len(reason) > 500:
		focus.Error = "reason_too_long"
	}
	if focus.Error != "" {
		c.showQueue(w, r, http.StatusUnprocessableEntity, &focus, "")
		return
	}
	decided, _, err := c.Cards.Decide(ctx, sessionOf(r).KeyID, pm.ID, decision, reason, "")
	if e := billing.ErrorOf(err); e != nil && e.Kind == billing.KindConflict {
		cur, rerr := c.DB.PaymentMethodByID(ctx, pm.ID)
		if rerr != nil {
			c.fail(w, r, rerr)
			return
		}
		if !cur.Status.Final() {
			// Refused because its deadline passed; the workflow is about to expire it.
			focus.Error = "expired_now"
			c.showQueue(w, r, http.StatusConflict, &focus, "")
			return
		}
		done, qerr := c.queueCard(ctx, lang, cur, c.Clock.Now())
		if qerr != nil {
			c.fail(w, r, qerr)
			return
		}
		done.Decided = &cur
		c.showQueue(w, r, http.StatusConflict, &done, "already_decided")
		return
	}
	if e := billing.ErrorOf(err); e != nil && e.Kind == billing.KindInvalid {
		focus.Error = "bad_decision"
		c.showQueue(w, r, http.StatusUnprocessableEntity, &focus, "")
		return
	}
	if err != nil {
		if billing.KindOf(err) == billing.KindUnavailable {
			c.render(w, r, http.StatusServiceUnavailable, "error.html", page{Title: "error", Error: "unavailable"})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.Logger.InfoContext(ctx, "rep decided in the console", "payment_method_id", decided.ID, "status", string(decided.Status),
		"rep_key_id", sessionOf(r).KeyID)
	http.Redirect(w, r, Prefix+"?decided="+url.QueryEscape(decided.ID), http.StatusSeeOther)
}

type decisionsData struct {
	Reps    []postgres.Rep
	Rep     string
	Outcome string
	Rows    []decisionRow
}

type decisionRow struct {
	billing.PaymentMethod
	DecidedAt   string
	WorkflowURL string
}

// decisions is the history of decisions, newest first, by rep and outcome.
func (c *Console) decisions(w http.ResponseWriter, r *http.Request) {
	c.rememberLanguage(w, r)
	lang := language(r)
	q := r.URL.Query()
	d := decisionsData{Rep: q.Get("rep"), Outcome: q.Get("outcome")}
	switch billing.PaymentMethodStatus(d.Outcome) {
	case "", billing.PMValidated, billing.PMRejected, billing.PMExpired:
	default:
		d.Outcome = ""
	}
	var err error
	if d.Reps, err = c.DB.Reps(r.Context()); err != nil {
		c.fail(w, r, err)
		return
	}
	pms, err := c.DB.Decisions(r.Context(), postgres.DecisionFilter{RepKeyID: d.Rep, Status: billing.PaymentMethodStatus(d.Outcome)})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, pm := range pms {
		row := decisionRow{PaymentMethod: pm, WorkflowURL: c.workflowURL(pm.WorkflowID)}
		if pm.DecidedAt != nil {
			row.DecidedAt = i18n.FormatDateTime(lang, *pm.DecidedAt)
		}
		d.Rows = append(d.Rows, row)
	}
	c.render(w, r, http.StatusOK, "decisions.html", page{Title: "decisions", Data: d})
}

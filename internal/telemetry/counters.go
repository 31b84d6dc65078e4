package telemetry

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/payportal/payportal/internal/billing"
)

// Counters count PayPortal's business events, each once, when the database records it:
// internal/postgres reports a transition only when its statement made it, so a retried
// activity or a replayed request never counts twice.
type Counters struct {
	payments      *prometheus.CounterVec
	validations   *prometheus.CounterVec
	compensations *prometheus.CounterVec
	findings      *prometheus.CounterVec
	pastDue       prometheus.Counter
	receipts      *prometheus.CounterVec
}

// NewCounters registers the business counters on reg, each label combination PayPortal can
// produce starting at zero, so a dashboard's rate() sees the first event.
func NewCounters(reg prometheus.Registerer) *Counters {
	c := &Counters{
		payments: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payportal_payments_total",
			Help: "One-time and recurring payments that reached a final status, by method (card, paypal) and outcome (succeeded, failed, canceled, expired).",
		}, []string{"method", "outcome"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payportal_card_validations_total",
			Help: "Cards on file decided, by outcome (validated, rejected, expired).",
		}, []string{"outcome"}),
		compensations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payportal_compensations_total",
			Help: "Payments undone, by what undoing did (hold_released, refunded, refund_refused).",
		}, []string{"kind"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payportal_reconciler_findings_total",
			Help: "Disagreements the reconciler found, by kind and whether it resolved them.",
		}, []string{"kind", "resolved"}),
		pastDue: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "payportal_accounts_past_due_total",
			Help: "Accounts that went past due after dunning ran out of retries.",
		}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "payportal_receipts_total",
			Help: "Payment receipts the outbox mailer handled, by outcome (mailed, given_up, retry: failed for now, due again in a minute).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(c.payments, c.validations, c.compensations, c.findings, c.pastDue, c.receipts)
	for _, o := range []string{"mailed", "given_up", "retry"} {
		c.receipts.WithLabelValues(o)
	}
	for _, m := range []billing.PaymentMethodKind{billing.MethodCard, billing.MethodPayPal} {
		for _, s := range []billing.PaymentStatus{billing.PaymentSucceeded, billing.PaymentFailed, billing.PaymentCanceled, billing.PaymentExpired} {
			c.payments.WithLabelValues(string(m), string(s))
		}
	}
	for _, s := range []billing.PaymentMethodStatus{billing.PMValidated, billing.PMRejected, billing.PMExpired} {
		c.validations.WithLabelValues(string(s))
	}
	for _, k := range []billing.Compensation{billing.CompensationHoldReleased, billing.CompensationRefunded, billing.CompensationRefundRefused} {
		c.compensations.WithLabelValues(string(k))
	}
	return c
}

// PaymentFinished counts a payment that reached its final status.
func (c *Counters) PaymentFinished(method billing.PaymentMethodKind, status billing.PaymentStatus) {
	c.payments.WithLabelValues(string(method), string(status)).Inc()
}

// CardDecided counts a card on file whose validation ended.
func (c *Counters) CardDecided(status billing.PaymentMethodStatus) {
	c.validations.WithLabelValues(string(status)).Inc()
}

// PaymentCompensated counts a payment's compensation recorded or changed.
func (c *Counters) PaymentCompensated(kind billing.Compensation) {
	c.compensations.WithLabelValues(string(kind)).Inc()
}

// FindingRecorded counts one reconciliation finding.
func (c *Counters) FindingRecorded(kind string, resolved bool) {
	c.findings.WithLabelValues(kind, strconv.FormatBool(resolved)).Inc()
}

// AccountPastDue counts an account that went past due.
func (c *Counters) AccountPastDue() { c.pastDue.Inc() }

// ReceiptsSettled counts what a receipt mailer's pass did.
func (c *Counters) ReceiptsSettled(mailed, givenUp, retry int) {
	c.receipts.WithLabelValues("mailed").Add(float64(mailed))
	c.receipts.WithLabelValues("given_up").Add(float64(givenUp))
	c.receipts.WithLabelValues("retry").Add(float64(retry))
}

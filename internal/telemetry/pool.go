package telemetry

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads pgxpool's statistics at each scrape.
type poolCollector struct {
	pool *pgxpool.Pool

	acquired, idle, total, constructing, max *prometheus.Desc
	acquires, acquireSeconds                 *prometheus.Desc
	emptyAcquires, emptyWaitSeconds          *prometheus.Desc
	canceledAcquires, newConns               *prometheus.Desc
}

// NewPoolCollector exposes a pgx pool's statistics as payportal_db_pool_*: the connections
// acquired, idle, total, being opened and allowed; the acquires made, the time they took,
// those that found no idle connection and had to wait (and for how long), and those canceled.
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("payportal_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:             pool,
		acquired:         d("acquired_connections", "Connections in use."),
		idle:             d("idle_connections", "Connections open and idle."),
		total:            d("connections", "Connections open: acquired, idle and being opened."),
		constructing:     d("constructing_connections", "Connections being opened."),
		max:              d("max_connections", "Most connections the pool opens."),
		acquires:         d("acquires_total", "Connections acquired."),
		acquireSeconds:   d("acquire_duration_seconds_total", "Time spent acquiring connections."),
		emptyAcquires:    d("empty_acquires_total", "Acquires that found no idle connection and waited for one."),
		emptyWaitSeconds: d("empty_acquire_wait_seconds_total", "Time acquires spent waiting for a connection."),
		canceledAcquires: d("canceled_acquires_total", "Acquires canceled by their context."),
		newConns:         d("new_connections_total", "Connections opened."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acquired, c.idle, c.total, c.constructing, c.max, c.acquires, c.acquireSeconds,
		c.emptyAcquires, c.emptyWaitSeconds, c.canceledAcquires, c.newConns} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.emptyWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canceledAcquires, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
}

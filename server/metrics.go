package server

import (
	"context"
	"database/sql"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gaia-platform/iam/audit"
	"github.com/gaia-platform/iam/oauth/keys"
	"github.com/gaia-platform/iam/storage"
)

// statser is a store that reports its connection pool; both SQL backends
// are, through sqlstore.
type statser interface {
	Stats() sql.DBStats
}

// metrics are one server's Prometheus collectors, in a registry of its
// own: two servers in one process (tests, replicas) never share counts.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	tokens        *prometheus.CounterVec
	auditWritten  *prometheus.CounterVec
	auditDropped  prometheus.Counter
	loginFailures prometheus.Counter
	refreshReuse  prometheus.Counter
	lockouts      prometheus.Counter
}

// grants are the grant label's values; anything else counts as "other", so
// a client cannot add series by inventing grant types.
var grants = map[string]bool{"client_credentials": true, "password": true, "refresh_token": true}

func newMetrics(store storage.Store, ring *keys.Ring) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaia_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gaia_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaia_tokens_issued_total",
			Help: "Successful token endpoint answers, by grant type.",
		}, []string{"grant"}),
		auditWritten: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gaia_audit_events_written_total",
			Help: "Audit events stored, by action.",
		}, []string{"action"}),
		auditDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaia_audit_events_dropped_total",
			Help: "Audit events given up: the queue stayed full or the store kept failing.",
		}),
		loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaia_login_failures_total",
			Help: "Password grant logins refused (audited auth.password failures).",
		}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaia_refresh_reuse_detected_total",
			Help: "Rotated refresh tokens presented again; each revokes its family.",
		}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gaia_login_lockouts_total",
			Help: "Accounts locked by login protection (audited " + audit.ActionAuthLockout + ").",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.tokens, m.auditWritten, m.auditDropped,
		m.loginFailures, m.refreshReuse, m.lockouts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gaia_signing_key_age_seconds",
		Help: "Seconds since the current signing key was created.",
	}, func() float64 {
		for _, k := range ring.List() {
			if k.State == keys.StateCurrent {
				return time.Since(k.CreatedAt).Seconds()
			}
		}
		return 0
	}))
	if s, ok := store.(statser); ok {
		m.registerPool(s)
	}
	return m
}

// registerPool exports the database pool's use, read at each scrape.
func (m *metrics) registerPool(s statser) {
	gauge := func(name, help string, f func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(s.Stats()) })
	}
	counter := func(name, help string, f func(sql.DBStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(s.Stats()) })
	}
	m.reg.MustRegister(
		gauge("gaia_db_pool_max_open", "Most connections the pool opens.", func(st sql.DBStats) float64 { return float64(st.MaxOpenConnections) }),
		gauge("gaia_db_pool_open", "Connections open, in use or idle.", func(st sql.DBStats) float64 { return float64(st.OpenConnections) }),
		gauge("gaia_db_pool_in_use", "Connections in use.", func(st sql.DBStats) float64 { return float64(st.InUse) }),
		gauge("gaia_db_pool_idle", "Idle connections.", func(st sql.DBStats) float64 { return float64(st.Idle) }),
		counter("gaia_db_pool_waits_total", "Times a request waited for a connection.", func(st sql.DBStats) float64 { return float64(st.WaitCount) }),
		counter("gaia_db_pool_wait_seconds_total", "Time spent waiting for a connection.", func(st sql.DBStats) float64 { return st.WaitDuration.Seconds() }),
	)
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// observed reports a request's outcome. route is chi's pattern: a raw path
// would make a series per user id.
func (m *metrics) observed(route, method string, code int, d time.Duration) {
	c := statusLabel(code)
	m.requests.WithLabelValues(route, method, c).Inc()
	m.latency.WithLabelValues(route, method, c).Observe(d.Seconds())
}

// issued counts a token endpoint answer that issued tokens.
func (m *metrics) issued(grant string) {
	if !grants[grant] {
		grant = "other"
	}
	m.tokens.WithLabelValues(grant).Inc()
}

// countingAppender counts the audit events that reach the store, and from
// them the security events the metrics single out. Events appended in an
// admin transaction that later rolls back are counted all the same: the
// counts are a rate to alert on, not a ledger.
type countingAppender struct {
	next audit.Appender
	m    *metrics
}

func (a countingAppender) AppendAudit(ctx context.Context, events []storage.AuditEvent) error {
	if err := a.next.AppendAudit(ctx, events); err != nil {
		return err
	}
	for _, e := range events {
		a.m.auditWritten.WithLabelValues(e.Action).Inc()
		switch {
		case e.Action == audit.ActionAuthPassword && e.Outcome == audit.Failure:
			a.m.loginFailures.Add(float64(audit.Count(e))) // a summary stands for several
		case e.Action == audit.ActionAuthRefreshReuse:
			a.m.refreshReuse.Inc()
		case e.Action == audit.ActionAuthLockout:
			a.m.lockouts.Inc()
		}
	}
	return nil
}

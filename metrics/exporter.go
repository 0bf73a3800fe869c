package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics/kpi"
)

// Source evaluates a KPI snapshot; ClickHouseSource in production.
type Source func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error)

// ClickHouseSource evaluates requests in database db.
func ClickHouseSource(q clickhouse.Querier, db string) Source {
	return func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
		r.DB = db
		return r.Evaluate(ctx, q)
	}
}

// Breakdowns are the groups the catalog's families are built from, besides
// the totals, service lines and priorities that every snapshot has.
var Breakdowns = []kpi.Breakdown{
	{kpi.ServiceLine, kpi.Priority},
	{kpi.ServiceLine, kpi.Location},
	{kpi.ServiceLine, kpi.ReferrerType, kpi.ReferrerNetwork},
}

// Errors of Ready.
var (
	// ErrNoSnapshot: no refresh has succeeded yet.
	ErrNoSnapshot = errors.New("no KPI snapshot yet")
	// ErrStopping: the exporter is shutting down.
	ErrStopping = errors.New("shutting down")
)

// Exporter refreshes KPI snapshots on its own schedule and serves the last
// good one through its Collector.
type Exporter struct {
	cfg       Config
	kpi       kpi.Config
	source    Source
	logger    *slog.Logger
	collector *Collector
	health    *health
	now       func() time.Time

	lastErr  atomic.Pointer[string] // for Ready, before the first snapshot
	stopping atomic.Bool

	// Only the refresh loop touches these.
	failures    int
	failingFrom time.Time
	referrers   *referrerKPIs // the last evaluated; nil before the first
	densities   kpi.Densities // the KPI lookups', kept across refreshes
}

// referrerKPIs are the referrer KPIs of a snapshot, kept for the snapshots
// evaluated without them (Config.ReferrerInterval).
type referrerKPIs struct {
	evaluated time.Time // when the refresh that evaluated them began
	asOf      time.Time
	activity  kpi.ReferrerActivity
	attention kpi.ReferrerAttention
}

// NewExporter registers the exporter's own metrics with reg; the KPI
// families are served by Gatherer.
func NewExporter(cfg Config, kc kpi.Config, source Source, logger *slog.Logger, reg prometheus.Registerer) *Exporter {
	return &Exporter{
		cfg: cfg, kpi: kc, source: source, logger: logger,
		collector: NewCollector(cfg), health: newHealth(reg), now: time.Now,
	}
}

// Gatherer is what /metrics serves: live's families (the exporter's own,
// Go, process) and the current snapshot's KPI families, gathered once per
// refresh.
func (e *Exporter) Gatherer(live prometheus.Gatherer) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := live.Gather()
		kpis, _ := e.collector.Gather()
		merged, mergeErr := mergeGathered(mfs, kpis)
		if mergeErr != nil {
			return mfs, errors.Join(err, mergeErr)
		}
		return merged, err
	})
}

// Run refreshes now and then every RefreshInterval until ctx ends; a refresh
// in flight then gets ShutdownGrace to finish. A failed refresh is counted
// and logged, never fatal: the previous snapshot stays.
func (e *Exporter) Run(ctx context.Context) error {
	defer e.stopping.Store(true)
	tick := time.NewTicker(e.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		_ = e.Refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// ShutdownGrace is how long a refresh in flight may go on once shutdown
// begins, before its queries are cancelled. Cancelling leaves the server to
// notice, and ClickHouse 18.16 can keep a cancelled query's table locks long
// enough to deadlock a DROP or ALTER that follows (seen in tests); KPI queries
// take well under a second, so letting them finish costs nothing.
const ShutdownGrace = 10 * time.Second

// Refresh evaluates one snapshot within the KPI timeout and, if it succeeds,
// serves it. When ctx ends, the refresh gets ShutdownGrace to finish and is
// then neither counted nor served.
func (e *Exporter) Refresh(ctx context.Context) error {
	start := time.Now()
	asOf := e.cfg.AsOf
	if asOf.IsZero() {
		asOf = e.now()
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.kpi.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(ShutdownGrace, cancel) })
	defer stop()
	// The referrer KPIs are evaluated when due, by the clock: with a fixed
	// --as-of too, since late events still change them.
	began := e.now()
	withReferrers := e.referrers == nil || began.Sub(e.referrers.evaluated) >= e.cfg.ReferrerInterval()
	s, err := e.source(qctx, kpi.Request{AsOf: asOf, Windows: e.kpi.Windows, Breakdowns: Breakdowns, Calendar: &e.kpi.SLA, State: e.kpi.State,
		Densities: &e.densities, Attention: withReferrers, SkipReferrerActivity: !withReferrers})
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: neither a failure nor a success
	}
	e.health.duration.Observe(elapsed.Seconds())
	if err != nil {
		e.failed(err)
		return err
	}
	if withReferrers {
		e.referrers = &referrerKPIs{evaluated: began, asOf: s.AsOf, activity: s.Referrers, attention: s.Attention}
	} else {
		s.Referrers, s.Attention = e.referrers.activity, e.referrers.attention
	}
	first := !e.collector.HasSnapshot()
	stats, err := e.collector.Update(s)
	if err != nil {
		e.failed(err)
		return err
	}
	e.health.record(stats)
	e.health.asOf.Set(float64(s.AsOf.Unix()))
	e.health.referrersAt.Set(float64(e.referrers.asOf.Unix()))
	e.health.lastSuccess.Set(float64(e.now().UnixNano()) / 1e9)
	e.succeeded(s, stats, elapsed, first)
	return nil
}

// failed counts a failed refresh; it logs the first of a run of failures and
// leaves the rest to referralops_kpi_refresh_errors_total.
func (e *Exporter) failed(err error) {
	e.health.errors.Inc()
	msg := loggable(err)
	e.lastErr.Store(&msg)
	if e.failures == 0 {
		e.failingFrom = e.now()
		stale := "no snapshot is served yet"
		if e.collector.HasSnapshot() {
			stale = "the previous snapshot is served until a refresh succeeds"
		}
		e.logger.Warn("KPI refresh failed; "+stale, "err", msg, "timeout", e.kpi.Timeout)
	} else {
		e.logger.Debug("KPI refresh failed again", "err", msg, "failures", e.failures+1)
	}
	e.failures++
}

func (e *Exporter) succeeded(s kpi.Snapshot, st Stats, elapsed time.Duration, first bool) {
	attrs := []any{"as_of", s.AsOf.Format(time.RFC3339), "seconds", elapsed.Seconds(), "series", sum(st.Series)}
	if d := sum(st.Dropped); d > 0 {
		attrs = append(attrs, "dropped", d)
	}
	switch {
	case e.failures > 0:
		e.logger.Info("KPI refresh recovered", append(attrs, "failed_refreshes", e.failures,
			"failing_for", e.now().Sub(e.failingFrom).Round(time.Second).String())...)
	case first:
		e.logger.Info("first KPI snapshot served", attrs...)
	default:
		e.logger.Debug("KPI snapshot refreshed", attrs...)
	}
	e.failures = 0
	e.lastErr.Store(nil)
}

// Ready is nil once a snapshot is served, through ClickHouse outages (stale
// numbers with a staleness signal are better than a target that disappears),
// until shutdown.
func (e *Exporter) Ready() error {
	switch {
	case e.stopping.Load():
		return ErrStopping
	case e.collector.HasSnapshot():
		return nil
	}
	if msg := e.lastErr.Load(); msg != nil {
		return fmt.Errorf("%w: last refresh failed: %s", ErrNoSnapshot, *msg)
	}
	return ErrNoSnapshot
}

// Collector is the exporter's KPI collector.
func (e *Exporter) Collector() *Collector { return e.collector }

// loggable is err's text with a ClickHouse server message cut to its head,
// "Timeout exceeded", "Database x doesn't exist": the details after the first
// colon can quote the query, and queries can carry referrer ids.
func loggable(err error) string {
	var ex *ch.Exception
	if !errors.As(err, &ex) {
		return err.Error()
	}
	head, _, _ := strings.Cut(ex.Message, ":")
	head, _, _ = strings.Cut(head, "\n")
	if len(head) > 120 {
		head = head[:120]
	}
	return strings.Replace(err.Error(), ex.Error(), fmt.Sprintf("clickhouse exception %d: %s", ex.Code, strings.TrimSpace(head)), 1)
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// fakeSource answers with what its next func says and records the requests.
type fakeSource struct {
	mu       sync.Mutex
	next     func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error)
	requests []kpi.Request
}

func (f *fakeSource) source(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	next := f.next
	f.mu.Unlock()
	return next(ctx, r)
}

func (f *fakeSource) set(next func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error)) {
	f.mu.Lock()
	f.next = next
	f.mu.Unlock()
}

func (f *fakeSource) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func serve(s kpi.Snapshot) func(context.Context, kpi.Request) (kpi.Snapshot, error) {
	return func(context.Context, kpi.Request) (kpi.Snapshot, error) { return s, nil }
}

func fail(err error) func(context.Context, kpi.Request) (kpi.Snapshot, error) {
	return func(context.Context, kpi.Request) (kpi.Snapshot, error) { return kpi.Snapshot{}, err }
}

func newExporter(t testing.TB, edit func(*metrics.Config, *kpi.Config)) (*metrics.Exporter, *fakeSource, *prometheus.Registry) {
	t.Helper()
	cfg, kc := metrics.DefaultConfig(), kpi.DefaultConfig()
	if edit != nil {
		edit(&cfg, &kc)
	}
	src := &fakeSource{next: fail(errors.New("no data yet"))}
	reg := prometheus.NewPedanticRegistry()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	return metrics.NewExporter(cfg, kc, src.source, logger, reg), src, reg
}

func value(t testing.TB, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

// TestExporterServesLastGoodSnapshot: a failed refresh keeps the previous
// snapshot, counts the error and leaves last_success where it was; the next
// success serves the new snapshot and advances it.
func TestExporterServesLastGoodSnapshot(t *testing.T) {
	e, src, reg := newExporter(t, nil)
	ctx := context.Background()

	if err := e.Refresh(ctx); err == nil {
		t.Fatal("a failing source refreshed")
	}
	if !errors.Is(e.Ready(), metrics.ErrNoSnapshot) || !strings.Contains(e.Ready().Error(), "no data yet") {
		t.Errorf("Ready before a snapshot = %v, want ErrNoSnapshot with the last error", e.Ready())
	}
	if n := testutil.CollectAndCount(e.Collector()); n != 0 {
		t.Errorf("%d KPI metrics before the first snapshot", n)
	}
	if v := value(t, reg, "referralops_kpi_last_success_timestamp_seconds"); v != 0 {
		t.Errorf("last success %v before any", v)
	}

	first := synthetic(2, 3, testAsOf)
	src.set(serve(first))
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready after a snapshot: %v", err)
	}
	served := testutil.CollectAndCount(e.Collector())
	success := value(t, reg, "referralops_kpi_last_success_timestamp_seconds")
	if served == 0 || success == 0 || value(t, reg, "referralops_kpi_snapshot_as_of_timestamp_seconds") != float64(testAsOf.Unix()) {
		t.Fatalf("after a success: %d metrics, last success %v", served, success)
	}

	src.set(fail(errors.New("clickhouse: connection refused")))
	for i := 1; i <= 3; i++ {
		if err := e.Refresh(ctx); err == nil {
			t.Fatal("a failing source refreshed")
		}
		if got := value(t, reg, "referralops_kpi_refresh_errors_total"); got != float64(1+i) {
			t.Errorf("refresh errors = %v, want %d", got, 1+i)
		}
	}
	if got := value(t, reg, "referralops_kpi_last_success_timestamp_seconds"); got != success {
		t.Errorf("last success moved from %v to %v on failures", success, got)
	}
	if got := testutil.CollectAndCount(e.Collector()); got != served {
		t.Errorf("%d metrics served during failures, want the previous %d", got, served)
	}
	if err := e.Ready(); err != nil {
		t.Errorf("Ready with a stale snapshot: %v (stale data stays served)", err)
	}
	if got := value(t, reg, "referralops_kpi_refresh_duration_seconds"); got != 5 {
		t.Errorf("%v refresh durations observed, want 5", got)
	}

	later := synthetic(3, 3, testAsOf.Add(time.Hour))
	src.set(serve(later))
	if err := e.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := value(t, reg, "referralops_kpi_last_success_timestamp_seconds"); got <= success {
		t.Errorf("last success %v did not advance past %v", got, success)
	}
	if got := value(t, reg, "referralops_kpi_snapshot_as_of_timestamp_seconds"); got != float64(testAsOf.Add(time.Hour).Unix()) {
		t.Errorf("as-of %v, want the new snapshot's", got)
	}
	if got := testutil.CollectAndCount(e.Collector()); got <= served {
		t.Errorf("%d metrics after a bigger snapshot, want more than %d", got, served)
	}
}

// TestExporterRequest: the exporter asks for its breakdowns, its windows and
// the referrer attention levels, at the fixed as-of time or else now, within
// the KPI timeout.
func TestExporterRequest(t *testing.T) {
	fixed := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, asOf := range []time.Time{{}, fixed} {
		e, src, _ := newExporter(t, func(c *metrics.Config, k *kpi.Config) {
			c.AsOf = asOf
			k.Windows = kpi.Windows{kpi.Window(7 * 24 * time.Hour)}
			k.Timeout = 50 * time.Millisecond
		})
		var deadline time.Duration
		src.set(func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
			d, _ := ctx.Deadline()
			deadline = time.Until(d)
			<-ctx.Done() // a stuck query
			return kpi.Snapshot{}, ctx.Err()
		})
		start := time.Now()
		if err := e.Refresh(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Refresh of a stuck query = %v, want the timeout", err)
		}
		if deadline <= 0 || deadline > 50*time.Millisecond {
			t.Errorf("query deadline %s, want within the 50ms timeout", deadline)
		}
		r := src.requests[0]
		if !r.Attention {
			t.Error("the attention levels, which the exporter serves, are not requested")
		}
		if !slices.Equal(r.Windows, []kpi.Window{kpi.Window(7 * 24 * time.Hour)}) {
			t.Errorf("windows %v", r.Windows)
		}
		for _, b := range metrics.Breakdowns {
			if !slices.ContainsFunc(r.Breakdowns, func(x kpi.Breakdown) bool { return slices.Equal(x, b) }) {
				t.Errorf("breakdown %v not requested", b)
			}
		}
		switch {
		case !asOf.IsZero() && !r.AsOf.Equal(fixed):
			t.Errorf("as-of %s, want the fixed %s", r.AsOf, fixed)
		case asOf.IsZero() && (r.AsOf.Before(start.Add(-time.Second)) || r.AsOf.After(time.Now())):
			t.Errorf("as-of %s, want the time of the refresh", r.AsOf)
		}
	}
}

// TestExporterRun: refreshes follow the interval, not scrapes; shutdown makes
// the exporter unready.
func TestExporterRun(t *testing.T) {
	e, src, reg := newExporter(t, func(c *metrics.Config, _ *kpi.Config) { c.RefreshInterval = 20 * time.Millisecond })
	src.set(serve(synthetic(2, 2, testAsOf)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	testenv.Eventually(t, 10*time.Second, func() bool { return src.calls() >= 3 }, func() string { return "fewer than 3 refreshes" })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if !errors.Is(e.Ready(), metrics.ErrStopping) {
		t.Errorf("Ready after Run = %v, want ErrStopping", e.Ready())
	}
	calls := src.calls()
	for range 20 {
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
	}
	if src.calls() != calls {
		t.Error("a scrape queried the source")
	}
}

// TestExporterDroppedSeries: series over the cap are counted per family at
// each refresh; families within it show 0.
func TestExporterDroppedSeries(t *testing.T) {
	e, src, reg := newExporter(t, func(c *metrics.Config, _ *kpi.Config) { c.MaxSeriesPerFamily = 10 })
	src.set(serve(synthetic(3, 5, testAsOf)))
	for range 2 {
		if err := e.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{
		"referral_referrals":                2 * (2*3*5 - 10),   // windows × lines × locations
		"referral_source_referrals":         2 * (2*3*5*2 - 10), // × 5 types × 2 networks
		"referral_time_to_schedule_seconds": 0,                  // 2 windows × 3 lines
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "referralops_kpi_series_dropped_total" {
			for _, m := range mf.GetMetric() {
				got[label(m, metrics.LabelFamily)] = m.GetCounter().GetValue()
			}
		}
	}
	for family, n := range want {
		if got[family] != n {
			t.Errorf("dropped %s = %v, want %v", family, got[family], n)
		}
	}
	for _, f := range metrics.Catalog {
		if _, ok := got[f.Name]; !ok && f.Kind != metrics.KindExporter {
			t.Errorf("no dropped counter for %s", f.Name)
		}
	}
}

// TestExporterShutdownLetsRefreshFinish: on shutdown the refresh in flight
// is not cancelled at once (a cancelled query can linger on the server with
// its locks); Run returns once it is done.
func TestExporterShutdownLetsRefreshFinish(t *testing.T) {
	e, src, _ := newExporter(t, nil)
	started, release := make(chan struct{}), make(chan struct{})
	var cancelled error
	src.set(func(ctx context.Context, _ kpi.Request) (kpi.Snapshot, error) {
		close(started)
		<-release
		cancelled = ctx.Err()
		return synthetic(1, 1, testAsOf), nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	<-started
	cancel() // before the source answers: its ctx must still be live then
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if cancelled != nil {
		t.Errorf("the refresh in flight was cancelled (%v) within the grace", cancelled)
	}
}

// TestExporterReferrerSchedule: the referrer KPIs (activity, attention) are
// evaluated with the first snapshot and then every --referrer-refresh-interval
// (by default 10 refresh intervals) by the clock, with a fixed --as-of too
// (late events change them); the snapshots between ask for neither and serve
// the last ones, whose as-of time
// referralops_kpi_referrers_as_of_timestamp_seconds gives.
func TestExporterReferrerSchedule(t *testing.T) {
	fixed := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		asOf     time.Time
		interval time.Duration // --referrer-refresh-interval
		refresh  time.Duration // --refresh-interval
		want     []bool        // per refresh: evaluated with the referrer KPIs
	}{
		{"due every refresh", time.Time{}, time.Nanosecond, time.Hour, []bool{true, true, true}},
		{"not yet due", time.Time{}, time.Hour, time.Nanosecond, []bool{true, false, false}},
		{"fixed as-of, due", fixed, time.Nanosecond, time.Hour, []bool{true, true, true}},
		{"fixed as-of, not yet due", fixed, time.Hour, time.Nanosecond, []bool{true, false, false}},
		{"default, 10 refresh intervals not yet passed", time.Time{}, 0, time.Hour, []bool{true, false, false}},
		{"default, 10 refresh intervals passed", time.Time{}, 0, time.Nanosecond, []bool{true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, src, reg := newExporter(t, func(c *metrics.Config, _ *kpi.Config) {
				c.AsOf = tc.asOf
				c.ReferrerRefreshInterval = tc.interval
				c.RefreshInterval = tc.refresh
			})
			// A source like ClickHouseSource: what is not asked for stays zero;
			// each referrer evaluation counts more referrers than the last.
			evaluated := 0
			src.set(func(_ context.Context, r kpi.Request) (kpi.Snapshot, error) {
				s := synthetic(2, 2, r.AsOf.Truncate(time.Second))
				if r.Attention != !r.SkipReferrerActivity {
					t.Errorf("request with attention %v and referrer activity %v: want both or neither", r.Attention, !r.SkipReferrerActivity)
				}
				if r.SkipReferrerActivity {
					s.Referrers = kpi.ReferrerActivity{}
				} else {
					evaluated++
					typ := slices.Sorted(maps.Keys(s.Referrers.ByType))[0]
					st := s.Referrers.ByType[typ]
					st.New += int64(evaluated)
					s.Referrers.ByType[typ] = st
				}
				if !r.Attention {
					s.Attention = kpi.ReferrerAttention{}
				}
				return s, nil
			})
			var referrersAsOf float64
			for i, want := range tc.want {
				if err := e.Refresh(context.Background()); err != nil {
					t.Fatal(err)
				}
				r := src.requests[i]
				if got := !r.SkipReferrerActivity; got != want {
					t.Errorf("refresh %d: referrer KPIs requested %v, want %v", i+1, got, want)
				}
				if want {
					referrersAsOf = float64(r.AsOf.Unix())
				}
				if got := value(t, reg, "referralops_kpi_referrers_as_of_timestamp_seconds"); got != referrersAsOf {
					t.Errorf("refresh %d: referrer as-of %v, want %v", i+1, got, referrersAsOf)
				}
				served := gather(t, e.Collector())
				wantNew := synthetic(2, 2, fixed).Referrers.Totals.New + int64(evaluated)
				if got := sumWhere(served[metrics.Referrers.Name], "state", "new"); got != wantNew {
					t.Errorf("refresh %d: %v new referrers served, want %v (the last evaluation's)", i+1, got, wantNew)
				}
				if got := sumWhere(served[metrics.AttentionReferrers.Name]); got == 0 {
					t.Errorf("refresh %d: no attention levels served", i+1)
				}
			}
		})
	}
}

package metrics_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

var testAsOf = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)

// gather collects c through a pedantic registry (which checks every metric
// against its descriptor) and returns the families by name.
func gather(t testing.TB, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sumWhere adds the gauge values of the series whose labels match pairs.
func sumWhere(mf *dto.MetricFamily, pairs ...string) int64 {
	var total float64
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(pairs); i += 2 {
			if label(m, pairs[i]) != pairs[i+1] {
				continue next
			}
		}
		total += m.GetGauge().GetValue()
	}
	return int64(total)
}

func labelValues(mf *dto.MetricFamily, name string) []string {
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		set[label(m, name)] = true
	}
	return slices.Sorted(maps.Keys(set))
}

func collector(t testing.TB, s kpi.Snapshot, edit func(*metrics.Config)) (*metrics.Collector, metrics.Stats) {
	t.Helper()
	cfg := metrics.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	c := metrics.NewCollector(cfg)
	st, err := c.Update(s)
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

func TestCollectorBeforeFirstSnapshot(t *testing.T) {
	c := metrics.NewCollector(metrics.DefaultConfig())
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d metrics before the first snapshot, want none", n)
	}
	if c.HasSnapshot() {
		t.Error("HasSnapshot before Update")
	}
}

// TestCollectorGolden compares a small snapshot's metrics with
// testdata/collector.prom (-update rewrites it).
func TestCollectorGolden(t *testing.T) {
	s := synthetic(2, 4, testAsOf)
	// Line 1 has no booking in the 30-day window: no quantiles there.
	f := s.Windows[0].ByServiceLine["line_01"]
	f.TimeToSchedule = kpi.Distribution{Buckets: make([]int64, len(s.Buckets))}
	s.Windows[0].ByServiceLine["line_01"] = f
	c, _ := collector(t, s, func(c *metrics.Config) { c.LocationsTop = 2 })
	golden := filepath.Join("testdata", "collector.prom")
	if *update {
		writeExposition(t, golden, c)
	}
	want, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer want.Close()
	if err := testutil.CollectAndCompare(c, want); err != nil {
		t.Errorf("%v\n(run go test ./metrics -run %s -update if the change is intended)", err, t.Name())
	}
}

func writeExposition(t *testing.T, path string, c prometheus.Collector) {
	t.Helper()
	var buf bytes.Buffer
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCollectAndLint(t *testing.T) {
	c, _ := collector(t, synthetic(12, 20, testAsOf), nil)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestLocationsTopN: the top N locations by volume keep their label, the rest
// become "other", and every count still sums to the totals.
func TestLocationsTopN(t *testing.T) {
	s := synthetic(3, 12, testAsOf)
	c, _ := collector(t, s, func(c *metrics.Config) { c.LocationsTop = 4 })
	mfs := gather(t, c)
	// synthetic's volume falls with the site number.
	want := []string{metrics.OtherLocation, "site-01", "site-02", "site-03", "site-04"}
	for _, name := range []string{"referral_referrals", "referral_no_show_appointments", "referral_unscheduled_backlog_referrals"} {
		if got := labelValues(mfs[name], metrics.LabelLocation); !slices.Equal(got, want) {
			t.Errorf("%s locations = %v, want %v", name, got, want)
		}
	}
	checkSums(t, s, mfs)
}

func TestLocationsAllowList(t *testing.T) {
	s := synthetic(3, 12, testAsOf)
	c, _ := collector(t, s, func(c *metrics.Config) { c.Locations = []string{"site-07", "site-03", "site-99"} })
	mfs := gather(t, c)
	want := []string{metrics.OtherLocation, "site-03", "site-07"}
	if got := labelValues(mfs["referral_referrals"], metrics.LabelLocation); !slices.Equal(got, want) {
		t.Errorf("locations = %v, want %v", got, want)
	}
	checkSums(t, s, mfs)
}

// checkSums: every cohort count summed over locations is the window's total
// and each service line's, the backlog too, and the source counts add up.
func checkSums(t *testing.T, s kpi.Snapshot, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	for _, w := range s.Windows {
		win := w.Window.String()
		for _, f := range metrics.Catalog {
			if f.Kind != metrics.KindCohort {
				continue
			}
			if got, want := sumWhere(mfs[f.Name], metrics.LabelWindow, win), f.Count(w.Totals); got != want {
				t.Errorf("%s{window=%s} sums to %d, want the total %d", f.Name, win, got, want)
			}
			for line, lf := range w.ByServiceLine {
				if got, want := sumWhere(mfs[f.Name], metrics.LabelWindow, win, metrics.LabelServiceLine, line), f.Count(lf); got != want {
					t.Errorf("%s{window=%s,service_line=%s} sums to %d, want %d", f.Name, win, line, got, want)
				}
			}
		}
		for _, f := range metrics.Catalog {
			switch f.Kind {
			case metrics.KindPriority:
				for p, pf := range w.ByPriority {
					if got, want := sumWhere(mfs[f.Name], metrics.LabelWindow, win, metrics.LabelPriority, p), f.Count(pf); got != want {
						t.Errorf("%s{window=%s,priority=%s} sums to %d, want %d", f.Name, win, p, got, want)
					}
				}
			case metrics.KindLeakedBy:
				for _, v := range f.Values {
					if got, want := sumWhere(mfs[f.Name], metrics.LabelWindow, win, f.Labels[1], v), f.By(w.Totals)[v]; got != want {
						t.Errorf("%s{window=%s,%s=%s} = %d, want %d", f.Name, win, f.Labels[1], v, got, want)
					}
				}
			}
		}
		var source int64
		for _, g := range w.Groups {
			if len(g.Labels) == 3 && g.Labels[1].Dimension == kpi.ReferrerType {
				source += g.Fields.Referrals
			}
		}
		if got := sumWhere(mfs["referral_source_referrals"], metrics.LabelWindow, win); got != source {
			t.Errorf("referral_source_referrals{window=%s} sums to %d, want %d", win, got, source)
		}
	}
	backlog := mfs["referral_unscheduled_backlog_referrals"]
	for i, b := range kpi.BacklogBuckets {
		if got, want := sumWhere(backlog, metrics.LabelAgeBucket, b), s.Windows[0].Totals.Backlog.Counts()[i]; got != want {
			t.Errorf("backlog %s sums to %d, want the total %d", b, got, want)
		}
	}
}

// TestSeriesCap: a family over the cap serves the first series in label order
// and reports how many it dropped.
func TestSeriesCap(t *testing.T) {
	s := synthetic(3, 5, testAsOf)
	const limit = 7
	c, st := collector(t, s, func(c *metrics.Config) { c.MaxSeriesPerFamily = limit })
	mfs := gather(t, c)
	for _, f := range metrics.Catalog {
		if f.Kind == metrics.KindExporter {
			continue
		}
		n := len(mfs[f.Name].GetMetric())
		if n > limit || n != st.Series[f.Name] {
			t.Errorf("%s: %d series served, stats say %d, cap %d", f.Name, n, st.Series[f.Name], limit)
		}
	}
	// 2 windows × 3 lines × 5 locations (top 10 keeps all) = 30 series, 23 dropped.
	if got := st.Dropped["referral_referrals"]; got != 30-limit {
		t.Errorf("referral_referrals dropped %d, want %d", got, 30-limit)
	}
	if got := st.Dropped["referral_referrers"]; got != 20-limit {
		t.Errorf("referral_referrers (5 types × 4 states = 20 > 7) dropped %d, want 13", got)
	}
}

// TestQuantilesAbsentWhenEmpty: an empty distribution still has its
// histogram (all zero) but no quantiles, which would be null.
func TestQuantilesAbsentWhenEmpty(t *testing.T) {
	s := synthetic(2, 2, testAsOf)
	f := s.Windows[1].ByServiceLine["line_00"]
	f.TimeToAppointment = kpi.Distribution{Buckets: make([]int64, len(s.Buckets))}
	s.Windows[1].ByServiceLine["line_00"] = f
	c, _ := collector(t, s, nil)
	mfs := gather(t, c)
	has := func(name, window, line string) bool {
		for _, m := range mfs[name].GetMetric() {
			if label(m, metrics.LabelWindow) == window && label(m, metrics.LabelServiceLine) == line {
				return true
			}
		}
		return false
	}
	if has("referral_time_to_appointment_quantile_seconds", "90d", "line_00") {
		t.Error("quantiles of an empty distribution are served")
	}
	if !has("referral_time_to_appointment_quantile_seconds", "30d", "line_00") || !has("referral_time_to_appointment_seconds", "90d", "line_00") {
		t.Error("a non-empty quantile summary or an empty histogram is missing")
	}
	for _, m := range mfs["referral_time_to_appointment_quantile_seconds"].GetMetric() {
		for _, q := range m.GetSummary().GetQuantile() {
			if q.GetQuantile() != 0.5 && q.GetQuantile() != 0.9 {
				t.Errorf("quantile %v served", q.GetQuantile())
			}
		}
	}
}

package metrics_test

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/metrics"
)

// seriesBudget bounds the series a 12-line, 20-location site costs with the
// default settings (issue 14: "a few thousand in all"). About 3,850 are the
// families before the stage, priority and payer KPIs; those cost about 1,200
// more because none carries the location and only the exact quantiles and
// the SLA counts, which the per-line dashboards and alerts read, pair the
// priority with the service line. The CMS50-style pair adds about 290: it
// keeps the location, as the 14-day closed-loop pair beside it does.
const seriesBudget = 5400

// TestSeriesBudget: the exporter serving BenchmarkScrape's snapshot (12
// service lines x 20 locations) stays within seriesBudget series, and the
// families of KPIS.md's stage, priority and payer section keep to the labels
// that budget assumes.
func TestSeriesBudget(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, _ := serveSnapshot(t, reg, synthetic(12, 20, testAsOf))
	mfs, err := e.Gatherer(reg).Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	perFamily := kpiSeries(mfs)
	for _, n := range perFamily {
		total += n
	}
	if total > seriesBudget {
		t.Errorf("%d series for 12 service lines x 20 locations, over the budget of %d: %v", total, seriesBudget, perFamily)
	}
	for _, f := range []metrics.Family{metrics.TimeToTriageSeconds, metrics.PriorityTimeToAppointmentSeconds,
		metrics.AuthTurnaroundSeconds, metrics.InfoTurnaroundSeconds,
		metrics.LeakedByPayerClassReferrals, metrics.LeakedByReasonReferrals} {
		if slices.Contains(f.Labels, metrics.LabelServiceLine) || slices.Contains(f.Labels, metrics.LabelLocation) {
			t.Errorf("%s has labels %v: its histogram buckets or values times the service lines would break the budget", f.Name, f.Labels)
		}
		if perFamily[f.Name] == 0 {
			t.Errorf("%s serves no series: the count above leaves it out", f.Name)
		}
	}
}

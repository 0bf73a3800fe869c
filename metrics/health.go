package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// health is the exporter's own metrics; their names and help come from the
// catalog like the KPI families'.
type health struct {
	lastSuccess prometheus.Gauge
	asOf        prometheus.Gauge
	errors      prometheus.Counter
	duration    prometheus.Histogram
	series      *prometheus.GaugeVec
	dropped     *prometheus.CounterVec
}

func newHealth(reg prometheus.Registerer) *health {
	h := &health{
		lastSuccess: prometheus.NewGauge(gaugeOpts("referralops_kpi_last_success_timestamp_seconds")),
		asOf:        prometheus.NewGauge(gaugeOpts("referralops_kpi_snapshot_as_of_timestamp_seconds")),
		errors:      prometheus.NewCounter(counterOpts("referralops_kpi_refresh_errors_total")),
		series:      prometheus.NewGaugeVec(gaugeOpts("referralops_kpi_series"), []string{LabelFamily}),
		dropped:     prometheus.NewCounterVec(counterOpts("referralops_kpi_series_dropped_total"), []string{LabelFamily}),
	}
	f := mustLookup("referralops_kpi_refresh_duration_seconds")
	// 10 ms to about 3 minutes: a healthy refresh takes well under a second,
	// the default timeout is two minutes.
	h.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: f.Name, Help: f.Help, Buckets: prometheus.ExponentialBuckets(0.01, 2, 15)})
	// Every family shows 0 from the start, so "nothing dropped" is a value,
	// not a missing series.
	for _, f := range Catalog {
		if f.Kind != KindExporter {
			h.series.WithLabelValues(f.Name)
			h.dropped.WithLabelValues(f.Name)
		}
	}
	reg.MustRegister(h.lastSuccess, h.asOf, h.errors, h.duration, h.series, h.dropped)
	return h
}

func gaugeOpts(name string) prometheus.GaugeOpts {
	f := mustLookup(name)
	return prometheus.GaugeOpts{Name: f.Name, Help: f.Help}
}

func counterOpts(name string) prometheus.CounterOpts {
	f := mustLookup(name)
	return prometheus.CounterOpts{Name: f.Name, Help: f.Help}
}

// record sets the series gauges and adds the drops of a new snapshot.
func (h *health) record(st Stats) {
	for _, f := range Catalog {
		if f.Kind != KindExporter {
			h.series.WithLabelValues(f.Name).Set(float64(st.Series[f.Name]))
			h.dropped.WithLabelValues(f.Name).Add(float64(st.Dropped[f.Name]))
		}
	}
}

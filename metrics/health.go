package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// health is the exporter's own metrics; their names and help come from the
// catalog like the KPI families'.
type health struct {
	lastSuccess prometheus.Gauge
	asOf        prometheus.Gauge
	referrersAt prometheus.Gauge
	errors      prometheus.Counter
	duration    prometheus.Histogram
	series      *prometheus.GaugeVec
	dropped     *prometheus.CounterVec
}

func newHealth(reg prometheus.Registerer) *health {
	h := &health{
		lastSuccess: prometheus.NewGauge(gaugeOpts(KPILastSuccessTimestampSeconds)),
		asOf:        prometheus.NewGauge(gaugeOpts(KPISnapshotAsOfTimestampSeconds)),
		referrersAt: prometheus.NewGauge(gaugeOpts(KPIReferrersAsOfTimestampSeconds)),
		errors:      prometheus.NewCounter(counterOpts(KPIRefreshErrorsTotal)),
		series:      prometheus.NewGaugeVec(gaugeOpts(KPISeries), KPISeries.Labels),
		dropped:     prometheus.NewCounterVec(counterOpts(KPISeriesDroppedTotal), KPISeriesDroppedTotal.Labels),
		// 10 ms to about 3 minutes: a healthy refresh takes well under a
		// second, the default timeout is two minutes.
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: KPIRefreshDurationSeconds.Name,
			Help: KPIRefreshDurationSeconds.Help, Buckets: prometheus.ExponentialBuckets(0.01, 2, 15)}),
	}
	// Every family shows 0 from the start, so "nothing dropped" is a value,
	// not a missing series.
	for _, f := range Catalog {
		if f.Kind != KindExporter {
			h.series.WithLabelValues(f.Name)
			h.dropped.WithLabelValues(f.Name)
		}
	}
	reg.MustRegister(h.lastSuccess, h.asOf, h.referrersAt, h.errors, h.duration, h.series, h.dropped)
	return h
}

func gaugeOpts(f Family) prometheus.GaugeOpts {
	return prometheus.GaugeOpts{Name: f.Name, Help: f.Help}
}

func counterOpts(f Family) prometheus.CounterOpts {
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

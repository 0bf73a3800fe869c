package mllp

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	messages     *prometheus.CounterVec
	connections  prometheus.Gauge
	refused      prometheus.Counter
	writeSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "referralops_mllp_messages_total",
			Help: "HL7 v2 messages received over MLLP, by the acknowledgement code sent (AA stored, AE Kafka failed, AR rejected).",
		}, []string{"ack"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "referralops_mllp_connections",
			Help: "Open MLLP connections.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "referralops_mllp_connections_refused_total",
			Help: "Connections closed on accept because max-connections were open.",
		}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "referralops_mllp_kafka_write_seconds",
			Help:    "Time from a message's receipt to Kafka's acknowledgement (or failure).",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
	}
	// Series that move only on failures start at zero.
	for _, code := range []string{"AA", "AE", "AR"} {
		m.messages.WithLabelValues(code)
	}
	reg.MustRegister(m.messages, m.connections, m.refused, m.writeSeconds)
	return m
}

package ingest

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

// Outcomes of a consumed record, the values of the outcome label.
const (
	outcomeStored       = "stored"
	outcomeDeadLettered = "dead_lettered"
	outcomeSkipped      = "skipped" // a standard message that carries no referral work
)

// ingestMetrics are the ingester's self-metrics, built from their declaration
// in package selfmetrics (names, help, types and labels), which the dashboards
// and alert rules read too.
type ingestMetrics struct {
	records            *prometheus.CounterVec
	deadLetters        *prometheus.CounterVec
	skipped            *prometheus.CounterVec
	events             *prometheus.CounterVec
	batchRows          prometheus.Histogram
	flushSeconds       prometheus.Histogram
	clickhouseErrors   prometheus.Counter
	insertErrors       *prometheus.CounterVec
	deadLetterErrors   prometheus.Counter
	deadLettersReduced *prometheus.CounterVec
	commitErrors       prometheus.Counter
	fetchErrors        *prometheus.CounterVec
	lag                *prometheus.GaugeVec
	lastCommit         prometheus.Gauge
	lastProgress       prometheus.Gauge
	assignedPartitions prometheus.Gauge
	rebalances         prometheus.Counter
	offsetOutOfRange   *prometheus.CounterVec
	bufferedBytes      prometheus.Gauge
	bufferedPeakBytes  prometheus.Gauge
	// patientOrderRechecks: referrals by recheck result (recheck.go)
	patientOrderRechecks *prometheus.CounterVec
	// the KPI state passes (kpistate.go)
	kpiStatePasses    *prometheus.CounterVec
	kpiStateReferrals prometheus.Counter
	kpiStateCovered   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *ingestMetrics {
	m := &ingestMetrics{
		records:     prometheus.NewCounterVec(counterOpts(selfmetrics.IngestRecords), labels(selfmetrics.IngestRecords)),
		deadLetters: prometheus.NewCounterVec(counterOpts(selfmetrics.IngestDeadLetters), labels(selfmetrics.IngestDeadLetters)),
		skipped:     prometheus.NewCounterVec(counterOpts(selfmetrics.IngestSkipped), labels(selfmetrics.IngestSkipped)),
		events:      prometheus.NewCounterVec(counterOpts(selfmetrics.IngestEvents), labels(selfmetrics.IngestEvents)),
		batchRows:   prometheus.NewHistogram(histogramOpts(selfmetrics.IngestBatchRows, prometheus.ExponentialBuckets(1, 4, 10))),
		flushSeconds: prometheus.NewHistogram(histogramOpts(selfmetrics.IngestFlushSeconds,
			prometheus.ExponentialBuckets(0.005, 2, 14))),
		clickhouseErrors:   prometheus.NewCounter(counterOpts(selfmetrics.IngestClickHouseErrors)),
		insertErrors:       prometheus.NewCounterVec(counterOpts(selfmetrics.IngestInsertErrors), labels(selfmetrics.IngestInsertErrors)),
		deadLetterErrors:   prometheus.NewCounter(counterOpts(selfmetrics.IngestDeadLetterErrors)),
		deadLettersReduced: prometheus.NewCounterVec(counterOpts(selfmetrics.IngestDeadLettersReduced), labels(selfmetrics.IngestDeadLettersReduced)),
		commitErrors:       prometheus.NewCounter(counterOpts(selfmetrics.IngestCommitErrors)),
		fetchErrors:        prometheus.NewCounterVec(counterOpts(selfmetrics.IngestFetchErrors), labels(selfmetrics.IngestFetchErrors)),
		lag:                prometheus.NewGaugeVec(gaugeOpts(selfmetrics.IngestConsumerLag), labels(selfmetrics.IngestConsumerLag)),
		lastCommit:         prometheus.NewGauge(gaugeOpts(selfmetrics.IngestLastCommit)),
		lastProgress:       prometheus.NewGauge(gaugeOpts(selfmetrics.IngestLastProgress)),
		assignedPartitions: prometheus.NewGauge(gaugeOpts(selfmetrics.IngestAssignedPartitions)),
		rebalances:         prometheus.NewCounter(counterOpts(selfmetrics.IngestGenerations)),
		offsetOutOfRange:   prometheus.NewCounterVec(counterOpts(selfmetrics.IngestOffsetOutOfRange), labels(selfmetrics.IngestOffsetOutOfRange)),
		bufferedBytes:      prometheus.NewGauge(gaugeOpts(selfmetrics.IngestBufferedBytes)),
		bufferedPeakBytes:  prometheus.NewGauge(gaugeOpts(selfmetrics.IngestBufferedPeakBytes)),
		patientOrderRechecks: prometheus.NewCounterVec(counterOpts(selfmetrics.IngestPatientOrderRechecks),
			labels(selfmetrics.IngestPatientOrderRechecks)),
		kpiStatePasses:    prometheus.NewCounterVec(counterOpts(selfmetrics.IngestKPIStatePasses), labels(selfmetrics.IngestKPIStatePasses)),
		kpiStateReferrals: prometheus.NewCounter(counterOpts(selfmetrics.IngestKPIStateReferrals)),
		kpiStateCovered:   prometheus.NewGauge(gaugeOpts(selfmetrics.IngestKPIStateCovered)),
	}
	// Every format's series start at zero, read or not: the set is small and
	// fixed, and dashboards then show a feed that is not flowing.
	for _, f := range []string{formatCloudEvents, string(mapping.FormatHL7v2), string(mapping.FormatFHIR)} {
		m.events.WithLabelValues(f)
	}
	for _, f := range []mapping.Format{mapping.FormatHL7v2, mapping.FormatFHIR} {
		for _, r := range mapping.SkipReasons() {
			m.skipped.WithLabelValues(string(f), string(r))
		}
	}
	reg.MustRegister(m.records, m.deadLetters, m.skipped, m.events, m.batchRows, m.flushSeconds, m.clickhouseErrors, m.insertErrors,
		m.deadLetterErrors, m.deadLettersReduced, m.commitErrors, m.fetchErrors, m.lag, m.lastCommit, m.lastProgress, m.assignedPartitions, m.rebalances,
		m.offsetOutOfRange, m.bufferedBytes, m.bufferedPeakBytes, m.patientOrderRechecks, m.kpiStatePasses, m.kpiStateReferrals, m.kpiStateCovered)
	return m
}

// The option builders refuse a declaration of another type, so a metric
// declared a gauge cannot be served as a counter.

func counterOpts(m selfmetrics.Metric) prometheus.CounterOpts {
	mustBe(m, selfmetrics.Counter)
	return prometheus.CounterOpts{Name: m.Name, Help: m.Help}
}

func gaugeOpts(m selfmetrics.Metric) prometheus.GaugeOpts {
	mustBe(m, selfmetrics.Gauge)
	return prometheus.GaugeOpts{Name: m.Name, Help: m.Help}
}

func histogramOpts(m selfmetrics.Metric, buckets []float64) prometheus.HistogramOpts {
	mustBe(m, selfmetrics.Histogram)
	return prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: buckets}
}

// labels are a declaration's labels; a copy, since the client keeps the slice.
func labels(m selfmetrics.Metric) []string { return slices.Clone(m.Labels) }

func mustBe(m selfmetrics.Metric, t selfmetrics.Type) {
	if m.Type != t {
		panic(fmt.Sprintf("ingest: %s is declared a %s, built as a %s", m.Name, m.Type, t))
	}
}

func partitionLabel(p int) string { return strconv.Itoa(p) }

package ingest

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a consumed record, the values of the outcome label.
const (
	outcomeStored       = "stored"
	outcomeDeadLettered = "dead_lettered"
)

// ingestMetrics are the ingester's self-metrics. Labels are topics, partitions,
// outcomes and dead-letter reasons only: never an id.
type ingestMetrics struct {
	records            *prometheus.CounterVec
	deadLetters        *prometheus.CounterVec
	batchRows          prometheus.Histogram
	flushSeconds       prometheus.Histogram
	clickhouseErrors   prometheus.Counter
	deadLetterErrors   prometheus.Counter
	commitErrors       prometheus.Counter
	fetchErrors        *prometheus.CounterVec
	lag                *prometheus.GaugeVec
	lastCommit         prometheus.Gauge
	assignedPartitions prometheus.Gauge
	rebalances         prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *ingestMetrics {
	const ns, sub = "referralops", "ingest"
	m := &ingestMetrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "records_total",
			Help: "Kafka records consumed and settled, by topic and outcome (stored in ClickHouse or dead-lettered).",
		}, []string{"topic", "outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letters_total",
			Help: "Invalid records written to the dead-letter topic, by reason.",
		}, []string{"reason"}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "batch_rows",
			Help:    "Records per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "flush_seconds",
			Help:    "Time to settle a batch: ClickHouse insert, dead-letter write and offset commit, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		clickhouseErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "clickhouse_errors_total",
			Help: "Failed ClickHouse inserts and pings (each retry counts).",
		}),
		deadLetterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letter_errors_total",
			Help: "Failed writes to the dead-letter topic (each retry counts).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "commit_errors_total",
			Help: "Failed offset commits; their records are delivered again and deduplicated.",
		}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "fetch_errors_total",
			Help: "Failed Kafka fetches, by topic.",
		}, []string{"topic"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "consumer_lag",
			Help: "Records between the partition's high watermark and the group's committed offset, for partitions assigned to this ingester.",
		}, []string{"topic", "partition"}),
		lastCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "last_commit_timestamp_seconds",
			Help: "Unix time of the last successful offset commit.",
		}),
		assignedPartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "assigned_partitions",
			Help: "Partitions assigned to this ingester in the current generation.",
		}),
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "generations_total",
			Help: "Consumer group generations joined (rebalances).",
		}),
	}
	reg.MustRegister(m.records, m.deadLetters, m.batchRows, m.flushSeconds, m.clickhouseErrors,
		m.deadLetterErrors, m.commitErrors, m.fetchErrors, m.lag, m.lastCommit, m.assignedPartitions, m.rebalances)
	return m
}

func partitionLabel(p int) string { return strconv.Itoa(p) }

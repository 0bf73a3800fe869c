// Package selfmetrics declares the ingester's own metrics as data, in the
// style of metrics.Catalog: name, help, type and labels. Package ingest builds
// its collectors from these values, and the dashboards and alert rules name
// them, so a panel or rule learns an ingester metric's name without importing
// package ingest (and with it kafka-go and the ClickHouse driver); a rename
// changes both sides at once.
//
// It also defines Type, the metric type that metrics.Catalog uses too. It
// imports only the standard library so that any package may depend on it.
//
// It does not register or serve anything: package ingest does. The KPI
// exporter's own metrics are in metrics.Catalog, which the README's metrics
// reference lists.
package selfmetrics

import "time"

// Type is a metric's Prometheus type.
type Type string

// The metric types.
const (
	Gauge     Type = "gauge"
	Counter   Type = "counter"
	Histogram Type = "histogram"
	Summary   Type = "summary"
)

// Metric is one metric family a component serves about itself.
type Metric struct {
	Name string
	Help string
	Type Type
	// Labels in order; a histogram adds le.
	Labels []string
}

// Label names of the ingester's metrics: topics, partitions, outcomes,
// dead-letter and skip reasons and input formats only, never an id.
const (
	LabelTopic     = "topic"
	LabelPartition = "partition"
	LabelOutcome   = "outcome"
	LabelReason    = "reason"
	// LabelCode, LabelShard and LabelReplica say where an INSERT failed: the
	// ClickHouse exception code and, on a cluster, the server's place in it.
	LabelCode    = "code"
	LabelShard   = "shard"
	LabelReplica = "replica"
	// LabelFormat is the input format: cloudevents, hl7v2, fhir.
	LabelFormat = "format"
	// LabelHow says how a dead letter was reduced to fit.
	LabelHow = "how"
)

// StallAfter is how long records may wait with nothing committed before an
// ingester counts as stalled: the default of its --stall-timeout (/readyz)
// and the window of the ReferralopsIngestStalled alert, which reads
// IngestLastProgress.
const StallAfter = 5 * time.Minute

// The ingester's metrics.
var (
	IngestRecords = Metric{Name: "referralops_ingest_records_total", Type: Counter, Labels: []string{LabelTopic, LabelOutcome},
		Help: "Kafka records consumed and settled, by topic and outcome (stored in ClickHouse, dead-lettered, or skipped: an HL7 v2/FHIR message with no referral work)."}
	IngestDeadLetters = Metric{Name: "referralops_ingest_dead_letters_total", Type: Counter, Labels: []string{LabelReason},
		Help: "Invalid records written to the dead-letter topic, by reason."}
	IngestSkipped = Metric{Name: "referralops_ingest_skipped_total", Type: Counter, Labels: []string{LabelFormat, LabelReason},
		Help: "HL7 v2 and FHIR records that carry no referral work (committed, not stored), by format and reason."}
	IngestEvents = Metric{Name: "referralops_ingest_events_total", Type: Counter, Labels: []string{LabelFormat},
		Help: "Events stored in ClickHouse, by input format (cloudevents, hl7v2, fhir; a FHIR Bundle may carry several)."}
	IngestBatchRows = Metric{Name: "referralops_ingest_batch_rows", Type: Histogram,
		Help: "Records per committed batch (the batches streamed into one INSERT, --insert-rows, are committed as one)."}
	IngestFlushSeconds = Metric{Name: "referralops_ingest_flush_seconds", Type: Histogram,
		Help: "Time to settle a committed batch: dead-letter writes, ClickHouse INSERT, patient-order refresh and offset commit, retries included."}
	IngestClickHouseErrors = Metric{Name: "referralops_ingest_clickhouse_errors_total", Type: Counter,
		Help: "Failed ClickHouse inserts and pings (each retry counts)."}
	IngestInsertErrors = Metric{Name: "referralops_ingest_insert_errors_total", Type: Counter, Labels: []string{LabelCode, LabelShard, LabelReplica},
		Help: "Failed ClickHouse inserts by exception code and, on a cluster, the shard and replica that refused them (empty on a single server, or when no server answered)."}
	IngestDeadLetterErrors = Metric{Name: "referralops_ingest_dead_letter_errors_total", Type: Counter,
		Help: "Failed writes to the dead-letter topic (each retry counts)."}
	IngestDeadLettersReduced = Metric{Name: "referralops_ingest_dead_letters_reduced_total", Type: Counter, Labels: []string{LabelHow},
		Help: "Dead letters reduced to fit the dead-letter topic, by how: original headers dropped, value cut, or a stub without key, value and headers (the broker refused the full one)."}
	IngestCommitErrors = Metric{Name: "referralops_ingest_commit_errors_total", Type: Counter,
		Help: "Failed offset commits; their records are delivered again and deduplicated."}
	IngestFetchErrors = Metric{Name: "referralops_ingest_fetch_errors_total", Type: Counter, Labels: []string{LabelTopic},
		Help: "Failed Kafka fetches, by topic."}
	IngestConsumerLag = Metric{Name: "referralops_ingest_consumer_lag", Type: Gauge, Labels: []string{LabelTopic, LabelPartition},
		Help: "Records between the partition's high watermark and the group's committed offset, for partitions assigned to this ingester."}
	IngestLastCommit = Metric{Name: "referralops_ingest_last_commit_timestamp_seconds", Type: Gauge,
		Help: "Unix time of the last successful offset commit."}
	IngestLastProgress = Metric{Name: "referralops_ingest_last_progress_timestamp_seconds", Type: Gauge,
		Help: "Unix time of the last progress: an offset commit, or a moment with no record waiting. Far behind now while consumer_lag > 0 means a stall."}
	IngestAssignedPartitions = Metric{Name: "referralops_ingest_assigned_partitions", Type: Gauge,
		Help: "Partitions assigned to this ingester in the current generation."}
	IngestGenerations = Metric{Name: "referralops_ingest_generations_total", Type: Counter,
		Help: "Consumer group generations joined (rebalances)."}
	IngestOffsetOutOfRange = Metric{Name: "referralops_ingest_offset_out_of_range_records_total", Type: Counter, Labels: []string{LabelTopic, LabelPartition},
		Help: "Records deleted from a partition (retention, or a records deletion) before the group consumed them, skipped under --offset-out-of-range=earliest: neither stored nor dead-lettered."}
	IngestBufferedBytes = Metric{Name: "referralops_ingest_buffered_bytes", Type: Gauge,
		Help: "Bytes of the records held between fetch and insert (fetched, decoded, batched, dead letters waiting), bounded by --max-buffered-bytes."}
	IngestBufferedPeakBytes = Metric{Name: "referralops_ingest_buffered_peak_bytes", Type: Gauge,
		Help: "The highest referralops_ingest_buffered_bytes since the ingester started."}
	IngestPatientOrderRechecks = Metric{Name: "referralops_ingest_patient_order_rechecks_total", Type: Counter, Labels: []string{LabelOutcome},
		Help: "Referrals whose patients' CMS50-style order was recomputed once more after --patient-order-recheck (outcome rechecked), failed to (failed: queued again), or were dropped from the full queue unrechecked (dropped)."}
	IngestKPIStatePasses = Metric{Name: "referralops_ingest_kpi_state_passes_total", Type: Counter, Labels: []string{LabelOutcome},
		Help: "Passes over the per-referral KPI state (--kpi-state-interval), by outcome: passed, or failed (the next pass does its work again)."}
	IngestKPIStateReferrals = Metric{Name: "referralops_ingest_kpi_state_referrals_total", Type: Counter,
		Help: "Referrals whose KPI state the passes rewrote (a referral stored again between two passes counts in both)."}
	IngestKPIStateCovered = Metric{Name: "referralops_ingest_kpi_state_covered_timestamp_seconds", Type: Gauge,
		Help: "Unix time up to which the last successful pass brought the KPI state: the KPI queries read the facts of the referrals stored since. Far behind now means the passes fail or lag."}
)

// Ingest is every metric the ingester registers, in registration order.
var Ingest = []Metric{
	IngestRecords, IngestDeadLetters, IngestSkipped, IngestEvents, IngestBatchRows, IngestFlushSeconds, IngestClickHouseErrors, IngestInsertErrors,
	IngestDeadLetterErrors, IngestDeadLettersReduced, IngestCommitErrors, IngestFetchErrors, IngestConsumerLag, IngestLastCommit,
	IngestLastProgress, IngestAssignedPartitions, IngestGenerations, IngestOffsetOutOfRange, IngestBufferedBytes, IngestBufferedPeakBytes,
	IngestPatientOrderRechecks, IngestKPIStatePasses, IngestKPIStateReferrals, IngestKPIStateCovered,
}

package rules

import (
	"github.com/referralops/referralops/metrics"
)

// Scrape job names the rules expect: the ingesters' and the KPI exporter's
// targets must be scraped under these job labels, or the down alerts fire.
const (
	JobIngest = "referralops-ingest"
	JobExport = "referralops-export"
)

// FileName is the rules file Write creates in its directory.
const FileName = "referralops.rules.yml"

// Rule group names. Each group holds the recording rules its alerts read, so
// an alert never waits an extra evaluation for a series of another group.
const (
	GroupKPI      = "referralops-kpi"
	GroupPipeline = "referralops-pipeline"
)

// Recorded series other than the ratios. Every KPI series keeps the window
// label where its source has one.
const (
	// TimeToAppointmentP90Target is the p90 time-to-appointment target of
	// each service line in seconds, labelled service_line: the lines with an
	// own target always, every other line that has a p90 with the default.
	TimeToAppointmentP90Target = "service_line:referral_time_to_appointment_p90_target:seconds"
	// UrgentTimeToAppointmentP90Target is the p90 time-to-appointment target
	// of each service line's urgent referrals in seconds, labelled
	// service_line, made like TimeToAppointmentP90Target.
	UrgentTimeToAppointmentP90Target = "service_line:referral_urgent_time_to_appointment_p90_target:seconds"
	// BacklogOver7Days is the unscheduled backlog older than 7 days (age
	// buckets 8-14d, 15-30d, 31d+) per service line, summed over locations.
	BacklogOver7Days = "service_line:referral_unscheduled_backlog_over_7d:sum"
	// IngestLagByTopic is the consumer lag per topic, summed over partitions
	// and ingesters (so it survives rebalances).
	IngestLagByTopic = "topic:referralops_ingest_consumer_lag:sum"
)

// Alert names other than the ratios' (each ratio's alert is named in its
// catalog entry, metrics.Alert).
const (
	AlertTimeToAppointmentAboveTarget = "ReferralTimeToAppointmentAboveTarget"
	AlertBacklogAboveTarget           = "ReferralUnscheduledBacklogAboveTarget"
	AlertUrgentTimeToAppointment      = "ReferralUrgentTimeToAppointmentAboveTarget"
	AlertUrgentTriageSLABreached      = "ReferralUrgentTriageSLABreached"
	AlertAuthTurnaroundAboveTarget    = "ReferralAuthTurnaroundAboveTarget"
	AlertCriticalReferrersGrowing     = "ReferralCriticalReferrersGrowing"
	AlertKPISnapshotStale             = "ReferralopsKPISnapshotStale"
	AlertIngestLagGrowing             = "ReferralopsIngestLagGrowing"
	AlertIngestStalled                = "ReferralopsIngestStalled"
	AlertDeadLettersIncreasing        = "ReferralopsDeadLettersIncreasing"
	AlertIngestRecordsSkipped         = "ReferralopsIngestRecordsSkipped"
	AlertIngesterDown                 = "ReferralopsIngesterDown"
	AlertExporterDown                 = "ReferralopsExporterDown"
)

// Values of the category label, which Alertmanager routes on; declared with
// the catalog, whose ratio alerts name theirs.
const (
	CategoryAccess   = metrics.CategoryAccess
	CategoryQuality  = metrics.CategoryQuality
	CategoryPipeline = metrics.CategoryPipeline
)

// Values of the severity label.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Ratio is one KPI ratio of the catalog and the series its recording rules
// write. Every recorded series is sum(numerator) / sum(denominator) over the
// same labels, and absent where the denominator is 0.
type Ratio struct {
	// Numerator is the catalog family that declares the ratio; its Ratio
	// holds the name, denominator, target and alert.
	Numerator metrics.Family
	// ByServiceLine is recorded by window and service_line.
	ByServiceLine string
	// Overall is recorded by window only.
	Overall string
	// BySource, for the source families only, is recorded by window,
	// referrer_type and referrer_network; empty otherwise.
	BySource string
}

// Ratios are the recorded ratios, in catalog order.
var Ratios = catalogRatios()

func catalogRatios() []Ratio {
	var rs []Ratio
	for _, f := range metrics.Catalog {
		if f.Ratio == nil {
			continue
		}
		name := f.Ratio.Name
		r := Ratio{
			Numerator:     f,
			ByServiceLine: metrics.LabelServiceLine + ":" + name + ":ratio",
			Overall:       metrics.LabelWindow + ":" + name + ":ratio",
		}
		if f.Kind == metrics.KindSource {
			r.BySource = metrics.LabelReferrerType + "_" + metrics.LabelReferrerNetwork + ":" + name + ":ratio"
		}
		rs = append(rs, r)
	}
	return rs
}

// RatioOf returns the recorded ratio of a numerator family.
func RatioOf(numerator metrics.Family) (Ratio, bool) {
	for _, r := range Ratios {
		if r.Numerator.Name == numerator.Name {
			return r, true
		}
	}
	return Ratio{}, false
}

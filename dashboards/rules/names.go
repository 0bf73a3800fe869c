package rules

import (
	"fmt"

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
	// BacklogOver7Days is the unscheduled backlog older than 7 days (age
	// buckets 8-14d, 15-30d, 31d+) per service line, summed over locations.
	BacklogOver7Days = "service_line:referral_unscheduled_backlog_over_7d:sum"
	// IngestLagByTopic is the consumer lag per topic, summed over partitions
	// and ingesters (so it survives rebalances).
	IngestLagByTopic = "topic:referralops_ingest_consumer_lag:sum"
)

// Alert names.
const (
	AlertTimeToAppointmentAboveTarget = "ReferralTimeToAppointmentAboveTarget"
	AlertBacklogAboveTarget           = "ReferralUnscheduledBacklogAboveTarget"
	AlertNoShowRateAboveTarget        = "ReferralNoShowRateAboveTarget"
	AlertAuthDenialRateAboveTarget    = "ReferralAuthDenialRateAboveTarget"
	AlertClosedLoopRateBelowTarget    = "ReferralClosedLoopRateBelowTarget"
	AlertLeakageRateAboveTarget       = "ReferralLeakageRateAboveTarget"
	AlertIncompleteRateAboveTarget    = "ReferralIncompleteRateAboveTarget"
	AlertKPISnapshotStale             = "ReferralopsKPISnapshotStale"
	AlertIngestLagGrowing             = "ReferralopsIngestLagGrowing"
	AlertDeadLettersIncreasing        = "ReferralopsDeadLettersIncreasing"
	AlertIngesterDown                 = "ReferralopsIngesterDown"
	AlertExporterDown                 = "ReferralopsExporterDown"
)

// Values of the category label, which Alertmanager routes on.
const (
	// CategoryAccess: patients wait too long or miss care; for the
	// operations (intake and scheduling) team.
	CategoryAccess = "access"
	// CategoryQuality: the referral network works badly (leakage, open
	// loops, incomplete referrals); for service line management.
	CategoryQuality = "quality"
	// CategoryPipeline: the metrics themselves are late or wrong; for
	// whoever runs referralops.
	CategoryPipeline = "pipeline"
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
	// Name is the ratio's metric name, the middle of its recorded names.
	Name string
	// Numerator and Denominator are catalog families.
	Numerator, Denominator string
	// ByServiceLine is recorded by window and service_line.
	ByServiceLine string
	// Overall is recorded by window only.
	Overall string
	// BySource, for the source families only, is recorded by window,
	// referrer_type and referrer_network; empty otherwise.
	BySource string
}

// ratioNames names the ratio of each numerator family of the catalog. A
// catalog ratio missing here makes the package panic at init, so the rules
// cannot silently skip a new KPI.
var ratioNames = map[string]string{
	"referral_scheduled_referrals":       "referral_scheduled_conversion",
	"referral_completed_referrals":       "referral_completed_conversion",
	"referral_leaked_referrals":          "referral_leakage",
	"referral_internal_leaked_referrals": "referral_internal_leakage",
	"referral_incomplete_referrals":      "referral_incomplete",
	"referral_loop_closed_referrals":     "referral_closed_loop",
	"referral_no_show_appointments":      "referral_no_show",
	"referral_auth_denied_decisions":     "referral_auth_denial",
	"referral_source_leaked_referrals":   "referral_source_leakage",
}

// Ratios are the recorded ratios, in catalog order.
var Ratios = catalogRatios()

func catalogRatios() []Ratio {
	var rs []Ratio
	for _, f := range metrics.Catalog {
		if f.Denominator == "" {
			continue
		}
		name, ok := ratioNames[f.Name]
		if !ok {
			panic(fmt.Sprintf("rules: catalog ratio %s / %s has no name in ratioNames", f.Name, f.Denominator))
		}
		r := Ratio{
			Name: name, Numerator: f.Name, Denominator: f.Denominator,
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

// RatioOf returns the ratio whose numerator is the given catalog family.
func RatioOf(numerator string) (Ratio, bool) {
	for _, r := range Ratios {
		if r.Numerator == numerator {
			return r, true
		}
	}
	return Ratio{}, false
}

// mustRatio is RatioOf for the numerators the alerts use.
func mustRatio(numerator string) Ratio {
	r, ok := RatioOf(numerator)
	if !ok {
		panic("rules: no ratio with numerator " + numerator)
	}
	return r
}

package metrics

import "github.com/referralops/referralops/metrics/kpi"

// Type is a family's Prometheus metric type.
type Type string

// The metric types the catalog uses.
const (
	Gauge     Type = "gauge"
	Counter   Type = "counter"
	Histogram Type = "histogram"
	Summary   Type = "summary"
)

// Kind says which part of a snapshot a family's series come from, and so its
// labels.
type Kind string

// The kinds of family.
const (
	// KindCohort: a count per window, service line and location.
	KindCohort Kind = "cohort"
	// KindSource: a count per window, service line, referrer type and network.
	KindSource Kind = "source"
	// KindHistogram: a duration distribution per window and service line.
	KindHistogram Kind = "histogram"
	// KindQuantiles: the distribution's exact p50 and p90 per window and service
	// line, as a summary (the quantile label is a summary's; absent when the
	// distribution is empty).
	KindQuantiles Kind = "quantiles"
	// KindBacklog: the unscheduled backlog per service line, location and age.
	KindBacklog Kind = "backlog"
	// KindReferrers: referrers per type and activity state.
	KindReferrers Kind = "referrers"
	// KindExporter: the exporter's own health, not a KPI.
	KindExporter Kind = "exporter"
)

// Label names. The dimension labels are named as kpi names its dimensions.
const (
	LabelWindow          = "window"
	LabelServiceLine     = string(kpi.ServiceLine)
	LabelLocation        = string(kpi.Location)
	LabelReferrerType    = string(kpi.ReferrerType)
	LabelReferrerNetwork = string(kpi.ReferrerNetwork)
	LabelAgeBucket       = "age_bucket"
	LabelState           = "state"
	LabelFamily          = "family"
)

// OtherLocation is the location label of every location that is not on the
// allow-list or not among the top N by volume; its series are their sums.
const OtherLocation = "other"

// Family is one metric family: what the exporter serves under one name.
type Family struct {
	Name string
	Help string
	Type Type
	// Unit is what the value counts or measures (its base unit).
	Unit string
	// Labels in order; a histogram adds le, a summary quantile.
	Labels []string
	Kind   Kind
	// KPI is the field of `referralops kpi --format json` (KPIS.md) the family
	// carries; empty for the exporter's own families.
	KPI string
	// Denominator, when the family is the numerator of a KPIS.md ratio, is the
	// family to divide it by (both summed over the same labels).
	Denominator string
	// Count reads a cohort or source family's value from a group's fields.
	Count func(kpi.Fields) int64
	// Distribution reads a histogram or quantiles family's durations.
	Distribution func(kpi.Fields) kpi.Distribution
}

var (
	cohortLabels       = []string{LabelWindow, LabelServiceLine, LabelLocation}
	sourceLabels       = []string{LabelWindow, LabelServiceLine, LabelReferrerType, LabelReferrerNetwork}
	distributionLabels = []string{LabelWindow, LabelServiceLine}
)

// Catalog is every family the exporter serves, KPI families first.
var Catalog = []Family{
	cohort("referral_referrals", "referrals", "", "referrals",
		"Referrals created in the window (T-W, T]: the cohort C.",
		func(f kpi.Fields) int64 { return f.Referrals }),
	cohort("referral_scheduled_referrals", "scheduled", "referral_referrals", "referrals",
		"Referrals of the cohort booked by T.",
		func(f kpi.Fields) int64 { return f.Scheduled }),
	cohort("referral_completed_referrals", "completed", "referral_referrals", "referrals",
		"Referrals of the cohort with a completed appointment by T.",
		func(f kpi.Fields) int64 { return f.Completed }),
	cohort("referral_leaked_referrals", "leaked", "referral_referrals", "referrals",
		"Referrals of the cohort that leaked by T: final destination out of network, or a referral.leaked event.",
		func(f kpi.Fields) int64 { return f.Leaked }),
	cohort("referral_internal_referrals", "internal_referrals", "", "referrals",
		"Referrals of the cohort from in-network referrers (referrer_network in).",
		func(f kpi.Fields) int64 { return f.InternalReferrals }),
	cohort("referral_internal_leaked_referrals", "internal_leaked", "referral_internal_referrals", "referrals",
		"Leaked referrals of the cohort from in-network referrers.",
		func(f kpi.Fields) int64 { return f.InternalLeaked }),
	cohort("referral_incomplete_referrals", "incomplete", "referral_referrals", "referrals",
		"Referrals of the cohort with a referral.info_requested by T.",
		func(f kpi.Fields) int64 { return f.Incomplete }),
	cohort("referral_loop_cohort_referrals", "loop_cohort", "", "referrals",
		"Referrals with their first completed visit in (T-W-14d, T-14d]: the matured closed-loop cohort L.",
		func(f kpi.Fields) int64 { return f.LoopCohort }),
	cohort("referral_loop_closed_referrals", "loop_closed_14d", "referral_loop_cohort_referrals", "referrals",
		"Referrals of the closed-loop cohort whose consult note was sent within 14 days of the first completed visit.",
		func(f kpi.Fields) int64 { return f.LoopClosed14d }),
	cohort("referral_kept_or_missed_appointments", "appointments_kept_or_missed", "", "appointments",
		"Appointments with their slot in the window and status completed or no_show as of T.",
		func(f kpi.Fields) int64 { return f.AppointmentsKeptOrMissed }),
	cohort("referral_no_show_appointments", "no_shows", "referral_kept_or_missed_appointments", "appointments",
		"Appointments with their slot in the window and status no_show as of T.",
		func(f kpi.Fields) int64 { return f.NoShows }),
	cohort("referral_auth_decisions", "auth_decisions", "", "decisions",
		"Prior-authorization decisions (approved or denied) made in the window.",
		func(f kpi.Fields) int64 { return f.AuthDecisions }),
	cohort("referral_auth_denied_decisions", "auth_denied", "referral_auth_decisions", "decisions",
		"Prior-authorization denials made in the window.",
		func(f kpi.Fields) int64 { return f.AuthDenied }),

	distribution(KindHistogram, "referral_time_to_schedule_seconds", "time_to_schedule",
		"Time from referral to first booking over the cohort's booked referrals; a snapshot of the window, use without rate().",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToSchedule }),
	distribution(KindHistogram, "referral_time_to_appointment_seconds", "time_to_appointment",
		"Time from referral to its earliest appointment slot not cancelled (access) over the cohort; a snapshot of the window, use without rate().",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment }),
	distribution(KindQuantiles, "referral_time_to_schedule_quantile_seconds", "time_to_schedule_p50_seconds, time_to_schedule_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to schedule over the cohort; absent when no referral of it is booked. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToSchedule }),
	distribution(KindQuantiles, "referral_time_to_appointment_quantile_seconds", "time_to_appointment_p50_seconds, time_to_appointment_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to appointment over the cohort; absent when no referral of it has a slot. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment }),

	source("referral_source_referrals", "referrals", "",
		"Referrals of the cohort by source: referrer type and network.",
		func(f kpi.Fields) int64 { return f.Referrals }),
	source("referral_source_leaked_referrals", "leaked", "referral_source_referrals",
		"Leaked referrals of the cohort by source: referrer type and network.",
		func(f kpi.Fields) int64 { return f.Leaked }),

	{
		Name: "referral_unscheduled_backlog_referrals", Type: Gauge, Unit: "referrals", Kind: KindBacklog, KPI: "backlog",
		Labels: []string{LabelServiceLine, LabelLocation, LabelAgeBucket},
		Help:   "Open referrals created in the last 365 days, not leaked and not booked by T, by age in whole days (no window).",
	},
	{
		Name: "referral_referrers", Type: Gauge, Unit: "referrers", Kind: KindReferrers, KPI: "referrers",
		Labels: []string{LabelReferrerType, LabelState},
		Help:   "Referrers by activity state (new, active, fading, inactive) from their referrals of the last 365 days, by referrer type.",
	},

	exporter("referralops_kpi_last_success_timestamp_seconds", Gauge, "seconds",
		"Unix time of the last successful KPI snapshot refresh; 0 before the first. Stops advancing while refreshes fail."),
	exporter("referralops_kpi_snapshot_as_of_timestamp_seconds", Gauge, "seconds",
		"Evaluation time T of the KPI snapshot being served, Unix seconds; 0 before the first."),
	exporter("referralops_kpi_refresh_errors_total", Counter, "refreshes",
		"Failed KPI snapshot refreshes; the previous snapshot keeps being served."),
	exporter("referralops_kpi_refresh_duration_seconds", Histogram, "seconds",
		"Time taken by KPI snapshot refreshes, failed ones included."),
	exporter("referralops_kpi_series", Gauge, "series",
		"KPI series served from the current snapshot, by family.", LabelFamily),
	exporter("referralops_kpi_series_dropped_total", Counter, "series",
		"KPI series left out because their family exceeded --max-series-per-family (or a label value was not UTF-8), summed over refreshes.", LabelFamily),
}

func cohort(name, field, denominator, unit, help string, count func(kpi.Fields) int64) Family {
	return Family{Name: name, Help: help + " By window, service line and location.", Type: Gauge, Unit: unit,
		Labels: cohortLabels, Kind: KindCohort, KPI: field, Denominator: denominator, Count: count}
}

func source(name, field, denominator, help string, count func(kpi.Fields) int64) Family {
	return Family{Name: name, Help: help, Type: Gauge, Unit: "referrals",
		Labels: sourceLabels, Kind: KindSource, KPI: field, Denominator: denominator, Count: count}
}

func distribution(kind Kind, name, field, help string, d func(kpi.Fields) kpi.Distribution) Family {
	t := Histogram
	if kind == KindQuantiles {
		t = Summary
	}
	return Family{Name: name, Help: help, Type: t, Unit: "seconds",
		Labels: distributionLabels, Kind: kind, KPI: field, Distribution: d}
}

func exporter(name string, t Type, unit, help string, labels ...string) Family {
	return Family{Name: name, Help: help, Type: t, Unit: unit, Labels: labels, Kind: KindExporter}
}

// Lookup finds a family of the catalog by name.
func Lookup(name string) (Family, bool) {
	for _, f := range Catalog {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// mustLookup is Lookup for names the package itself uses.
func mustLookup(name string) Family {
	f, ok := Lookup(name)
	if !ok {
		panic("metrics: no family " + name + " in the catalog")
	}
	return f
}

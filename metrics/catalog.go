package metrics

import (
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

// Type is a family's Prometheus metric type, the one selfmetrics declares
// the ingester's metrics with.
type Type = selfmetrics.Type

// The metric types the catalog uses.
const (
	Gauge     = selfmetrics.Gauge
	Counter   = selfmetrics.Counter
	Histogram = selfmetrics.Histogram
	Summary   = selfmetrics.Summary
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
	// KindPriorityHistogram: a duration distribution per window and priority.
	KindPriorityHistogram Kind = "priority_histogram"
	// KindSiteHistogram: a duration distribution per window over every
	// referral (the totals), for stages whose per-line view is the exact
	// quantiles.
	KindSiteHistogram Kind = "site_histogram"
	// KindPriorityQuantiles: the distribution's exact p50 and p90 per window,
	// service line and priority, as a summary (absent when empty): access
	// targets differ by priority and by line.
	KindPriorityQuantiles Kind = "priority_quantiles"
	// KindPriority: a count per window, service line and priority.
	KindPriority Kind = "priority"
	// KindLeakedBy: leaked referrals per window and one more label (payer
	// class or leak reason) over every referral, read from a count per label
	// value.
	KindLeakedBy Kind = "leaked_by"
	// KindBacklog: the unscheduled backlog per service line, location and age.
	KindBacklog Kind = "backlog"
	// KindReferrers: referrers per type and activity state.
	KindReferrers Kind = "referrers"
	// KindAttention: referrers per type and attention level.
	KindAttention Kind = "attention"
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
	LabelLevel           = "level"
	LabelFamily          = "family"
	LabelPriority        = string(kpi.Priority)
	LabelPayerClass      = string(kpi.PayerClass)
	LabelReason          = "reason"
)

// OtherLocation is the location label of every location that is not on the
// allow-list or not among the top N by volume; its series are their sums.
const OtherLocation = "other"

// Family is one metric family: what the exporter serves under one name.
// Dashboards and rules name families by these values (metrics.Referrals),
// never by a string, so a renamed family cannot leave a dead panel or rule.
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
	// Ratio, when the family is the numerator of a KPIS.md ratio, says how
	// the ratio is divided, named, judged and alerted on.
	Ratio *Ratio
	// Count reads a cohort or source family's value from a group's fields.
	Count func(kpi.Fields) int64
	// Distribution reads a histogram or quantiles family's durations.
	Distribution func(kpi.Fields) kpi.Distribution
	// Values, of a KindLeakedBy family, are its last label's values, each
	// served (0 when the group has none); By reads a group's count of each.
	Values []string
	By     func(kpi.Fields) map[string]int64
}

// Ratio is a KPIS.md ratio: its numerator family (the one that declares it)
// divided by Denominator, both summed over the same labels. The recording
// rules, the dashboards' ratio panels and thresholds, the rate alerts and the
// README's "ratio: divide by" column all read it.
type Ratio struct {
	// Name is the ratio's metric name (referral_closed_loop), the middle of
	// the names its recording rules write.
	Name string
	// Denominator is the family to divide by, with the numerator's labels and
	// unit.
	Denominator Family
	// Target, when set, is the operating target the dashboards mark and the
	// Alert fires on; the target says which side of it is bad. Ratios without
	// one (the conversions) are shown, not judged.
	Target *RateTarget
	// Alert, when set, fires per service line whose ratio is on the bad side
	// of Target; it requires a Target.
	Alert *Alert
}

// Alert is the alerting rule of a ratio.
type Alert struct {
	// Name is the alert's name, and the heading of its section in
	// docs/runbooks.md.
	Name string
	// Category is the alert's category label: CategoryAccess or
	// CategoryQuality.
	Category string
	// What names the ratio in the alert's summary and description.
	What string
}

// Values of an alert's category label, which Alertmanager routes on.
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

var (
	cohortLabels       = []string{LabelWindow, LabelServiceLine, LabelLocation}
	sourceLabels       = []string{LabelWindow, LabelServiceLine, LabelReferrerType, LabelReferrerNetwork}
	distributionLabels = []string{LabelWindow, LabelServiceLine}
	priorityLabels     = []string{LabelWindow, LabelServiceLine, LabelPriority}
)

// The cohort counts.
var (
	Referrals = cohort("referral_referrals", "referrals", "referrals",
		"Referrals created in the window (T-W, T]: the cohort C.",
		func(f kpi.Fields) int64 { return f.Referrals })
	ScheduledReferrals = cohort("referral_scheduled_referrals", "scheduled", "referrals",
		"Referrals of the cohort booked by T.",
		func(f kpi.Fields) int64 { return f.Scheduled }).
		dividedBy(Referrals, "referral_scheduled_conversion")
	CompletedReferrals = cohort("referral_completed_referrals", "completed", "referrals",
		"Referrals of the cohort with a completed appointment by T.",
		func(f kpi.Fields) int64 { return f.Completed }).
		dividedBy(Referrals, "referral_completed_conversion")
	LeakedReferrals = cohort("referral_leaked_referrals", "leaked", "referrals",
		"Referrals of the cohort that leaked by T: final destination out of network, or a referral.leaked event.",
		func(f kpi.Fields) int64 { return f.Leaked }).
		dividedBy(Referrals, "referral_leakage").
		judgedBy(TargetLeakageRateMax).
		alert("ReferralLeakageRateAboveTarget", CategoryQuality, "leakage rate")
	InternalReferrals = cohort("referral_internal_referrals", "internal_referrals", "referrals",
		"Referrals of the cohort from in-network referrers (referrer_network in).",
		func(f kpi.Fields) int64 { return f.InternalReferrals })
	InternalLeakedReferrals = cohort("referral_internal_leaked_referrals", "internal_leaked", "referrals",
		"Leaked referrals of the cohort from in-network referrers.",
		func(f kpi.Fields) int64 { return f.InternalLeaked }).
		dividedBy(InternalReferrals, "referral_internal_leakage").
		judgedBy(TargetLeakageRateMax)
	IncompleteReferrals = cohort("referral_incomplete_referrals", "incomplete", "referrals",
		"Referrals of the cohort with a referral.info_requested by T.",
		func(f kpi.Fields) int64 { return f.Incomplete }).
		dividedBy(Referrals, "referral_incomplete").
		judgedBy(TargetIncompleteRateMax).
		alert("ReferralIncompleteRateAboveTarget", CategoryQuality, "incomplete referral rate")
	LoopCohortReferrals = cohort("referral_loop_cohort_referrals", "loop_cohort", "referrals",
		"Referrals with their first completed visit in (T-W-14d, T-14d]: the matured closed-loop cohort L.",
		func(f kpi.Fields) int64 { return f.LoopCohort })
	LoopClosedReferrals = cohort("referral_loop_closed_referrals", "loop_closed_14d", "referrals",
		"Referrals of the closed-loop cohort whose consult note was sent within 14 days of the first completed visit.",
		func(f kpi.Fields) int64 { return f.LoopClosed14d }).
		dividedBy(LoopCohortReferrals, "referral_closed_loop").
		judgedBy(TargetClosedLoopRateMin).
		alert("ReferralClosedLoopRateBelowTarget", CategoryQuality, "closed-loop rate")
	CMS50CohortReferrals = cohort("referral_cms50_cohort_referrals", "cms50_patients", "referrals",
		"CMS50-style closed loop: each patient's earliest referral created in the window (ties by referral id); referrals without a patient token are left out.",
		func(f kpi.Fields) int64 { return f.CMS50Patients })
	CMS50ClosedReferrals = cohort("referral_cms50_closed_referrals", "cms50_closed", "referrals",
		"Referrals of the CMS50-style cohort with a consult note to the referrer after their creation, by T.",
		func(f kpi.Fields) int64 { return f.CMS50Closed }).
		dividedBy(CMS50CohortReferrals, "referral_cms50_closed_loop")
	KeptOrMissedAppointments = cohort("referral_kept_or_missed_appointments", "appointments_kept_or_missed", "appointments",
		"Appointments with their slot in the window and status completed or no_show as of T.",
		func(f kpi.Fields) int64 { return f.AppointmentsKeptOrMissed })
	NoShowAppointments = cohort("referral_no_show_appointments", "no_shows", "appointments",
		"Appointments with their slot in the window and status no_show as of T.",
		func(f kpi.Fields) int64 { return f.NoShows }).
		dividedBy(KeptOrMissedAppointments, "referral_no_show").
		judgedBy(TargetNoShowRateMax).
		alert("ReferralNoShowRateAboveTarget", CategoryAccess, "no-show rate")
	AuthDecisions = cohort("referral_auth_decisions", "auth_decisions", "decisions",
		"Prior-authorization decisions (approved or denied) made in the window.",
		func(f kpi.Fields) int64 { return f.AuthDecisions })
	AuthDeniedDecisions = cohort("referral_auth_denied_decisions", "auth_denied", "decisions",
		"Prior-authorization denials made in the window.",
		func(f kpi.Fields) int64 { return f.AuthDenied }).
		dividedBy(AuthDecisions, "referral_auth_denial").
		judgedBy(TargetAuthDenialRateMax).
		alert("ReferralAuthDenialRateAboveTarget", CategoryAccess, "prior-authorization denial rate")
)

// The duration distributions.
var (
	TimeToScheduleSeconds = distribution(KindHistogram, "referral_time_to_schedule_seconds", "time_to_schedule",
		"Time from referral to first booking over the cohort's booked referrals; a snapshot of the window, use without rate().",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToSchedule })
	TimeToAppointmentSeconds = distribution(KindHistogram, "referral_time_to_appointment_seconds", "time_to_appointment",
		"Time from referral to its earliest appointment slot not cancelled (access) over the cohort; a snapshot of the window, use without rate().",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment })
	TimeToScheduleQuantileSeconds = distribution(KindQuantiles, "referral_time_to_schedule_quantile_seconds", "time_to_schedule_p50_seconds, time_to_schedule_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to schedule over the cohort; absent when no referral of it is booked. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToSchedule })
	TimeToAppointmentQuantileSeconds = distribution(KindQuantiles, "referral_time_to_appointment_quantile_seconds", "time_to_appointment_p50_seconds, time_to_appointment_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to appointment over the cohort; absent when no referral of it has a slot. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment })
)

// The stage, priority and payer KPIs (KPIS.md version 2). Their labels keep
// a 12-line, 20-location site to a few thousand series (TestSeriesBudget):
// none has the location; priority goes with the service line only in the
// exact quantiles and the SLA counts the alerts read per line; the
// histograms have the window and priority (triage, appointment) or the
// window only (authorization, information, whose per-line view is the exact
// quantiles); leakage by payer class and by reason is over every line.
var (
	TimeToTriageSeconds = Family{Name: "referral_time_to_triage_seconds", Type: Histogram, Unit: "seconds",
		Labels: []string{LabelWindow, LabelPriority}, Kind: KindPriorityHistogram, KPI: "time_to_triage",
		Help:         "Time from referral to its triage decision (earliest accepted or rejected) over the cohort's decided referrals, by window and priority; a snapshot of the window, use without rate().",
		Distribution: func(f kpi.Fields) kpi.Distribution { return f.TimeToTriage }}
	TimeToTriageQuantileSeconds = priorityQuantiles("referral_time_to_triage_quantile_seconds", "time_to_triage_p50_seconds, time_to_triage_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to triage over the cohort, by window, service line and priority; absent when no referral of it is decided. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToTriage })
	PriorityTimeToAppointmentSeconds = Family{Name: "referral_priority_time_to_appointment_seconds", Type: Histogram, Unit: "seconds",
		Labels: []string{LabelWindow, LabelPriority}, Kind: KindPriorityHistogram, KPI: "time_to_appointment",
		Help:         "Time from referral to its earliest appointment slot not cancelled over the cohort, by window and priority; a snapshot of the window, use without rate().",
		Distribution: func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment }}
	PriorityTimeToAppointmentQuantileSeconds = priorityQuantiles("referral_priority_time_to_appointment_quantile_seconds", "time_to_appointment_p50_seconds, time_to_appointment_p90_seconds",
		"Exact nearest-rank p50 and p90 of the time to appointment over the cohort, by window, service line and priority; absent when no referral of it has a slot. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.TimeToAppointment })
	TriageSLACohortReferrals = Family{Name: "referral_triage_sla_cohort_referrals", Type: Gauge, Unit: "referrals",
		Labels: priorityLabels, Kind: KindPriority, KPI: "triage_sla_cohort",
		Help:  "Referrals of the cohort we receive (destination network in), whose triage has an SLA in business days: the set S. By window, service line and priority.",
		Count: func(f kpi.Fields) int64 { return f.TriageSLACohort }}
	TriageSLABreachedReferrals = Family{Name: "referral_triage_sla_breached_referrals", Type: Gauge, Unit: "referrals",
		Labels: priorityLabels, Kind: KindPriority, KPI: "triage_sla_breaches",
		Help:  "Referrals of S not accepted, rejected or cancelled within their priority's triage SLA in business days of the site calendar, by T. By window, service line and priority.",
		Count: func(f kpi.Fields) int64 { return f.TriageSLABreaches }}
	AuthTurnaroundSeconds = Family{Name: "referral_auth_turnaround_seconds", Type: Histogram, Unit: "seconds",
		Labels: []string{LabelWindow}, Kind: KindSiteHistogram, KPI: "auth_turnaround",
		Help:         "Prior-authorization turnaround, calendar time from the earliest referral.auth_requested to its decision, over the cohort's referrals with both, by window (every service line); a snapshot of the window, use without rate().",
		Distribution: func(f kpi.Fields) kpi.Distribution { return f.AuthTurnaround }}
	AuthTurnaroundQuantileSeconds = distribution(KindQuantiles, "referral_auth_turnaround_quantile_seconds", "auth_turnaround_p50_seconds, auth_turnaround_p90_seconds",
		"Exact nearest-rank p50 and p90 of the prior-authorization turnaround (calendar time) over the cohort; absent when no referral of it has both. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.AuthTurnaround })
	InfoTurnaroundSeconds = Family{Name: "referral_info_turnaround_seconds", Type: Histogram, Unit: "seconds",
		Labels: []string{LabelWindow}, Kind: KindSiteHistogram, KPI: "info_turnaround",
		Help:         "Missing-information turnaround, calendar time from the earliest referral.info_requested to the information received, over the cohort's referrals with both, by window (every service line); a snapshot of the window, use without rate().",
		Distribution: func(f kpi.Fields) kpi.Distribution { return f.InfoTurnaround }}
	InfoTurnaroundQuantileSeconds = distribution(KindQuantiles, "referral_info_turnaround_quantile_seconds", "info_turnaround_p50_seconds, info_turnaround_p90_seconds",
		"Exact nearest-rank p50 and p90 of the missing-information turnaround (calendar time) over the cohort; absent when no referral of it has both. Not aggregatable.",
		func(f kpi.Fields) kpi.Distribution { return f.InfoTurnaround })
	LeakedByPayerClassReferrals = Family{Name: "referral_leaked_by_payer_class_referrals", Type: Gauge, Unit: "referrals",
		Labels: []string{LabelWindow, LabelPayerClass}, Kind: KindLeakedBy, KPI: "leaked_by_payer_class",
		Help:   "Leaked referrals of the cohort by window and payer class, over every service line.",
		Values: event.EnumValues(LabelPayerClass), By: func(f kpi.Fields) map[string]int64 { return f.LeakedByPayerClass }}
	LeakedByReasonReferrals = Family{Name: "referral_leaked_by_reason_referrals", Type: Gauge, Unit: "referrals",
		Labels: []string{LabelWindow, LabelReason}, Kind: KindLeakedBy, KPI: "leaked_by_reason",
		Help:   "Leaked referrals of the cohort by window and leak reason, over every service line: a referral.leaked's reason (other when it has none), else destination_out.",
		Values: kpi.LeakReasons, By: func(f kpi.Fields) map[string]int64 { return f.LeakedByReason }}
)

// The source counts, the backlog and the referrers.
var (
	SourceReferrals = source("referral_source_referrals", "referrals",
		"Referrals of the cohort by source: referrer type and network.",
		func(f kpi.Fields) int64 { return f.Referrals })
	SourceLeakedReferrals = source("referral_source_leaked_referrals", "leaked",
		"Leaked referrals of the cohort by source: referrer type and network.",
		func(f kpi.Fields) int64 { return f.Leaked }).
		dividedBy(SourceReferrals, "referral_source_leakage").
		judgedBy(TargetLeakageRateMax)

	UnscheduledBacklogReferrals = Family{
		Name: "referral_unscheduled_backlog_referrals", Type: Gauge, Unit: "referrals", Kind: KindBacklog, KPI: "backlog",
		Labels: []string{LabelServiceLine, LabelLocation, LabelAgeBucket},
		Help:   "Open referrals created in the last 365 days, not leaked and not booked by T, by age in whole days (no window).",
	}
	Referrers = Family{
		Name: "referral_referrers", Type: Gauge, Unit: "referrers", Kind: KindReferrers, KPI: "referrers",
		Labels: []string{LabelReferrerType, LabelState},
		Help:   "Referrers by activity state (new, active, fading, inactive) from their referrals of the last 365 days, by referrer type.",
	}
	AttentionReferrers = Family{
		Name: "referral_attention_referrers", Type: Gauge, Unit: "referrers", Kind: KindAttention, KPI: "referrer_attention",
		Labels: []string{LabelReferrerType, LabelLevel},
		Help:   "Referrers with a referral in the last 365 days by attention level (critical, high, medium, minor: the liaison worklist's levels) and referrer type (no window; the referrers themselves are in v_referrer_attention).",
	}
)

// The exporter's own health.
var (
	KPILastSuccessTimestampSeconds = exporter("referralops_kpi_last_success_timestamp_seconds", Gauge, "seconds",
		"Unix time of the last successful KPI snapshot refresh; 0 before the first. Stops advancing while refreshes fail.")
	KPISnapshotAsOfTimestampSeconds = exporter("referralops_kpi_snapshot_as_of_timestamp_seconds", Gauge, "seconds",
		"Evaluation time T of the KPI snapshot being served, Unix seconds; 0 before the first.")
	KPIReferrersAsOfTimestampSeconds = exporter("referralops_kpi_referrers_as_of_timestamp_seconds", Gauge, "seconds",
		"Evaluation time T of the referrer KPIs being served (referral_referrers, referral_attention_referrers), Unix seconds; 0 before the first. They are evaluated every --referrer-refresh-interval (by default 10 refresh intervals: 5 minutes), the other KPIs every --refresh-interval.")
	KPIRefreshErrorsTotal = exporter("referralops_kpi_refresh_errors_total", Counter, "refreshes",
		"Failed KPI snapshot refreshes; the previous snapshot keeps being served.")
	KPIRefreshDurationSeconds = exporter("referralops_kpi_refresh_duration_seconds", Histogram, "seconds",
		"Time taken by KPI snapshot refreshes, failed ones included.")
	KPISeries = exporter("referralops_kpi_series", Gauge, "series",
		"KPI series served from the current snapshot, by family.", LabelFamily)
	KPISeriesDroppedTotal = exporter("referralops_kpi_series_dropped_total", Counter, "series",
		"KPI series left out because their family exceeded --max-series-per-family (or a label value was not UTF-8), summed over refreshes.", LabelFamily)
)

// Catalog is every family the exporter serves, KPI families first, in the
// order of the README's table and of the generated rules.
var Catalog = []Family{
	Referrals, ScheduledReferrals, CompletedReferrals, LeakedReferrals, InternalReferrals,
	InternalLeakedReferrals, IncompleteReferrals, LoopCohortReferrals, LoopClosedReferrals,
	CMS50CohortReferrals, CMS50ClosedReferrals, KeptOrMissedAppointments, NoShowAppointments, AuthDecisions, AuthDeniedDecisions,

	TimeToScheduleSeconds, TimeToAppointmentSeconds, TimeToScheduleQuantileSeconds, TimeToAppointmentQuantileSeconds,

	TimeToTriageSeconds, TimeToTriageQuantileSeconds, PriorityTimeToAppointmentSeconds, PriorityTimeToAppointmentQuantileSeconds,
	TriageSLACohortReferrals, TriageSLABreachedReferrals,
	AuthTurnaroundSeconds, AuthTurnaroundQuantileSeconds, InfoTurnaroundSeconds, InfoTurnaroundQuantileSeconds,
	LeakedByPayerClassReferrals, LeakedByReasonReferrals,

	SourceReferrals, SourceLeakedReferrals,

	UnscheduledBacklogReferrals, Referrers, AttentionReferrers,

	KPILastSuccessTimestampSeconds, KPISnapshotAsOfTimestampSeconds, KPIReferrersAsOfTimestampSeconds, KPIRefreshErrorsTotal,
	KPIRefreshDurationSeconds, KPISeries, KPISeriesDroppedTotal,
}

func cohort(name, field, unit, help string, count func(kpi.Fields) int64) Family {
	return Family{Name: name, Help: help + " By window, service line and location.", Type: Gauge, Unit: unit,
		Labels: cohortLabels, Kind: KindCohort, KPI: field, Count: count}
}

func source(name, field, help string, count func(kpi.Fields) int64) Family {
	return Family{Name: name, Help: help, Type: Gauge, Unit: "referrals",
		Labels: sourceLabels, Kind: KindSource, KPI: field, Count: count}
}

func distribution(kind Kind, name, field, help string, d func(kpi.Fields) kpi.Distribution) Family {
	t := Histogram
	if kind == KindQuantiles {
		t = Summary
	}
	return Family{Name: name, Help: help, Type: t, Unit: "seconds",
		Labels: distributionLabels, Kind: kind, KPI: field, Distribution: d}
}

func priorityQuantiles(name, field, help string, d func(kpi.Fields) kpi.Distribution) Family {
	return Family{Name: name, Help: help, Type: Summary, Unit: "seconds",
		Labels: priorityLabels, Kind: KindPriorityQuantiles, KPI: field, Distribution: d}
}

func exporter(name string, t Type, unit, help string, labels ...string) Family {
	return Family{Name: name, Help: help, Type: t, Unit: unit, Labels: labels, Kind: KindExporter}
}

// dividedBy makes f the numerator of the ratio name over denominator.
func (f Family) dividedBy(denominator Family, name string) Family {
	f.Ratio = &Ratio{Name: name, Denominator: denominator}
	return f
}

// judgedBy gives f's ratio its operating target.
func (f Family) judgedBy(t RateTarget) Family {
	r := *f.Ratio
	r.Target = &t
	f.Ratio = &r
	return f
}

// alert gives f's ratio its alert.
func (f Family) alert(name, category, what string) Family {
	r := *f.Ratio
	r.Alert = &Alert{Name: name, Category: category, What: what}
	f.Ratio = &r
	return f
}

// Lookup finds a family of the catalog by name, for names read from
// outside (PromQL, a scrape); code names the family's value instead.
func Lookup(name string) (Family, bool) {
	for _, f := range Catalog {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

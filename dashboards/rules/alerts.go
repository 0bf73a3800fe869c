package rules

import (
	"fmt"
	"strconv"
	"time"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

// alert is one alerting rule before the options' for: override and runbook
// link are applied.
type alert struct {
	Name, Category, Severity string
	// For is the alert's own for: duration; 0 fires at the first evaluation.
	For                  time.Duration
	Expr                 string
	Summary, Description string
}

// The ingester's lag worth alerting on, how long an ingester may make no
// progress with records waiting (the default of its --stall-timeout, after
// which its /readyz fails too), and how far back a new dead letter counts.
const (
	ingestLagMinimum   = 100000 // records: two default batches; below it growth is noise
	deadLetterLookback = "15m"
	// A skip is data lost for good: the alert stays an hour, long enough to
	// be seen and acted on, not only for the next evaluation.
	offsetSkipLookback = "1h"
)

func kpiAlerts(o Options) []alert {
	w := o.Window.String()
	tg := o.Targets
	as := []alert{
		{
			Name: AlertTimeToAppointmentAboveTarget, Category: CategoryAccess, Severity: SeverityWarning, For: 30 * time.Minute,
			// A p90 of a handful of referrals is noise: like the rate alerts,
			// it needs MinDenominator referrals with a slot in the window.
			Expr: fmt.Sprintf("max by (window, service_line) (%s{quantile=\"0.9\", window=%q})\n> on (service_line) group_left ()\n%s\n"+
				"and on (window, service_line)\nsum by (window, service_line) (%s_count{window=%q}) >= %d",
				metrics.TimeToAppointmentQuantileSeconds.Name, w, TimeToAppointmentP90Target,
				metrics.TimeToAppointmentQuantileSeconds.Name, w, o.MinDenominator),
			Summary: "{{ $labels.service_line }}: p90 time to appointment above target",
			Description: "The p90 time from referral to appointment of {{ $labels.service_line }} referrals created in the last " +
				"{{ $labels.window }} is {{ $value | humanizeDuration }}, above its target of " +
				"{{ with printf `" + TimeToAppointmentP90Target + "{service_line=%q}` $labels.service_line | query }}" +
				"{{ . | first | value | humanizeDuration }}{{ end }}.",
		},
		{
			Name: AlertBacklogAboveTarget, Category: CategoryAccess, Severity: SeverityWarning, For: 30 * time.Minute,
			Expr:    fmt.Sprintf("%s > %d", BacklogOver7Days, tg.BacklogOver7Days),
			Summary: "{{ $labels.service_line }}: unscheduled referrals older than 7 days above target",
			Description: "{{ $labels.service_line }} holds {{ $value }} open referrals that are not scheduled and older than 7 days; " +
				fmt.Sprintf("the target is at most %d.", tg.BacklogOver7Days),
		},
	}
	as = append(as, urgentTimeToAppointment(o), urgentTriageSLABreached(o), authTurnaround(o))
	as = append(as, criticalReferrersGrowing(tg))
	for _, r := range Ratios {
		if r.Numerator.Ratio.Alert != nil {
			as = append(as, r.alert(o))
		}
	}
	return as
}

// urgentTimeToAppointment fires per service line whose urgent referrals'
// p90 time to appointment is above the line's urgent target, like the
// all-referral alert, where MinDenominator urgent referrals have a slot.
func urgentTimeToAppointment(o Options) alert {
	w := o.Window.String()
	q := metrics.PriorityTimeToAppointmentQuantileSeconds.Name
	urgent := fmt.Sprintf("%s=%q", metrics.LabelPriority, sla.Urgent)
	return alert{
		Name: AlertUrgentTimeToAppointment, Category: CategoryAccess, Severity: SeverityWarning, For: 30 * time.Minute,
		Expr: fmt.Sprintf("max by (window, service_line) (%s{quantile=\"0.9\", window=%q, %s})\n> on (service_line) group_left ()\n%s\n"+
			"and on (window, service_line)\nsum by (window, service_line) (%s_count{window=%q, %s}) >= %d",
			q, w, urgent, UrgentTimeToAppointmentP90Target, q, w, urgent, o.MinDenominator),
		Summary: "{{ $labels.service_line }}: p90 time to appointment of urgent referrals above target",
		Description: "The p90 time from referral to appointment of urgent {{ $labels.service_line }} referrals created in the last " +
			"{{ $labels.window }} is {{ $value | humanizeDuration }}, above their target of " +
			"{{ with printf `" + UrgentTimeToAppointmentP90Target + "{service_line=%q}` $labels.service_line | query }}" +
			"{{ . | first | value | humanizeDuration }}{{ end }}.",
	}
}

// urgentTriageSLABreached fires per service line whose urgent and stat
// referrals past their triage SLA grew over the last day. The breaches are a
// count over the window's cohort, which also loses the breaches of referrals
// that age out of it: a day that adds as many as leave goes unseen. A line
// with breaches and no count a day ago (new, or a Prometheus with less
// history) fires too.
func urgentTriageSLABreached(o Options) alert {
	sel := fmt.Sprintf("sum by (window, service_line) (%s{window=%q, %s=~\"%s|%s\"}", metrics.TriageSLABreachedReferrals.Name,
		o.Window.String(), metrics.LabelPriority, sla.Stat, sla.Urgent)
	now, before := sel+")", sel+" offset 1d)"
	return alert{
		Name: AlertUrgentTriageSLABreached, Category: CategoryAccess, Severity: SeverityWarning,
		Expr:    fmt.Sprintf("%s - %s > 0\nor\n(%s unless %s) > 0", now, before, now, before),
		Summary: "{{ $labels.service_line }}: urgent or stat referrals past their triage SLA",
		Description: "{{ $value }} more urgent or stat {{ $labels.service_line }} referrals than a day ago are past their triage SLA " +
			"(business days of the site calendar) among those created in the last {{ $labels.window }}: they wait for an accept or " +
			"reject longer than their priority allows.",
	}
}

// authTurnaround fires per service line whose exact p90 prior-authorization
// turnaround is above the target as calendar time (Targets.AuthTurnaroundP90),
// where MinDenominator referrals have one.
func authTurnaround(o Options) alert {
	w, q := o.Window.String(), metrics.AuthTurnaroundQuantileSeconds.Name
	target := o.Targets.AuthTurnaroundP90()
	return alert{
		Name: AlertAuthTurnaroundAboveTarget, Category: CategoryAccess, Severity: SeverityWarning, For: time.Hour,
		Expr: fmt.Sprintf("max by (window, service_line) (%s{quantile=\"0.9\", window=%q}) > %s\n"+
			"and on (window, service_line)\nsum by (window, service_line) (%s_count{window=%q}) >= %d",
			q, w, seconds(target), q, w, o.MinDenominator),
		Summary: "{{ $labels.service_line }}: prior-authorization p90 turnaround above target",
		Description: "The p90 prior-authorization turnaround of {{ $labels.service_line }} referrals created in the last {{ $labels.window }} " +
			fmt.Sprintf("is {{ $value | humanizeDuration }} (calendar time), above the target of %d business days "+
				"(%g calendar days).", o.Targets.AuthTurnaroundP90BusinessDays, target.Hours()/24),
	}
}

// criticalReferrersGrowing fires per referrer type whose critical referrers
// (referrer attention) grew over the last week by both of the targets'
// margins. max, not sum, over the exporters: replicas serve the same counts.
// A type without a count a week ago (new, or Prometheus has less history) has
// no growth to judge and does not fire.
func criticalReferrersGrowing(tg metrics.Targets) alert {
	sel := func(offset string) string {
		return fmt.Sprintf("max by (%s) (%s{%s=%q}%s)", metrics.LabelReferrerType,
			metrics.AttentionReferrers.Name, metrics.LabelLevel, kpi.Levels[0], offset)
	}
	now, before := sel(""), sel(" offset 1w")
	growth := strconv.FormatFloat(tg.CriticalReferrersWeeklyGrowth, 'f', -1, 64)
	// last week's count of the alert's type, for the description
	lastWeek := fmt.Sprintf("max by (%[1]s) (%[2]s{%[3]s=%[4]q,%[1]s=%%q} offset 1w)", metrics.LabelReferrerType,
		metrics.AttentionReferrers.Name, metrics.LabelLevel, kpi.Levels[0])
	return alert{
		Name: AlertCriticalReferrersGrowing, Category: CategoryQuality, Severity: SeverityWarning, For: time.Hour,
		Expr:    fmt.Sprintf("%s\n>= %s * %s\nand\n%s - %s >= %d", now, growth, before, now, before, tg.CriticalReferrersWeeklyIncrease),
		Summary: "{{ $labels.referrer_type }}: more critical referrers than a week ago",
		Description: "{{ $value }} {{ $labels.referrer_type }} referrers are at the critical attention level, up from " +
			"{{ with printf `" + lastWeek + "` $labels.referrer_type | query }}{{ . | first | value }}{{ end }} a week ago " +
			fmt.Sprintf("(the alert needs %d more and %s times as many): offices that used to refer have dropped off or stopped.",
				tg.CriticalReferrersWeeklyIncrease, growth),
	}
}

// alert fires per service line whose ratio is on the bad side of its
// catalog target, where the denominator reaches o.MinDenominator.
func (r Ratio) alert(o Options) alert {
	ratio := r.Numerator.Ratio
	a, target := ratio.Alert, ratio.Target.Of(o.Targets)
	w := o.Window.String()
	op, dir, bound := ">", "above", "at most"
	if ratio.Target.Bad == metrics.BelowIsBad {
		op, dir, bound = "<", "below", "at least"
	}
	return alert{
		Name: a.Name, Category: a.Category, Severity: SeverityWarning, For: time.Hour,
		Expr: fmt.Sprintf("%s{window=%q} %s %s\nand on (window, service_line)\nsum by (window, service_line) (%s{window=%q}) >= %d",
			r.ByServiceLine, w, op, strconv.FormatFloat(target, 'f', -1, 64), ratio.Denominator.Name, w, o.MinDenominator),
		Summary: fmt.Sprintf("{{ $labels.service_line }}: %s %s target", a.What, dir),
		Description: fmt.Sprintf("The %s of {{ $labels.service_line }} over the last {{ $labels.window }} is "+
			"{{ $value | humanizePercentage }}; the target is %s %s.", a.What, bound, metrics.Percent(target)),
	}
}

func pipelineAlerts(o Options) []alert {
	stale := o.KPIStaleAfter.Seconds()
	return []alert{
		{
			Name: AlertKPISnapshotStale, Category: CategoryPipeline, Severity: SeverityWarning, For: 5 * time.Minute,
			Expr:    fmt.Sprintf("time() - %s > %s", metrics.KPILastSuccessTimestampSeconds.Name, strconv.FormatFloat(stale, 'f', -1, 64)),
			Summary: "KPI snapshot of {{ $labels.instance }} is stale",
			// Before its first success the timestamp is 0, and the age the
			// time since 1970: say so instead of "20000d ago".
			Description: "{{ if gt $value 1e9 }}The KPI exporter {{ $labels.instance }} has no successful KPI snapshot yet: it serves no KPIs." +
				"{{ else }}The KPI exporter {{ $labels.instance }} last refreshed its snapshot {{ $value | humanizeDuration }} ago " +
				fmt.Sprintf("(stale after %s): it serves old numbers, and the KPI alerts judge them.{{ end }}", o.KPIStaleAfter),
		},
		{
			Name: AlertIngestLagGrowing, Category: CategoryPipeline, Severity: SeverityWarning, For: 15 * time.Minute,
			Expr:    fmt.Sprintf("%s > %d\nand\nderiv(%s[15m]) > 0", IngestLagByTopic, ingestLagMinimum, IngestLagByTopic),
			Summary: "Ingest lag on {{ $labels.topic }} keeps growing",
			Description: "The ingesters are {{ $value | humanize }} records behind on topic {{ $labels.topic }}, and the lag has " +
				"grown over the last 15 minutes: events reach ClickHouse, and the KPIs, ever later.",
		},
		{
			Name: AlertIngestStalled, Category: CategoryPipeline, Severity: SeverityCritical,
			// Per ingester: its partitions have records waiting and its last
			// progress (a commit, or nothing to do) is older than the stall
			// time. A growing lag alone is a slow ingester; this one is stuck.
			Expr: fmt.Sprintf("sum by (job, instance) (%s) > 0\nand on (job, instance)\ntime() - %s > %s",
				selfmetrics.IngestConsumerLag.Name, selfmetrics.IngestLastProgress.Name,
				strconv.FormatFloat(selfmetrics.StallAfter.Seconds(), 'f', -1, 64)),
			Summary: "Ingester {{ $labels.instance }} is stalled",
			Description: "The ingester {{ $labels.instance }} has {{ $value | humanize }} records waiting and has committed nothing for " +
				fmt.Sprintf("more than %s: one batch cannot be stored or dead-lettered, and everything behind it waits.", selfmetrics.StallAfter),
		},
		{
			Name: AlertDeadLettersIncreasing, Category: CategoryPipeline, Severity: SeverityWarning,
			// A reason's counter appears at its first dead letter, which
			// increase() cannot see, so new series count too.
			Expr: fmt.Sprintf("sum by (reason) (increase(%[1]s[%[2]s])) > 0\nor\nsum by (reason) (%[1]s unless %[1]s offset %[2]s) > 0",
				selfmetrics.IngestDeadLetters.Name, deadLetterLookback),
			Summary: "Events dead-lettered: {{ $labels.reason }}",
			Description: "Records were written to the dead-letter topic with reason {{ $labels.reason }} in the last " + deadLetterLookback +
				": a producer sends events that break the event contract, and they are missing from the KPIs.",
		},
		{
			Name: AlertIngestRecordsSkipped, Category: CategoryPipeline, Severity: SeverityCritical,
			// By partition, over every ingester: whichever owned it skipped.
			// A partition's series starts at 0 on assignment, but an
			// ingester that skips at once may be scraped first with the
			// skip counted: new series count too.
			Expr: fmt.Sprintf("sum by (topic, partition) (increase(%[1]s[%[2]s])) > 0\nor\nsum by (topic, partition) (%[1]s unless %[1]s offset %[2]s) > 0",
				selfmetrics.IngestOffsetOutOfRange.Name, offsetSkipLookback),
			Summary: "Records of {{ $labels.topic }}/{{ $labels.partition }} deleted before they were ingested",
			Description: "About {{ $value | humanize }} records of topic {{ $labels.topic }} partition {{ $labels.partition }} were deleted " +
				"(retention, or a records deletion) before an ingester consumed them, in the last " + offsetSkipLookback +
				": they are neither in ClickHouse nor in the dead-letter topic, and the KPIs miss them.",
		},
		down(AlertIngesterDown, JobIngest, "ingester", "events stop reaching ClickHouse"),
		down(AlertExporterDown, JobExport, "KPI exporter", "the KPI metrics, dashboards and KPI alerts go blank"),
	}
}

func down(name, job, what, effect string) alert {
	return alert{
		Name: name, Category: CategoryPipeline, Severity: SeverityCritical, For: 5 * time.Minute,
		Expr:    fmt.Sprintf("up{job=%q} == 0\nor\nabsent(up{job=%q})", job, job),
		Summary: fmt.Sprintf("referralops %s down", what),
		Description: fmt.Sprintf("{{ if $labels.instance }}Prometheus cannot scrape the %s {{ $labels.instance }} of job %s"+
			"{{ else }}Prometheus has no target of job %s{{ end }}: %s.", what, job, job, effect),
	}
}

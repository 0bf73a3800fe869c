package dashboards

import (
	"fmt"
	"strconv"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// histogramBuckets shows a duration histogram of the selected window as counts
// per bucket (Grafana's heatmap format de-accumulates the cumulative buckets),
// each bucket named by its upper bound in days.
func (g *generator) histogramBuckets(s spec, f metrics.Family) *bargauge.PanelBuilder {
	b := g.barGaugePanel(s, promDS, promQuery("A", metrics.SumBy([]string{"le"}, g.sel(f).String()), "{{le}}", true).
		Format(prometheus.PromQueryFormatHeatmap))
	bounds := kpi.DefaultBuckets()
	for _, d := range bounds {
		b.OverrideByName(strconv.FormatInt(int64(d/time.Second), 10), []dashboard.DynamicConfigValue{
			{Id: "displayName", Value: "≤ " + dayCount(d)},
		})
	}
	if len(bounds) > 0 {
		b.OverrideByName("+Inf", []dashboard.DynamicConfigValue{
			{Id: "displayName", Value: "> " + dayCount(bounds[len(bounds)-1])},
		})
	}
	return b
}

func dayCount(d time.Duration) string {
	if n := days(d); n != "1" {
		return n + " days"
	}
	return "1 day"
}

// access is for intake, scheduling and referral coordinators: how fast
// referrals get booked and seen, what waits unscheduled, and why.
func (g *generator) access() *dashboard.DashboardBuilder {
	t := g.targets
	ttsHelp := g.help(metrics.TimeToScheduleQuantileSeconds)
	ttaHelp := g.help(metrics.TimeToAppointmentQuantileSeconds)
	p90 := g.quantileDays(metrics.TimeToAppointmentQuantileSeconds, "0.9")
	target := g.p90TargetDays(p90)
	targetDesc := fmt.Sprintf("p90 targets: %s; %s days for every other service line.",
		g.ownTargets(), days(t.DefaultTimeToAppointmentP90))
	backlog := g.sel(metrics.UnscheduledBacklogReferrals).String()
	backlogHelp := g.help(metrics.UnscheduledBacklogReferrals)
	over7 := g.backlogOver7Days().String()

	b := g.board(uidAccess, "Referral operations: access and scheduling",
		"How fast referrals are booked and seen against the access targets, what waits unscheduled (backlog and worklist), no-shows, authorization denials and incomplete referrals.",
		"now-30d", "5m", g.kpiVars()...)

	b.WithRow(g.row("Access across the selected service lines"))
	b.WithPanel(g.statPanel(spec{title: "Time to schedule p50", unit: unitDays, w: 6, h: 4,
		desc: "Median time from referral to first booking over the booked referrals of the selected service lines' cohorts in the selected window, interpolated from the histogram. " + daysNote + " " + g.help(metrics.TimeToScheduleSeconds)},
		promDS, promQuery("A", g.histogramQuantileDays(metrics.TimeToScheduleSeconds, 0.5), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to schedule p90", unit: unitDays, w: 6, h: 4,
		desc: "90th percentile time from referral to first booking over the booked referrals of the selected service lines' cohorts in the selected window, interpolated from the histogram. " + daysNote + " " + g.help(metrics.TimeToScheduleSeconds)},
		promDS, promQuery("A", g.histogramQuantileDays(metrics.TimeToScheduleSeconds, 0.9), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to appointment p90", unit: unitDays, w: 6, h: 4,
		desc: "90th percentile time from referral to its earliest appointment slot not cancelled, over the selected service lines' cohorts in the selected window, interpolated from the histogram; targets are per service line (panels below). " + daysNote + " " + g.help(metrics.TimeToAppointmentSeconds)},
		promDS, promQuery("A", g.histogramQuantileDays(metrics.TimeToAppointmentSeconds, 0.9), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Service lines over their p90 access target", unit: unitCount, w: 6, h: 4, th: above(1),
		desc: "Selected service lines whose exact p90 time to appointment in the selected window exceeds their target. " + targetDesc + " " + ttaHelp},
		promDS, promQuery("A", "count(("+p90+") > ("+target+")) or vector(0)", "", true)))

	b.WithRow(g.row("Time to schedule and to appointment by service line"))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Time to schedule p50 and p90 by service line", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank p50 and p90 time from referral to first booking per service line, over the booked referrals of the selected window's cohort (service lines only: the metric has no location). " + daysNote + " " + ttsHelp},
		promDS,
		promQuery("A", g.quantileDays(metrics.TimeToScheduleQuantileSeconds, "0.5"), "{{service_line}} p50", false),
		promQuery("B", g.quantileDays(metrics.TimeToScheduleQuantileSeconds, "0.9"), "{{service_line}} p90", false)))
	b.WithPanel(g.targetLines(g.timeSeriesPanel(spec{title: "Time to appointment p50, p90 and target by service line", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank p50 and p90 time to appointment per service line in the selected window (service lines only: the metric has no location), and the p90 target (dashed). " + targetDesc + " " + daysNote + " " + ttaHelp},
		promDS,
		promQuery("A", g.quantileDays(metrics.TimeToAppointmentQuantileSeconds, "0.5"), "{{service_line}} p50", false),
		promQuery("B", p90, "{{service_line}} p90", false),
		promQuery("C", target, "{{service_line}} target", false))))
	b.WithPanel(g.histogramBuckets(spec{title: "Time to schedule distribution", unit: unitCount, w: 12, h: 9,
		desc: "Booked referrals of the selected service lines' cohorts in the selected window per bucket of time to schedule (each bar: the referrals above the previous bound and up to this one; the exporter's buckets, 1 to 180 days). " + g.help(metrics.TimeToScheduleSeconds)},
		metrics.TimeToScheduleSeconds))
	b.WithPanel(g.histogramBuckets(spec{title: "Time to appointment distribution", unit: unitCount, w: 12, h: 9,
		desc: "Referrals of the selected service lines' cohorts in the selected window per bucket of time to appointment (each bar: the referrals above the previous bound and up to this one; the exporter's buckets, 1 to 180 days). " + g.help(metrics.TimeToAppointmentSeconds)},
		metrics.TimeToAppointmentSeconds))

	g.stages(b)

	b.WithRow(g.row("Unscheduled backlog"))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Unscheduled backlog by age", unit: unitCount, w: 12, h: 8,
		desc: "Open referrals waiting for a first booking, by age bucket in whole days, over the selected service lines and locations (no window: every referral of the last 365 days counts). " + backlogHelp},
		promDS, promQuery("A", metrics.SumBy([]string{"age_bucket"}, backlog), "{{age_bucket}}", false))))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Backlog older than 7 days by service line", unit: unitCount, w: 12, h: 8, th: above(float64(t.BacklogOver7Days)),
		desc: fmt.Sprintf("Unscheduled referrals older than 7 days (age buckets after 3-7d) per service line over the selected locations; dashed line: the target maximum of %d per service line. %s", t.BacklogOver7Days, backlogHelp)},
		promDS, promQuery("A", metrics.SumBy(bySL, over7), "{{service_line}}", false)))
	b.WithPanel(g.barGaugePanel(spec{title: "Backlog older than 7 days by service line, now", unit: unitCount, w: 12, h: 8, th: above(float64(t.BacklogOver7Days)),
		desc: fmt.Sprintf("Unscheduled referrals older than 7 days per service line over the selected locations, at the latest refresh; red from the target maximum of %d. %s", t.BacklogOver7Days, backlogHelp)},
		promDS, promQuery("A", metrics.SumBy(bySL, over7), "{{service_line}}", true)))
	b.WithPanel(g.barGaugePanel(spec{title: "Unscheduled backlog by location, now", unit: unitCount, w: 12, h: 8,
		desc: `Open referrals waiting for a first booking per location over the selected service lines, at the latest refresh ("other" sums the locations the exporter does not label). ` + backlogHelp},
		promDS, promQuery("A", metrics.SumBy([]string{"location"}, backlog), "{{location}}", true)))

	b.WithRow(g.row("No-shows, authorizations and incomplete referrals"))
	rates := []struct {
		title     string
		numerator metrics.Family
		what      string
	}{
		{"No-show rate", metrics.NoShowAppointments, "Share of appointments with their slot in the window (completed or no-show) that were no-shows"},
		{"Authorization denial rate", metrics.AuthDeniedDecisions, "Share of the prior-authorization decisions made in the window that were denials"},
		{"Incomplete referral rate", metrics.IncompleteReferrals, "Share of the cohort with an information request (referral.info_requested)"},
	}
	for _, r := range rates {
		b.WithPanel(g.statPanel(spec{title: r.title, unit: unitRatio, w: 8, h: 4, th: g.targetTh(r.numerator),
			desc: g.ratioDesc(r.what, r.numerator, scopeSelection) + " " + g.targetNote(r.numerator, markStat, "")},
			promDS, promQuery("A", g.ratio(r.numerator, nil, ""), "", true)))
	}
	for _, r := range rates {
		b.WithPanel(g.timeSeriesPanel(spec{title: r.title + " by service line", unit: unitRatio, w: 8, h: 8, th: g.targetTh(r.numerator),
			desc: g.ratioDesc(r.what, r.numerator, scopeByLine) + " " + g.targetNote(r.numerator, markLine, "")},
			promDS, promQuery("A", g.ratio(r.numerator, bySL, ""), "{{service_line}}", false)))
	}
	for _, r := range rates {
		b.WithPanel(g.barGaugePanel(spec{title: r.title + " by location", unit: unitRatio, w: 8, h: 8, th: g.targetTh(r.numerator),
			desc: g.ratioDesc(r.what, r.numerator, "per location over the selected service lines in the selected window") + " " + g.targetNote(r.numerator, markBar, "")},
			promDS, promQuery("A", g.ratio(r.numerator, []string{"location"}, ""), "{{location}}", true)))
	}

	b.WithRow(g.row("Unscheduled worklist"))
	worklist := g.tablePanel(spec{title: "Unscheduled worklist, oldest first", unit: unitCount, w: 24, h: 12,
		desc: "Referrals waiting for a first booking, oldest first (first 1000): created in the last 365 days, not closed, not leaked, no appointment booked; age in whole days. The referrals the backlog counts, from ClickHouse's v_unscheduled_worklist, filtered by the selected service lines and locations (the \"other\" location matches none). Ids and dimensions only, no patient data."},
		chDS, g.chQuery("A", "unscheduled_worklist.sql", false))
	g.columns(worklist, column{name: "age_days", unit: unitDays, th: above(8)})
	worklist.CellHeight(common.TableCellHeightSm)
	b.WithPanel(worklist)
	return b
}

// stages is the "where the days go" row: each stage's p90 per service line,
// urgent beside routine, and the urgent and stat referrals past their triage
// SLA.
func (g *generator) stages(b *dashboard.DashboardBuilder) {
	quantile := func(f metrics.Family, priority string) string {
		return "max by (service_line) (" + g.sel(f, eq("quantile", "0.9"), eq(metrics.LabelPriority, priority)).String() + ") / 86400"
	}
	b.WithRow(g.row("Where the days go: stages by service line, urgent and routine"))
	stageCols := []struct{ ref, name, expr string }{
		{"A", "Triage p90, urgent", quantile(metrics.TimeToTriageQuantileSeconds, sla.Urgent)},
		{"B", "Triage p90, routine", quantile(metrics.TimeToTriageQuantileSeconds, sla.Routine)},
		{"C", "Authorization p90", g.quantileDays(metrics.AuthTurnaroundQuantileSeconds, "0.9")},
		{"D", "Information p90", g.quantileDays(metrics.InfoTurnaroundQuantileSeconds, "0.9")},
		{"E", "Appointment p90, urgent", quantile(metrics.PriorityTimeToAppointmentQuantileSeconds, sla.Urgent)},
		{"F", "Appointment p90, routine", quantile(metrics.PriorityTimeToAppointmentQuantileSeconds, sla.Routine)},
	}
	var queries []cog.Builder[variants.Dataquery]
	names := map[string]string{}
	var cols []column
	for _, c := range stageCols {
		queries = append(queries, promQuery(c.ref, c.expr, "", true))
		names[c.ref] = c.name
		cols = append(cols, column{name: c.name, unit: unitDays})
	}
	stageTable := g.tablePanel(spec{title: "Where the days go: p90 of each stage by service line", unit: unitDays, w: 24, h: 9,
		desc: "Per service line, in the selected window, at the latest refresh: the exact nearest-rank p90 time from referral to triage decision (accepted or rejected) and from referral to appointment for urgent and routine referrals, " +
			"and the p90 prior-authorization and missing-information turnarounds (all priorities). Calendar days; empty where a stage has no referral. " + daysNote + " " +
			g.help(metrics.TimeToTriageQuantileSeconds) + " " + g.help(metrics.AuthTurnaroundQuantileSeconds) + " " + g.help(metrics.InfoTurnaroundQuantileSeconds)},
		promDS, queries...)
	mergeColumns(stageTable, names)
	g.columns(stageTable, cols...)
	b.WithPanel(stageTable)

	b.WithPanel(g.timeSeriesPanel(spec{title: "Time to triage p90 by service line, urgent and routine", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank p90 time from referral to its triage decision per service line and priority, over the decided referrals of the selected window's cohort (the metric has no location). " + daysNote + " " + g.help(metrics.TimeToTriageQuantileSeconds)},
		promDS,
		promQuery("A", quantile(metrics.TimeToTriageQuantileSeconds, sla.Urgent), "{{service_line}} urgent", false),
		promQuery("B", quantile(metrics.TimeToTriageQuantileSeconds, sla.Routine), "{{service_line}} routine", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Time to appointment p90 by service line, urgent and routine", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank p90 time from referral to appointment per service line and priority in the selected window (urgent waits about 0.6x routine in chart audits; the urgent targets are " +
			fmt.Sprintf("%s days by default). ", days(g.targets.DefaultUrgentTimeToAppointmentP90)) + daysNote + " " + g.help(metrics.PriorityTimeToAppointmentQuantileSeconds)},
		promDS,
		promQuery("A", quantile(metrics.PriorityTimeToAppointmentQuantileSeconds, sla.Urgent), "{{service_line}} urgent", false),
		promQuery("B", quantile(metrics.PriorityTimeToAppointmentQuantileSeconds, sla.Routine), "{{service_line}} routine", false)))

	urgent := re(metrics.LabelPriority, sla.Stat+"|"+sla.Urgent)
	breaches := g.sel(metrics.TriageSLABreachedReferrals)
	slaNote := "A referral we receive breaches its triage SLA when it is not accepted, rejected or cancelled within its priority's business days (the exporter's SLA calendar: stat 0, urgent 1, routine 2 by default). "
	b.WithPanel(g.statPanel(spec{title: "Urgent and stat referrals past their triage SLA", unit: unitCount, w: 6, h: 8, th: above(1),
		desc: slaNote + "Urgent and stat referrals of the selected service lines' cohorts in the selected window past their SLA, at the latest refresh; the alert ReferralUrgentTriageSLABreached fires when a line's count grows over a day. " + g.help(metrics.TriageSLABreachedReferrals)},
		promDS, promQuery("A", metrics.SumBy(nil, g.sel(metrics.TriageSLABreachedReferrals, urgent).String()), "", true)))
	b.WithPanel(g.barGaugePanel(spec{title: "Triage SLA breaches by priority", unit: unitCount, w: 6, h: 8,
		desc: slaNote + "Referrals of the selected service lines' cohorts in the selected window past their SLA, per priority, at the latest refresh. " + g.help(metrics.TriageSLABreachedReferrals)},
		promDS, promQuery("A", metrics.SumBy([]string{metrics.LabelPriority}, breaches.String()), "{{priority}}", true)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Share of referrals past their triage SLA by service line", unit: unitRatio, w: 12, h: 8,
		desc: slaNote + "Breaches over the referrals we receive (destination network in), all priorities, per service line in the selected window. Breaches: " +
			g.help(metrics.TriageSLABreachedReferrals) + " Cohort: " + g.help(metrics.TriageSLACohortReferrals)},
		promDS, promQuery("A", metrics.SumBy(bySL, breaches.String())+" / ("+metrics.SumBy(bySL, g.sel(metrics.TriageSLACohortReferrals).String())+" > 0)", "{{service_line}}", false)))
}

package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/referralops/referralops/metrics"
)

var bySL = []string{metrics.LabelServiceLine}

// help quotes a catalog family's definition for a panel description.
func (g *generator) help(f metrics.Family) string { return f.Name + ": " + f.Help }

// ratioDesc says what a ratio panel shows, from the catalog's definitions.
func (g *generator) ratioDesc(what string, n metrics.Family, scope string) string {
	if n.Ratio == nil {
		g.errorf("metric %s has no denominator in metrics.Catalog", n.Name)
		return ""
	}
	return fmt.Sprintf("%s = numerator ÷ denominator, each summed %s before dividing. Numerator %s Denominator %s",
		what, scope, g.help(n), g.help(n.Ratio.Denominator))
}

const (
	scopeSelection = "over the selected service lines and locations in the selected window"
	scopeByLine    = "per service line over the selected locations in the selected window"
	daysNote       = "Shown in days (seconds ÷ 86400)."
	wowNote        = "Week-over-week: the value now minus the value 7 days earlier (offset 1w)."
)

// executive is the overview for executives: volume, conversion, leakage,
// access against target and closed loop, per service line, with the change
// against a week earlier.
func (g *generator) executive() *dashboard.DashboardBuilder {
	t := g.targets
	p90 := g.quantileDays(metrics.TimeToAppointmentQuantileSeconds, "0.9")
	p50 := g.quantileDays(metrics.TimeToAppointmentQuantileSeconds, "0.5")
	target := g.p90TargetDays(p90)
	overTarget := "(" + p90 + ") / (" + target + ")"
	ttaHelp := g.help(metrics.TimeToAppointmentQuantileSeconds)
	targetDesc := fmt.Sprintf("p90 targets: %s; %s days for every other service line.",
		g.ownTargets(), days(t.DefaultTimeToAppointmentP90))
	refs := g.sel(metrics.Referrals).String()

	b := g.board(uidExecutive, "Referral operations: executive overview",
		"Referral volume, conversion, leakage, access and closed loop per service line, from the KPI exporter (cohort of the selected window as of the last refresh) and ClickHouse.",
		"now-30d", "5m", g.kpiVars()...)

	b.WithRow(g.row("Selected service lines and locations"))
	b.WithPanel(g.statPanel(spec{title: "Referrals", unit: unitCount, w: 4, h: 4,
		desc: "Referrals created in the selected window, summed over the selected service lines and locations. " + g.help(metrics.Referrals)},
		promDS, promQuery("A", metrics.SumBy(nil, refs), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Referrals vs 7 days earlier", unit: unitRatio, w: 4, h: 4,
		desc: "Relative change of the referrals of the selected window against the same window 7 days earlier: now ÷ 7 days earlier − 1, " + scopeSelection + ". " + g.help(metrics.Referrals)},
		promDS, promQuery("A", g.countChange(metrics.Referrals, nil), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Scheduled conversion", unit: unitRatio, w: 4, h: 4,
		desc: g.ratioDesc("Share of the cohort booked by T", metrics.ScheduledReferrals, scopeSelection)},
		promDS, promQuery("A", g.ratio(metrics.ScheduledReferrals, nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Completed conversion", unit: unitRatio, w: 4, h: 4,
		desc: g.ratioDesc("Share of the cohort with a completed appointment by T", metrics.CompletedReferrals, scopeSelection)},
		promDS, promQuery("A", g.ratio(metrics.CompletedReferrals, nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Leakage rate", unit: unitRatio, w: 4, h: 4, th: g.targetTh(metrics.LeakedReferrals),
		desc: g.ratioDesc("Share of the cohort that leaked", metrics.LeakedReferrals, scopeSelection) + " " + g.targetNote(metrics.LeakedReferrals, markStat, "")},
		promDS, promQuery("A", g.ratio(metrics.LeakedReferrals, nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Internal leakage rate", unit: unitRatio, w: 4, h: 4, th: g.targetTh(metrics.InternalLeakedReferrals),
		desc: g.ratioDesc("Share of the cohort's in-network referrals that leaked", metrics.InternalLeakedReferrals, scopeSelection) + " " + g.targetNote(metrics.InternalLeakedReferrals, markStat, "leakage ")},
		promDS, promQuery("A", g.ratio(metrics.InternalLeakedReferrals, nil, ""), "", true)))

	b.WithPanel(g.statPanel(spec{title: "Closed-loop rate", unit: unitRatio, w: 6, h: 4, th: g.targetTh(metrics.LoopClosedReferrals),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note sent within 14 days of the first completed visit", metrics.LoopClosedReferrals, scopeSelection) + " " + g.targetNote(metrics.LoopClosedReferrals, markStat, "")},
		promDS, promQuery("A", g.ratio(metrics.LoopClosedReferrals, nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Service lines over their p90 access target", unit: unitCount, w: 6, h: 4, th: above(1),
		desc: "Selected service lines whose exact p90 time to appointment in the selected window exceeds their target. " + targetDesc + " " + ttaHelp},
		promDS, promQuery("A", "count(("+p90+") > ("+target+")) or vector(0)", "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to appointment p50", unit: unitDays, w: 6, h: 4,
		desc: "Median time from referral to its earliest appointment slot not cancelled, over the selected service lines' cohorts in the selected window, interpolated from the histogram (aggregates across service lines; the exact per-line quantiles are in the table below). " + daysNote + " " + g.help(metrics.TimeToAppointmentSeconds)},
		promDS, promQuery("A", g.histogramQuantileDays(metrics.TimeToAppointmentSeconds, 0.5), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to appointment p90", unit: unitDays, w: 6, h: 4,
		desc: "90th percentile time from referral to its earliest appointment slot not cancelled, over the selected service lines' cohorts in the selected window, interpolated from the histogram. Targets are per service line: see the table below. " + daysNote + " " + g.help(metrics.TimeToAppointmentSeconds)},
		promDS, promQuery("A", g.histogramQuantileDays(metrics.TimeToAppointmentSeconds, 0.9), "", true)))

	b.WithRow(g.row("By service line"))
	scorecard := g.tablePanel(spec{title: "Scorecard by service line", unit: unitCount, w: 24, h: 9,
		desc: "One row per service line, " + scopeByLine + ". Referrals: " + g.help(metrics.Referrals) +
			" Conversions and leakage: numerator ÷ catalog denominator (" + g.help(metrics.ScheduledReferrals) + " " + g.help(metrics.LeakedReferrals) + " " + g.help(metrics.InternalLeakedReferrals) + ")" +
			" Time to appointment: exact nearest-rank p50/p90 (" + ttaHelp + ") in days against the p90 target. " + targetDesc +
			" Closed loop: " + g.help(metrics.LoopClosedReferrals)},
		promDS,
		promQuery("A", metrics.SumBy(bySL, refs), "", true),
		promQuery("B", g.countChange(metrics.Referrals, bySL), "", true),
		promQuery("C", g.ratio(metrics.ScheduledReferrals, bySL, ""), "", true),
		promQuery("D", g.ratio(metrics.CompletedReferrals, bySL, ""), "", true),
		promQuery("E", g.ratio(metrics.LeakedReferrals, bySL, ""), "", true),
		promQuery("F", g.ratio(metrics.InternalLeakedReferrals, bySL, ""), "", true),
		promQuery("G", p50, "", true),
		promQuery("H", p90, "", true),
		promQuery("I", target, "", true),
		promQuery("J", overTarget, "", true),
		promQuery("K", g.ratio(metrics.LoopClosedReferrals, bySL, ""), "", true),
	)
	mergeColumns(scorecard, map[string]string{
		"A": "Referrals", "B": "vs 7 days earlier", "C": "Scheduled", "D": "Completed", "E": "Leakage",
		"F": "Internal leakage", "G": "p50 days", "H": "p90 days", "I": "p90 target days", "J": "p90 ÷ target", "K": "Closed loop",
	})
	g.columns(scorecard,
		column{name: "Referrals", unit: unitCount},
		column{name: "vs 7 days earlier", unit: unitRatio},
		column{name: "Scheduled", unit: unitRatio},
		column{name: "Completed", unit: unitRatio},
		column{name: "Leakage", unit: unitRatio, th: g.targetTh(metrics.LeakedReferrals)},
		column{name: "Internal leakage", unit: unitRatio, th: g.targetTh(metrics.InternalLeakedReferrals)},
		column{name: "p50 days", unit: unitDays},
		column{name: "p90 days", unit: unitDays},
		column{name: "p90 target days", unit: unitDays},
		column{name: "p90 ÷ target", unit: unitRatio, th: above(1)},
		column{name: "Closed loop", unit: unitRatio, th: g.targetTh(metrics.LoopClosedReferrals)},
	)
	b.WithPanel(scorecard)

	p90Ago := g.quantileDaysAgo(metrics.TimeToAppointmentQuantileSeconds, "0.9", "1w")
	wow := g.tablePanel(spec{title: "Week-over-week change by service line", unit: unitRatio, w: 24, h: 8,
		desc: "Change against the same window 7 days earlier, " + scopeByLine + ". Referrals: relative change (now ÷ 7 days earlier − 1). Rates: difference in percentage points (now − 7 days earlier). p90 time to appointment: difference in days. " + wowNote},
		promDS,
		promQuery("A", g.countChange(metrics.Referrals, bySL), "", true),
		promQuery("B", g.ratioChange(metrics.ScheduledReferrals, bySL), "", true),
		promQuery("C", g.ratioChange(metrics.CompletedReferrals, bySL), "", true),
		promQuery("D", g.ratioChange(metrics.LeakedReferrals, bySL), "", true),
		promQuery("E", g.ratioChange(metrics.InternalLeakedReferrals, bySL), "", true),
		promQuery("F", "("+p90+") - ("+p90Ago+")", "", true),
		promQuery("G", g.ratioChange(metrics.LoopClosedReferrals, bySL), "", true),
	)
	mergeColumns(wow, map[string]string{
		"A": "Referrals", "B": "Scheduled (pp)", "C": "Completed (pp)", "D": "Leakage (pp)",
		"E": "Internal leakage (pp)", "F": "p90 days", "G": "Closed loop (pp)",
	})
	g.columns(wow, column{name: "p90 days", unit: unitDays})
	b.WithPanel(wow)

	b.WithRow(g.row("Trends by service line"))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Referrals in the window by service line", unit: unitCount, w: 12, h: 8,
		desc: "Referrals of the selected window as of each refresh (a rolling window count, not a rate), " + scopeByLine + ". " + g.help(metrics.Referrals)},
		promDS, promQuery("A", metrics.SumBy(bySL, refs), "{{service_line}}", false)))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "New referrals per day", unit: unitCount, w: 12, h: 8,
		desc: "Referrals created per UTC day in the dashboard's time range, by service line, from ClickHouse (v_referrals, by the time of their referral.created), over the selected service lines and locations."},
		chDS, g.chQuery("A", "referrals_daily.sql", true))).DrawStyle(common.GraphDrawStyleBars))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Scheduled conversion by service line", unit: unitRatio, w: 12, h: 8,
		desc: g.ratioDesc("Share of the cohort booked by T", metrics.ScheduledReferrals, scopeByLine)},
		promDS, promQuery("A", g.ratio(metrics.ScheduledReferrals, bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Completed conversion by service line", unit: unitRatio, w: 12, h: 8,
		desc: g.ratioDesc("Share of the cohort with a completed appointment by T", metrics.CompletedReferrals, scopeByLine)},
		promDS, promQuery("A", g.ratio(metrics.CompletedReferrals, bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Leakage rate by service line", unit: unitRatio, w: 12, h: 8, th: g.targetTh(metrics.LeakedReferrals),
		desc: g.ratioDesc("Share of the cohort that leaked", metrics.LeakedReferrals, scopeByLine) + " " + g.targetNote(metrics.LeakedReferrals, markLine, "")},
		promDS, promQuery("A", g.ratio(metrics.LeakedReferrals, bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Internal leakage rate by service line", unit: unitRatio, w: 12, h: 8, th: g.targetTh(metrics.InternalLeakedReferrals),
		desc: g.ratioDesc("Share of the cohort's in-network referrals that leaked", metrics.InternalLeakedReferrals, scopeByLine) + " " + g.targetNote(metrics.InternalLeakedReferrals, markLine, "leakage ")},
		promDS, promQuery("A", g.ratio(metrics.InternalLeakedReferrals, bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.targetLines(g.timeSeriesPanel(spec{title: "Time to appointment p90 and target by service line", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank p90 time to appointment per service line in the selected window (solid) and its target (dashed). " + targetDesc + " " + daysNote + " " + ttaHelp},
		promDS,
		promQuery("A", p90, "{{service_line}}", false),
		promQuery("B", target, "{{service_line}} target", false))))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Time to appointment p90 ÷ target by service line", unit: unitRatio, w: 12, h: 8, th: above(1),
		desc: "Exact p90 time to appointment per service line divided by its target: above 100% (dashed line) the service line misses its access target. " + targetDesc + " " + ttaHelp},
		promDS, promQuery("A", overTarget, "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Time to appointment p50 by service line", unit: unitDays, w: 12, h: 8,
		desc: "Exact nearest-rank median time to appointment per service line in the selected window. " + daysNote + " " + ttaHelp},
		promDS, promQuery("A", p50, "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Closed-loop rate by service line", unit: unitRatio, w: 12, h: 8, th: g.targetTh(metrics.LoopClosedReferrals),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note within 14 days", metrics.LoopClosedReferrals, scopeByLine) + " " + g.targetNote(metrics.LoopClosedReferrals, markLine, "")},
		promDS, promQuery("A", g.ratio(metrics.LoopClosedReferrals, bySL, ""), "{{service_line}}", false)))
	return b
}

// targetLines draws the series whose legend ends in " target" dashed.
func (g *generator) targetLines(b *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return b.OverrideByRegexp(".* target$", []dashboard.DynamicConfigValue{
		{Id: "custom.lineStyle", Value: map[string]any{"fill": "dash", "dash": []any{10, 10}}},
	})
}

// ownTargets lists the service lines' own p90 targets in days.
func (g *generator) ownTargets() string {
	s := ""
	for i, l := range g.targets.ServiceLinesWithOwnTarget() {
		if i > 0 {
			s += ", "
		}
		s += l + " " + days(g.targets.TimeToAppointmentP90[l]) + " days"
	}
	return s
}

// quantileDaysAgo is quantileDays 7 days earlier.
func (g *generator) quantileDaysAgo(f metrics.Family, quantile, offset string) string {
	return "max by (service_line) (" + g.sel(f, eq("quantile", quantile)).ago(offset).String() + ") / 86400"
}

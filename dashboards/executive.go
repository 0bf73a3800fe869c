package dashboards

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

var bySL = []string{"service_line"}

// help quotes a catalog family's definition for a panel description.
func (g *generator) help(family string) string {
	f := g.family(family)
	return f.Name + ": " + f.Help
}

// ratioDesc says what a ratio panel shows, from the catalog's definitions.
func (g *generator) ratioDesc(what, numerator, scope string) string {
	n := g.family(numerator)
	return fmt.Sprintf("%s = numerator ÷ denominator, each summed %s before dividing. Numerator %s Denominator %s",
		what, scope, g.help(numerator), g.help(n.Denominator))
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
	p90 := g.quantileDays("referral_time_to_appointment_quantile_seconds", "0.9")
	p50 := g.quantileDays("referral_time_to_appointment_quantile_seconds", "0.5")
	target := g.p90TargetDays(p90)
	overTarget := "(" + p90 + ") / (" + target + ")"
	ttaHelp := g.help("referral_time_to_appointment_quantile_seconds")
	targetDesc := fmt.Sprintf("p90 targets: %s; %s days for every other service line.",
		g.ownTargets(), days(t.DefaultTimeToAppointmentP90))
	refs := g.sel("referral_referrals").String()

	b := g.board(uidExecutive, "Referral operations: executive overview",
		"Referral volume, conversion, leakage, access and closed loop per service line, from the KPI exporter (cohort of the selected window as of the last refresh) and ClickHouse.",
		"now-30d", "5m", g.kpiVars()...)

	b.WithRow(g.row("Selected service lines and locations"))
	b.WithPanel(g.statPanel(spec{title: "Referrals", unit: unitCount, w: 4, h: 4,
		desc: "Referrals created in the selected window, summed over the selected service lines and locations. " + g.help("referral_referrals")},
		promDS, promQuery("A", sum(nil, refs), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Referrals vs 7 days earlier", unit: unitRatio, w: 4, h: 4,
		desc: "Relative change of the referrals of the selected window against the same window 7 days earlier: now ÷ 7 days earlier − 1, " + scopeSelection + ". " + g.help("referral_referrals")},
		promDS, promQuery("A", g.countChange("referral_referrals", nil), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Scheduled conversion", unit: unitRatio, w: 4, h: 4,
		desc: g.ratioDesc("Share of the cohort booked by T", "referral_scheduled_referrals", scopeSelection)},
		promDS, promQuery("A", g.ratio("referral_scheduled_referrals", nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Completed conversion", unit: unitRatio, w: 4, h: 4,
		desc: g.ratioDesc("Share of the cohort with a completed appointment by T", "referral_completed_referrals", scopeSelection)},
		promDS, promQuery("A", g.ratio("referral_completed_referrals", nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Leakage rate", unit: unitRatio, w: 4, h: 4, th: above(t.LeakageRateMax),
		desc: g.ratioDesc("Share of the cohort that leaked", "referral_leaked_referrals", scopeSelection) + fmt.Sprintf(" Red at the target maximum %s.", pct(t.LeakageRateMax))},
		promDS, promQuery("A", g.ratio("referral_leaked_referrals", nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Internal leakage rate", unit: unitRatio, w: 4, h: 4, th: above(t.LeakageRateMax),
		desc: g.ratioDesc("Share of the cohort's in-network referrals that leaked", "referral_internal_leaked_referrals", scopeSelection) + fmt.Sprintf(" Red at the leakage target maximum %s.", pct(t.LeakageRateMax))},
		promDS, promQuery("A", g.ratio("referral_internal_leaked_referrals", nil, ""), "", true)))

	b.WithPanel(g.statPanel(spec{title: "Closed-loop rate", unit: unitRatio, w: 6, h: 4, th: below(t.ClosedLoopRateMin),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note sent within 14 days of the first completed visit", "referral_loop_closed_referrals", scopeSelection) + fmt.Sprintf(" Red below the target minimum %s.", pct(t.ClosedLoopRateMin))},
		promDS, promQuery("A", g.ratio("referral_loop_closed_referrals", nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Service lines over their p90 access target", unit: unitCount, w: 6, h: 4, th: above(1),
		desc: "Selected service lines whose exact p90 time to appointment in the selected window exceeds their target. " + targetDesc + " " + ttaHelp},
		promDS, promQuery("A", "count(("+p90+") > ("+target+")) or vector(0)", "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to appointment p50", unit: unitDays, w: 6, h: 4,
		desc: "Median time from referral to its earliest appointment slot not cancelled, over the selected service lines' cohorts in the selected window, interpolated from the histogram (aggregates across service lines; the exact per-line quantiles are in the table below). " + daysNote + " " + g.help("referral_time_to_appointment_seconds")},
		promDS, promQuery("A", g.histogramQuantileDays("referral_time_to_appointment_seconds", 0.5), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Time to appointment p90", unit: unitDays, w: 6, h: 4,
		desc: "90th percentile time from referral to its earliest appointment slot not cancelled, over the selected service lines' cohorts in the selected window, interpolated from the histogram. Targets are per service line: see the table below. " + daysNote + " " + g.help("referral_time_to_appointment_seconds")},
		promDS, promQuery("A", g.histogramQuantileDays("referral_time_to_appointment_seconds", 0.9), "", true)))

	b.WithRow(g.row("By service line"))
	scorecard := g.tablePanel(spec{title: "Scorecard by service line", unit: unitCount, w: 24, h: 9,
		desc: "One row per service line, " + scopeByLine + ". Referrals: " + g.help("referral_referrals") +
			" Conversions and leakage: numerator ÷ catalog denominator (" + g.help("referral_scheduled_referrals") + " " + g.help("referral_leaked_referrals") + " " + g.help("referral_internal_leaked_referrals") + ")" +
			" Time to appointment: exact nearest-rank p50/p90 (" + ttaHelp + ") in days against the p90 target. " + targetDesc +
			" Closed loop: " + g.help("referral_loop_closed_referrals")},
		promDS,
		promQuery("A", sum(bySL, refs), "", true),
		promQuery("B", g.countChange("referral_referrals", bySL), "", true),
		promQuery("C", g.ratio("referral_scheduled_referrals", bySL, ""), "", true),
		promQuery("D", g.ratio("referral_completed_referrals", bySL, ""), "", true),
		promQuery("E", g.ratio("referral_leaked_referrals", bySL, ""), "", true),
		promQuery("F", g.ratio("referral_internal_leaked_referrals", bySL, ""), "", true),
		promQuery("G", p50, "", true),
		promQuery("H", p90, "", true),
		promQuery("I", target, "", true),
		promQuery("J", overTarget, "", true),
		promQuery("K", g.ratio("referral_loop_closed_referrals", bySL, ""), "", true),
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
		column{name: "Leakage", unit: unitRatio, th: above(t.LeakageRateMax)},
		column{name: "Internal leakage", unit: unitRatio, th: above(t.LeakageRateMax)},
		column{name: "p50 days", unit: unitDays},
		column{name: "p90 days", unit: unitDays},
		column{name: "p90 target days", unit: unitDays},
		column{name: "p90 ÷ target", unit: unitRatio, th: above(1)},
		column{name: "Closed loop", unit: unitRatio, th: below(t.ClosedLoopRateMin)},
	)
	b.WithPanel(scorecard)

	p90Ago := g.quantileDaysAgo("referral_time_to_appointment_quantile_seconds", "0.9", "1w")
	wow := g.tablePanel(spec{title: "Week-over-week change by service line", unit: unitRatio, w: 24, h: 8,
		desc: "Change against the same window 7 days earlier, " + scopeByLine + ". Referrals: relative change (now ÷ 7 days earlier − 1). Rates: difference in percentage points (now − 7 days earlier). p90 time to appointment: difference in days. " + wowNote},
		promDS,
		promQuery("A", g.countChange("referral_referrals", bySL), "", true),
		promQuery("B", g.ratioChange("referral_scheduled_referrals", bySL), "", true),
		promQuery("C", g.ratioChange("referral_completed_referrals", bySL), "", true),
		promQuery("D", g.ratioChange("referral_leaked_referrals", bySL), "", true),
		promQuery("E", g.ratioChange("referral_internal_leaked_referrals", bySL), "", true),
		promQuery("F", "("+p90+") - ("+p90Ago+")", "", true),
		promQuery("G", g.ratioChange("referral_loop_closed_referrals", bySL), "", true),
	)
	mergeColumns(wow, map[string]string{
		"A": "Referrals", "B": "Scheduled (pp)", "C": "Completed (pp)", "D": "Leakage (pp)",
		"E": "Internal leakage (pp)", "F": "p90 days", "G": "Closed loop (pp)",
	})
	g.columns(wow, column{name: "p90 days", unit: unitDays})
	b.WithPanel(wow)

	b.WithRow(g.row("Trends by service line"))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Referrals in the window by service line", unit: unitCount, w: 12, h: 8,
		desc: "Referrals of the selected window as of each refresh (a rolling window count, not a rate), " + scopeByLine + ". " + g.help("referral_referrals")},
		promDS, promQuery("A", sum(bySL, refs), "{{service_line}}", false)))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "New referrals per day", unit: unitCount, w: 12, h: 8,
		desc: "Referrals created per UTC day in the dashboard's time range, by service line, from ClickHouse (v_referrals, by the time of their referral.created), over the selected service lines and locations."},
		chDS, g.chQuery("A", "referrals_daily.sql", true))).DrawStyle(common.GraphDrawStyleBars))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Scheduled conversion by service line", unit: unitRatio, w: 12, h: 8,
		desc: g.ratioDesc("Share of the cohort booked by T", "referral_scheduled_referrals", scopeByLine)},
		promDS, promQuery("A", g.ratio("referral_scheduled_referrals", bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Completed conversion by service line", unit: unitRatio, w: 12, h: 8,
		desc: g.ratioDesc("Share of the cohort with a completed appointment by T", "referral_completed_referrals", scopeByLine)},
		promDS, promQuery("A", g.ratio("referral_completed_referrals", bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Leakage rate by service line", unit: unitRatio, w: 12, h: 8, th: above(t.LeakageRateMax),
		desc: g.ratioDesc("Share of the cohort that leaked", "referral_leaked_referrals", scopeByLine) + fmt.Sprintf(" Dashed line: target maximum %s.", pct(t.LeakageRateMax))},
		promDS, promQuery("A", g.ratio("referral_leaked_referrals", bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Internal leakage rate by service line", unit: unitRatio, w: 12, h: 8, th: above(t.LeakageRateMax),
		desc: g.ratioDesc("Share of the cohort's in-network referrals that leaked", "referral_internal_leaked_referrals", scopeByLine) + fmt.Sprintf(" Dashed line: leakage target maximum %s.", pct(t.LeakageRateMax))},
		promDS, promQuery("A", g.ratio("referral_internal_leaked_referrals", bySL, ""), "{{service_line}}", false)))
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
	b.WithPanel(g.timeSeriesPanel(spec{title: "Closed-loop rate by service line", unit: unitRatio, w: 12, h: 8, th: below(t.ClosedLoopRateMin),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note within 14 days", "referral_loop_closed_referrals", scopeByLine) + fmt.Sprintf(" Dashed line: target minimum %s.", pct(t.ClosedLoopRateMin))},
		promDS, promQuery("A", g.ratio("referral_loop_closed_referrals", bySL, ""), "{{service_line}}", false)))
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

func pct(r float64) string { return num(r*100) + "%" }

// quantileDaysAgo is quantileDays 7 days earlier.
func (g *generator) quantileDaysAgo(family, quantile, offset string) string {
	return "max by (service_line) (" + g.sel(family, eq("quantile", quantile)).ago(offset).String() + ") / 86400"
}

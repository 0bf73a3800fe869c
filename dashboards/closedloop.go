package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
)

// closedLoop is for the teams that send consult notes back to referring
// offices: the closed-loop rate against its target, how long notes take, and
// the visits still waiting for one.
func (g *generator) closedLoop() *dashboard.DashboardBuilder {
	closed := metrics.LoopClosedReferrals
	closedHelp := g.help(closed)
	cohortHelp := g.help(metrics.LoopCohortReferrals)
	openLoops := "Referrals whose first completed visit is in the dashboard's time range and at least 14 days old, with no consult note sent back since (ClickHouse v_loops, evaluated now), over the selected service lines and locations (the \"other\" location matches none)."

	b := g.board(uidClosedLoop, "Referral operations: closed loop and communication",
		"Whether consult notes go back to the referring offices within 14 days of the first visit: the closed-loop rate against its target, note delays, and the open loops to chase.",
		"now-90d", "5m", g.kpiVars()...)

	b.WithRow(g.row("Closed-loop rate"))
	b.WithPanel(g.statPanel(spec{title: "Closed-loop rate", unit: unitRatio, w: 5, h: 4, th: g.targetTh(closed),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note sent within 14 days of the first completed visit", closed, scopeSelection) + " " + g.targetNote(closed, markStat, "")},
		promDS, promQuery("A", g.ratio(closed, nil, ""), "", true)))
	// The patient-based variant beside it: each patient's earliest referral of
	// the window, closed by a note to the referrer (KPIS.md).
	b.WithPanel(g.statPanel(spec{title: "CMS50-style closed-loop rate", unit: unitRatio, w: 5, h: 4,
		desc: g.ratioDesc("Share of patients whose earliest referral created in the selected window got a consult note back to the referrer (CMS50-style, patient-based; not a certified eCQM)", metrics.CMS50ClosedReferrals, scopeSelection) + " " + g.help(metrics.CMS50CohortReferrals)},
		promDS, promQuery("A", g.ratio(metrics.CMS50ClosedReferrals, nil, ""), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Matured closed-loop cohort", unit: unitCount, w: 5, h: 4,
		desc: "Referrals whose first completed visit fell in the selected window shifted back 14 days, summed " + scopeSelection + ". " + cohortHelp},
		promDS, promQuery("A", metrics.SumBy(nil, g.sel(metrics.LoopCohortReferrals).String()), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Consult notes within 14 days", unit: unitCount, w: 5, h: 4,
		desc: "Referrals of the matured cohort whose consult note was sent within 14 days of the first completed visit, summed " + scopeSelection + ". " + closedHelp},
		promDS, promQuery("A", metrics.SumBy(nil, g.sel(closed).String()), "", true)))
	b.WithPanel(g.statPanel(spec{title: "Open loops past 14 days", unit: unitCount, w: 4, h: 4,
		desc: "Number of open loops: " + openLoops},
		chDS, g.chQuery("A", "open_loops_by_service_line.sql", false)).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"sum"}).Values(false).Fields("/^open_loops$/")))

	b.WithRow(g.row("By service line and location"))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Closed-loop rate by service line", unit: unitRatio, w: 12, h: 8, th: g.targetTh(closed),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note within 14 days", closed, scopeByLine) + " " + g.targetNote(closed, markLine, "")},
		promDS, promQuery("A", g.ratio(closed, bySL, ""), "{{service_line}}", false)))
	b.WithPanel(g.barGaugePanel(spec{title: "Closed-loop rate by location", unit: unitRatio, w: 12, h: 8, th: g.targetTh(closed),
		desc: g.ratioDesc("Share of the matured closed-loop cohort with a consult note within 14 days", closed, "per location over the selected service lines in the selected window") + " " + g.targetNote(closed, markBar, "")},
		promDS, promQuery("A", g.ratio(closed, []string{"location"}, ""), "{{location}}", true)).Max(1))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Consult notes within 14 days by week of visit", unit: unitRatio, w: 12, h: 8, th: g.targetTh(closed),
		desc: "Share of first completed visits with a consult note sent back within 14 days, per week (Monday, UTC) of the visit and service line, over visits in the dashboard's time range that are at least 14 days old (ClickHouse v_loops, evaluated now). " + g.targetNote(closed, markLine, "")},
		chDS, g.chQuery("A", "loop_closed_weekly.sql", true)))
	delay := g.tablePanel(spec{title: "Consult-note delay by service line", unit: unitCount, w: 12, h: 8,
		desc: "Per service line, over referrals whose first completed visit is in the dashboard's time range (ClickHouse v_loops, evaluated now): visits, consult notes sent back, notes within 14 days, and the median and p90 days from the first completed visit to the first consult note (ClickHouse quantileExact over referrals with a note)."},
		chDS, g.chQuery("A", "loop_delay_by_service_line.sql", false))
	g.columns(delay, column{name: "p50_days_to_note", unit: unitDays}, column{name: "p90_days_to_note", unit: unitDays, th: above(14)})
	b.WithPanel(delay)

	b.WithRow(g.row("Open loops past 14 days"))
	b.WithPanel(g.barGaugePanel(spec{title: "Open loops by service line", unit: unitCount, w: 8, h: 12,
		desc: "Open loops per service line. " + openLoops},
		chDS, g.chQuery("A", "open_loops_by_service_line.sql", false)).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Values(true).Calcs([]string{"lastNotNull"}).Fields("/^open_loops$/")))
	list := g.tablePanel(spec{title: "Open loops, oldest visit first", unit: unitCount, w: 16, h: 12,
		desc: "The open loops to chase, oldest first visit first (first 1000), with the days since that visit. " + openLoops + " Ids and dimensions only, no patient data."},
		chDS, g.chQuery("A", "open_loops.sql", false))
	g.columns(list, column{name: "days_since_visit", unit: unitDays})
	b.WithPanel(list)
	return b
}

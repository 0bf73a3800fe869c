package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
)

// Referrer activity states of KPIS.md, the values of referral_referrers' state label.
var referrerStates = []string{"new", "active", "fading", "inactive"}

// sources is for executives and outreach: who refers, who is fading, and
// where referrals leak, by referrer type and network.
func (g *generator) sources() *dashboard.DashboardBuilder {
	referrersHelp := g.help(metrics.Referrers)
	activity := "KPIS.md: n = referrals in the last 90 days, base = referrals in the 275 days before × 90/275; new: n > 0 and none before; active: n ≥ 0.5·base; fading: 0 < n < 0.5·base; inactive: n = 0 and base > 0."
	byType := []string{metrics.LabelReferrerType}
	byNetwork := []string{metrics.LabelReferrerNetwork}

	b := g.board(uidSources, "Referral operations: referral sources and leakage",
		"Which referrers send referrals, which are fading, and where referrals leak out of network, by referrer type and network.",
		"now-90d", "5m", g.kpiVars()...)

	b.WithRow(g.row("Referrer activity (all service lines and locations)"))
	for _, state := range referrerStates {
		b.WithPanel(g.statPanel(spec{title: strings.ToUpper(state[:1]) + state[1:] + " referrers", unit: unitCount, w: 6, h: 4,
			desc: fmt.Sprintf("Referrers in the %q activity state at the latest refresh, all referrer types (the metric has no service line or location). %s %s", state, activity, referrersHelp)},
			promDS, promQuery("A", metrics.SumBy(nil, g.sel(metrics.Referrers, eq(metrics.LabelState, state)).String()), "", true)))
	}
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Referrers by activity state", unit: unitCount, w: 12, h: 8,
		desc: "Referrers per activity state over time, all referrer types. " + activity + " " + referrersHelp},
		promDS, promQuery("A", metrics.SumBy([]string{metrics.LabelState}, g.sel(metrics.Referrers).String()), "{{state}}", false))))
	b.WithPanel(g.barGaugePanel(spec{title: "Fading and inactive referrers by referrer type", unit: unitCount, w: 12, h: 8,
		desc: "Referrers in the fading or inactive state per referrer type (that of their latest referral) at the latest refresh. " + activity + " " + referrersHelp},
		promDS, promQuery("A", metrics.SumBy(byType, g.sel(metrics.Referrers, re(metrics.LabelState, "fading|inactive")).String()), "{{referrer_type}}", true)))

	b.WithRow(g.row("Leakage by source"))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Leakage rate by referrer type", unit: unitRatio, w: 12, h: 8, th: g.targetTh(metrics.SourceLeakedReferrals),
		desc: g.ratioDesc("Share of the cohort's referrals that leaked, per referrer type", metrics.SourceLeakedReferrals, "per referrer type over the selected service lines in the selected window (the metric has no location)") + " " + g.targetNote(metrics.SourceLeakedReferrals, markLine, "")},
		promDS, promQuery("A", g.ratio(metrics.SourceLeakedReferrals, byType, ""), "{{referrer_type}}", false)))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Leakage rate by referrer network", unit: unitRatio, w: 12, h: 8, th: g.targetTh(metrics.SourceLeakedReferrals),
		desc: g.ratioDesc("Share of the cohort's referrals that leaked, per referrer network (in: in-network referrers)", metrics.SourceLeakedReferrals, "per referrer network over the selected service lines in the selected window (the metric has no location)") + " " + g.targetNote(metrics.SourceLeakedReferrals, markLine, "")},
		promDS, promQuery("A", g.ratio(metrics.SourceLeakedReferrals, byNetwork, ""), "{{referrer_network}}", false)))

	byTypeNetwork := []string{metrics.LabelReferrerType, metrics.LabelReferrerNetwork}
	leakTable := g.tablePanel(spec{title: "Referrals and leakage by referrer type and network", unit: unitCount, w: 12, h: 9,
		desc: "Referrals, leaked referrals and leakage rate per referrer type and network, over the selected service lines in the selected window, at the latest refresh. Referrals: " + g.help(metrics.SourceReferrals) + " Leaked: " + g.help(metrics.SourceLeakedReferrals)},
		promDS,
		promQuery("A", metrics.SumBy(byTypeNetwork, g.sel(metrics.SourceReferrals).String()), "", true),
		promQuery("B", metrics.SumBy(byTypeNetwork, g.sel(metrics.SourceLeakedReferrals).String()), "", true),
		promQuery("C", g.ratio(metrics.SourceLeakedReferrals, byTypeNetwork, ""), "", true))
	mergeColumns(leakTable, map[string]string{"A": "Referrals", "B": "Leaked", "C": "Leakage rate"})
	g.columns(leakTable, column{name: "Referrals", unit: unitCount}, column{name: "Leaked", unit: unitCount},
		column{name: "Leakage rate", unit: unitRatio, th: g.targetTh(metrics.SourceLeakedReferrals)})
	b.WithPanel(leakTable)
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Referrals by referrer type", unit: unitCount, w: 12, h: 9,
		desc: "Referrals of the selected window's cohort per referrer type over the selected service lines (a rolling window count). " + g.help(metrics.SourceReferrals)},
		promDS, promQuery("A", metrics.SumBy(byType, g.sel(metrics.SourceReferrals).String()), "{{referrer_type}}", false))))

	b.WithRow(g.row("Referrers (ClickHouse scorecard, all service lines)"))
	scoreCols := []column{
		{name: "scheduled_rate", unit: unitRatio}, {name: "completed_rate", unit: unitRatio},
		{name: "leakage_rate", unit: unitRatio, th: g.targetTh(metrics.LeakedReferrals)},
		{name: "median_days_to_appointment", unit: unitDays},
		{name: "closed_loop_rate", unit: unitRatio, th: g.targetTh(metrics.LoopClosedReferrals)},
	}
	top := g.tablePanel(spec{title: "Top referrers, last 90 days", unit: unitCount, w: 24, h: 10,
		desc: "The 25 referrers with the most referrals in the last 90 days, with their scorecard over the last 365 days from ClickHouse's v_referrer_scorecard: baseline_90d = referrals in the 275 days before × 90/275; rates over the 365 days (NULL where the denominator is 0); median days from referral to appointment; closed-loop rate over visits at least 14 days old. Across all service lines and locations."},
		chDS, g.chQuery("A", "top_referrers.sql", false))
	g.columns(top, scoreCols...)
	b.WithPanel(top)
	fading := g.tablePanel(spec{title: "Fading and inactive referrers", unit: unitCount, w: 24, h: 10,
		desc: "Referrers whose referrals in the last 90 days fell below half their baseline (fading) or to none (inactive), largest drop first (first 50), from ClickHouse's v_referrer_scorecard. " + activity + " drop_90d = baseline_90d − referrals_90d. Across all service lines and locations."},
		chDS, g.chQuery("A", "fading_referrers.sql", false))
	g.columns(fading, scoreCols...)
	b.WithPanel(fading)
	return b
}

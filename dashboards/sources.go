package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
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
		"now-90d", "5m", append(g.kpiVars(), referrerVar())...)

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

	b.WithRow(g.row("Leakage by payer class and reason (all service lines)"))
	byPayer, byReason := []string{metrics.LabelPayerClass}, []string{metrics.LabelReason}
	b.WithPanel(g.barGaugePanel(spec{title: "Leaked referrals by payer class, now", unit: unitCount, w: 12, h: 8,
		desc: "Leaked referrals of the selected window's cohort per payer class of the referral, at the latest refresh, over every service line (the metric has neither service line nor location, to keep the series few). " + g.help(metrics.LeakedByPayerClassReferrals)},
		promDS, promQuery("A", metrics.SumBy(byPayer, g.sel(metrics.LeakedByPayerClassReferrals).String()), "{{payer_class}}", true)))
	b.WithPanel(g.barGaugePanel(spec{title: "Leaked referrals by reason, now", unit: unitCount, w: 12, h: 8,
		desc: "Leaked referrals of the selected window's cohort per leak reason, at the latest refresh, over every service line: the reason of the referral's referral.leaked (patient choice, access, payer; other when it gives none), or destination_out when it leaked by its final destination only (the metric has neither service line nor location; v_referrals.leak_reason has each referral's). " + g.help(metrics.LeakedByReasonReferrals)},
		promDS, promQuery("A", metrics.SumBy(byReason, g.sel(metrics.LeakedByReasonReferrals).String()), "{{reason}}", true)))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Leaked referrals by payer class", unit: unitCount, w: 12, h: 8,
		desc: "Leaked referrals of the selected window's cohort per payer class over every service line (a rolling window count). " + g.help(metrics.LeakedByPayerClassReferrals)},
		promDS, promQuery("A", metrics.SumBy(byPayer, g.sel(metrics.LeakedByPayerClassReferrals).String()), "{{payer_class}}", false))))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Leaked referrals by reason", unit: unitCount, w: 12, h: 8,
		desc: "Leaked referrals of the selected window's cohort per leak reason over every service line (a rolling window count). " + g.help(metrics.LeakedByReasonReferrals)},
		promDS, promQuery("A", metrics.SumBy(byReason, g.sel(metrics.LeakedByReasonReferrals).String()), "{{reason}}", false))))
	b.WithPanel(g.tablePanel(spec{title: "Leaked referrals by service line, reason and payer class", unit: unitCount, w: 24, h: 9,
		desc: "Leaked referrals created in the dashboard's time range per service line, leak reason and payer class, most first (first 1000), filtered by the selected service lines and locations: ClickHouse's v_referrals (evaluated now; its leak_reason is the KPIs'), the drill-down the metrics above leave out. No patient data."},
		chDS, g.chQuery("A", "leaked_by_reason_and_payer.sql", false)))

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

	g.attention(b)
	return b
}

// attention is the liaisons' row: the attention levels over time from the
// exporter, the worklist from ClickHouse, and the trend of the referrer its
// links pick.
func (g *generator) attention(b *dashboard.DashboardBuilder) {
	levels := "KPIS.md referrer attention, over each referrer's referrals of the last 365 days: n = referrals in the last 90 days, " +
		"base = referrals in the 275 days before × 90/275, drop = 1 − n/base; critical: base ≥ 2 and (drop ≥ 0.75 or no referral for 60 days); " +
		"high: base ≥ 1 and (drop ≥ 0.5 or half its referrals leaked); medium: drop ≥ 0.25 or 3 open loops; minor: the rest."
	help := g.help(metrics.AttentionReferrers)
	b.WithRow(g.row("Referrer attention (liaison worklist, all service lines and locations)"))
	b.WithPanel(stacked(g.timeSeriesPanel(spec{title: "Referrers by attention level", unit: unitCount, w: 12, h: 8,
		desc: "Referrers per attention level over time, all referrer types. " + levels + " " + help},
		promDS, promQuery("A", metrics.SumBy([]string{metrics.LabelLevel}, g.sel(metrics.AttentionReferrers).String()), "{{level}}", false))))
	b.WithPanel(g.timeSeriesPanel(spec{title: "Critical referrers by referrer type", unit: unitCount, w: 12, h: 8,
		desc: "Referrers at the critical attention level per referrer type (that of their latest referral) over time: what the alert " +
			"ReferralCriticalReferrersGrowing compares with a week earlier. " + levels + " " + help},
		promDS, promQuery("A", metrics.SumBy([]string{metrics.LabelReferrerType}, g.sel(metrics.AttentionReferrers, eq(metrics.LabelLevel, kpi.Levels[0])).String()), "{{referrer_type}}", false)))

	worklist := g.tablePanel(spec{title: "Liaison worklist", unit: unitCount, w: 24, h: 12,
		desc: "The top 50 referrers to visit, from ClickHouse's v_referrer_attention as of now: critical first, then high, medium and minor, " +
			"each by base descending. " + levels + " leak_share = leaked / all of its referrals of the 365 days; open_loops = its referrals with a " +
			"completed visit at least 14 days old and no consult note. Type, organization and main service line are those of its referrals. " +
			"A referrer id opens its weekly trend (the Referrer trend panel)."},
		chDS, g.chQuery("A", "liaison_worklist.sql", false))
	g.columns(worklist, column{name: "base", unit: unitCount}, column{name: "drop", unit: unitRatio},
		column{name: "days_since_last", unit: unitDays}, column{name: "leak_share", unit: unitRatio})
	// The level in the colour of its urgency, as liaisons scan the list.
	levelColours := map[string]any{}
	for i, colour := range []string{"red", "orange", "yellow", "green"} {
		levelColours[kpi.Levels[i]] = map[string]any{"color": colour, "index": i}
	}
	worklist.OverrideByName("level", []dashboard.DynamicConfigValue{
		{Id: "mappings", Value: []map[string]any{{"type": "value", "options": levelColours}}},
		{Id: "custom.cellOptions", Value: map[string]any{"type": string(common.TableCellDisplayModeColorText)}},
	})
	worklist.OverrideByName("referrer_id", []dashboard.DynamicConfigValue{{Id: "links", Value: []map[string]any{{
		"title": "Weekly trend of ${__value.raw}",
		"url": "/d/" + uidSources + "?${" + varPrometheus + ":queryparam}&${" + varClickHouse + ":queryparam}&${__url_time_range}" +
			"&var-" + varReferrer + "=${__value.raw:percentencode}",
	}}}})
	b.WithPanel(worklist)

	b.WithPanel(g.timeSeriesPanel(spec{title: "Referrer trend", unit: unitCount, w: 24, h: 8,
		desc: "Referrals per week (Mondays, UTC) of the referrer in the Referrer variable (a worklist link sets it) over the last 365 days, " +
			"all service lines and locations, and how many of them leaked, from ClickHouse's v_referrals: the n and base of its attention level. " +
			"Empty until a referrer is picked."},
		chDS, g.chQuery("A", "referrer_trend.sql", true)).TimeFrom("365d"))
}

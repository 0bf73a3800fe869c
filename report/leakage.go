package report

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/metrics/kpi"
)

// groups are the current window's groups of the one-dimension breakdown d,
// by value.
func (r Report) groups(d kpi.Dimension) map[string]kpi.Fields {
	out := map[string]kpi.Fields{}
	for _, g := range r.window(r.Current()).Groups {
		if len(g.Labels) == 1 && g.Labels[0].Dimension == d {
			out[g.Labels[0].Value] = g.Fields
		}
	}
	return out
}

// share formats n of total as a percentage.
func share(n, total int64) string {
	v, ok := ratio(n, total)
	return leakageMeasure.format(v, ok)
}

func (r Report) leakageSection() section {
	w := r.Window.String()
	tot := r.window(r.Current()).Totals
	target := func(title, x string) *chart {
		return &chart{Title: title, YLabel: "% of referrals leaked", XLabel: x, Bars: true, Percent: true,
			Target: &r.Targets.LeakageRateMax, TargetLabel: "target max " + formatFloat(100*r.Targets.LeakageRateMax, 0) + "%"}
	}

	// by source: the referrer type breakdown
	byType := r.groups(kpi.ReferrerType)
	source := target("Leakage rate by referral source (referrer type)", "referrer type")
	s := series{Name: "leakage rate"}
	sourceTable := &table{Header: []string{"Referrer type", "Referrals", "Leaked", "Leakage rate"}}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		f := byType[typ]
		v, ok := ratio(f.Leaked, f.Referrals)
		source.XLabels = append(source.XLabels, typ)
		s.Values = append(s.Values, v)
		sourceTable.Rows = append(sourceTable.Rows, []cell{{Text: typ}, {Text: strconv.FormatInt(f.Referrals, 10)}, {Text: strconv.FormatInt(f.Leaked, 10)}, {Text: leakageMeasure.format(v, ok)}})
	}
	source.Series = []series{s}

	// by payer class: every class of EVENTS.md, leaked from the totals'
	// leaked_by_payer_class, referrals from the payer class breakdown
	byPayer := r.groups(kpi.PayerClass)
	payer := target("Leakage rate by payer class", "payer class")
	s = series{Name: "leakage rate"}
	payerTable := &table{Header: []string{"Payer class", "Referrals", "Leaked", "Share of leaked", "Leakage rate"}}
	for _, c := range event.EnumValues("payer_class") {
		n, leaked := byPayer[c].Referrals, tot.LeakedByPayerClass[c]
		v, ok := ratio(leaked, n)
		payer.XLabels = append(payer.XLabels, c)
		s.Values = append(s.Values, v)
		payerTable.Rows = append(payerTable.Rows, []cell{{Text: c}, {Text: strconv.FormatInt(n, 10)}, {Text: strconv.FormatInt(leaked, 10)},
			{Text: share(leaked, tot.Leaked)}, {Text: leakageMeasure.format(v, ok)}})
	}
	payer.Series = []series{s}

	// by reason
	reason := &chart{Title: "Leaked referrals by reason", YLabel: "leaked referrals per " + w, XLabel: "leak reason", Bars: true}
	s = series{Name: "leaked referrals"}
	reasonTable := &table{Header: []string{"Leak reason", "Leaked", "Share of leaked"}}
	for _, why := range kpi.LeakReasons {
		n := tot.LeakedByReason[why]
		reason.XLabels = append(reason.XLabels, why)
		s.Values = append(s.Values, float64(n))
		reasonTable.Rows = append(reasonTable.Rows, []cell{{Text: why}, {Text: strconv.FormatInt(n, 10)}, {Text: share(n, tot.Leaked)}})
	}
	reason.Series = []series{s}
	reasonTable.Rows = append(reasonTable.Rows, []cell{{Text: "all reasons"}, {Text: strconv.FormatInt(tot.Leaked, 10)}, {Text: share(tot.Leaked, tot.Leaked)}})

	in, inOK := ratio(tot.InternalLeaked, tot.InternalReferrals)
	all, allOK := ratio(tot.Leaked, tot.Referrals)
	return section{
		Title: "Leakage by source, payer and reason",
		Blocks: []block{
			{Text: fmt.Sprintf("All referrals: %s leaked (%d of %d); from in-network referrers (internal leakage): %s (%d of %d).",
				leakageMeasure.format(all, allOK), tot.Leaked, tot.Referrals, leakageMeasure.format(in, inOK), tot.InternalLeaked, tot.InternalReferrals)},
			{Chart: source},
			{Table: sourceTable},
			{Chart: payer},
			{Table: payerTable},
			{Chart: reason},
			{Table: reasonTable},
		},
		Notes: []string{
			"KPIS.md: leakage rate = leaked referrals in C / |C| (leaked: final destination network out, or a referral.leaked), W = " + w +
				", by referrer_type and by payer_class of the referral's referral.created; internal leakage: the same restricted to referrer_network = in.",
			"KPIS.md \"Stage, priority and payer KPIs (version 2)\", leakage by payer class and by reason: the leaked referrals of C counted by payer_class and by leak_reason " +
				"(the reason of the first referral.leaked by T, other when it has none; destination_out when the referral leaked by its final destination only); " +
				"the same numbers as `referralops kpi --as-of T --format json` (its " + w + " object, totals: leaked_by_payer_class, leaked_by_reason). " +
				"Share of leaked: of all leaked referrals of C; the referrals per payer class are the payer_class breakdown of |C|.",
		},
	}
}

package report

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// measure is one headline KPI: how to read it from a group's Fields, its
// unit, its target (if any) and the KPIS.md KPI it is.
type measure struct {
	Name string
	KPI  string // the KPIS.md KPI
	// Value is the measure and whether it has one (a ratio's denominator > 0).
	Value func(f kpi.Fields) (float64, bool)
	// Percent: a ratio shown as a percentage; else Days: seconds shown in days;
	// else Hours: seconds shown in hours; else a count.
	Percent, Days, Hours bool
	// Target is the bound and whether it is a maximum (false: a minimum);
	// ok false when the KPI has no target.
	Target func(t metrics.Targets, line string) (bound float64, isMax, ok bool)
}

func ratio(n, d int64) (float64, bool) {
	if d == 0 {
		return math.NaN(), false
	}
	return float64(n) / float64(d), true
}

var (
	referralsMeasure = measure{Name: "Referrals", KPI: "referrals (|C|)",
		Value: func(f kpi.Fields) (float64, bool) { return float64(f.Referrals), true }}
	leakageMeasure = measure{Name: "Leakage rate", KPI: "leakage rate", Percent: true,
		Value:  func(f kpi.Fields) (float64, bool) { return ratio(f.Leaked, f.Referrals) },
		Target: func(t metrics.Targets, _ string) (float64, bool, bool) { return t.LeakageRateMax, true, true }}
	accessMeasure = measure{Name: "Time to appointment p90", KPI: "time to appointment (access), p90", Days: true,
		Value: func(f kpi.Fields) (float64, bool) {
			if f.TimeToAppointment.P90 == nil {
				return math.NaN(), false
			}
			return float64(*f.TimeToAppointment.P90) / 86400, true
		},
		Target: func(t metrics.Targets, line string) (float64, bool, bool) {
			return t.TimeToAppointmentP90Target(line).Hours() / 24, true, true
		}}
	loopMeasure = measure{Name: "Closed-loop rate", KPI: "closed-loop rate", Percent: true,
		Value:  func(f kpi.Fields) (float64, bool) { return ratio(f.LoopClosed14d, f.LoopCohort) },
		Target: func(t metrics.Targets, _ string) (float64, bool, bool) { return t.ClosedLoopRateMin, false, true }}
)

// headline are the headline KPIs in the report's order.
var headline = []measure{
	referralsMeasure,
	{Name: "Scheduled conversion", KPI: "scheduled conversion", Percent: true,
		Value: func(f kpi.Fields) (float64, bool) { return ratio(f.Scheduled, f.Referrals) }},
	{Name: "Completed conversion", KPI: "completed conversion", Percent: true,
		Value: func(f kpi.Fields) (float64, bool) { return ratio(f.Completed, f.Referrals) }},
	leakageMeasure,
	accessMeasure,
	loopMeasure,
	{Name: "No-show rate", KPI: "no-show rate", Percent: true,
		Value:  func(f kpi.Fields) (float64, bool) { return ratio(f.NoShows, f.AppointmentsKeptOrMissed) },
		Target: func(t metrics.Targets, _ string) (float64, bool, bool) { return t.NoShowRateMax, true, true }},
	{Name: "Authorization denial rate", KPI: "authorization denial rate", Percent: true,
		Value:  func(f kpi.Fields) (float64, bool) { return ratio(f.AuthDenied, f.AuthDecisions) },
		Target: func(t metrics.Targets, _ string) (float64, bool, bool) { return t.AuthDenialRateMax, true, true }},
	{Name: "Incomplete rate", KPI: "incomplete rate", Percent: true,
		Value:  func(f kpi.Fields) (float64, bool) { return ratio(f.Incomplete, f.Referrals) },
		Target: func(t metrics.Targets, _ string) (float64, bool, bool) { return t.IncompleteRateMax, true, true }},
	{Name: "Unscheduled backlog over 7 days", KPI: "unscheduled backlog (8-14d + 15-30d + 31d+)",
		Value: func(f kpi.Fields) (float64, bool) {
			b := f.Backlog
			return float64(b.Days8To14 + b.Days15To30 + b.Days31Plus), true
		}},
}

// format shows a measure's value in its unit.
func (m measure) format(v float64, ok bool) string {
	switch {
	case !ok:
		return "n/a"
	case m.Percent:
		return formatFloat(100*v, 1) + "%"
	case m.Days:
		return formatFloat(v, 1) + " d"
	case m.Hours:
		return formatFloat(v, 1) + " h"
	default:
		return formatFloat(v, 0)
	}
}

// change shows the week-over-week change: percentage points for ratios.
func (m measure) change(now, before float64, okNow, okBefore bool) string {
	if !okNow || !okBefore {
		return "n/a"
	}
	d := now - before
	var s string
	switch {
	case m.Percent:
		s = formatFloat(100*math.Abs(d), 1) + " pp"
	case m.Days, m.Hours:
		s = m.format(math.Abs(d), true)
	default:
		s = formatFloat(math.Abs(d), 0)
	}
	// a change that rounds to zero is +0, never -0
	if d < 0 && strings.ContainsAny(s, "123456789") {
		return "-" + s
	}
	return "+" + s
}

func formatFloat(v float64, decimals int) string {
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if s == "-0" || strings.HasPrefix(s, "-0.") && strings.Trim(s[3:], "0") == "" {
		s = s[1:]
	}
	return s
}

// document lays out the report.
func (r Report) document() document {
	asOf := r.AsOf.Format(time.RFC3339)
	d := document{
		Title: "Referral operations: weekly report",
		Subtitle: fmt.Sprintf("As of %s. Every number is a KPI of KPIS.md over the referrals created in the %s before "+
			"the time shown, evaluated exactly as of that time (events after it ignored).", asOf, r.Window),
	}
	d.Sections = append(d.Sections, r.headlineSection(), r.trendSection(), r.prioritySection(), r.leakageSection(), r.loopSection(),
		r.worklistSection(), r.healthSection())
	return d
}

func (r Report) window(s kpi.Snapshot) kpi.WindowSnapshot { return s.Windows[0] }

func (r Report) headlineSection() section {
	now, before := r.window(r.Current()), r.window(r.Previous())
	t := &table{Header: []string{"KPI", "This week", "Week before", "Change", "Target", "Status"}}
	for _, m := range headline {
		v, ok := m.Value(now.Totals)
		pv, pok := m.Value(before.Totals)
		row := []cell{{Text: m.Name}, {Text: m.format(v, ok)}, {Text: m.format(pv, pok)}, {Text: m.change(v, pv, ok, pok)}}
		target, status := "none", cell{Text: "-"}
		if m.Target != nil {
			bound, isMax, _ := m.Target(r.Targets, "")
			word := "min "
			if isMax {
				word = "max "
			}
			target = word + m.format(bound, true)
			if ok {
				if met := isMax && v <= bound || !isMax && v >= bound; met {
					status = cell{Text: "met", Tone: "good"}
				} else {
					status = cell{Text: "missed", Tone: "bad"}
				}
			}
		}
		if m.Name == "Unscheduled backlog over 7 days" {
			target, status = r.backlogStatus(now)
		}
		t.Rows = append(t.Rows, append(row, cell{Text: target}, status))
	}
	a := r.Current().Attention.Totals
	return section{
		Title: "Headline KPIs",
		Blocks: []block{
			{Text: fmt.Sprintf("All service lines, as of %s against %s. Referrers needing attention (KPIS.md \"Referrer attention\"): %d critical, %d high, %d medium.",
				r.AsOf.Format(time.DateOnly), r.AsOf.Add(-week).Format(time.DateOnly), a.Critical, a.High, a.Medium)},
			{Table: t},
		},
		Notes: []string{
			"KPIS.md \"KPIs at evaluation time T over window W\" with W = " + r.Window.String() + ": " + kpiNames(headline) +
				"; the same numbers as `referralops kpi --as-of T --format json` (its " + r.Window.String() + " object, totals).",
			"Targets: metrics.Targets (the dashboards' and alerts' targets; --targets FILE). Time to appointment uses the default p90 target for all lines together; change in percentage points (pp) for rates.",
		},
	}
}

func kpiNames(ms []measure) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.KPI
	}
	return strings.Join(names, ", ")
}

// backlogStatus: the backlog target is per service line.
func (r Report) backlogStatus(ws kpi.WindowSnapshot) (string, cell) {
	over := 0
	for _, f := range ws.ByServiceLine {
		b := f.Backlog
		if b.Days8To14+b.Days15To30+b.Days31Plus > int64(r.Targets.BacklogOver7Days) {
			over++
		}
	}
	target := "max " + strconv.Itoa(r.Targets.BacklogOver7Days) + " per line"
	if over == 0 {
		return target, cell{Text: "met", Tone: "good"}
	}
	return target, cell{Text: strconv.Itoa(over) + " lines over", Tone: "bad"}
}

// lines are the service lines of the current snapshot, largest cohort first.
func (r Report) lines() []string {
	ws := r.window(r.Current())
	lines := slices.Clone(r.Current().ServiceLines)
	slices.SortStableFunc(lines, func(a, b string) int {
		return int(ws.ByServiceLine[b].Referrals - ws.ByServiceLine[a].Referrals)
	})
	return lines
}

// weekLabels are the trend charts' x labels: each point's date.
func (r Report) weekLabels() []string {
	out := make([]string, len(r.Points))
	for i, p := range r.Points {
		out[i] = p.AsOf.Format("Jan 2")
	}
	return out
}

// trend is one line chart of m per service line over the weeks.
func (r Report) trend(m measure, title, unit string) *chart {
	c := r.seriesTrend(m, title, unit, r.lines(), func(ws kpi.WindowSnapshot, line string) kpi.Fields { return ws.ByServiceLine[line] })
	if m.Target != nil && !m.Days {
		v, _, _ := m.Target(r.Targets, "")
		c.Target, c.TargetLabel = &v, "target "+m.format(v, true)
	}
	return c
}

// seriesTrend is one line chart of m over the weeks, a line per name, each
// point m of the Fields that fields picks from that week's snapshot.
func (r Report) seriesTrend(m measure, title, unit string, names []string, fields func(kpi.WindowSnapshot, string) kpi.Fields) *chart {
	c := &chart{Title: title, YLabel: unit, XLabel: "week ending (as of)", Percent: m.Percent, XLabels: r.weekLabels()}
	for _, name := range names {
		s := series{Name: name}
		for _, p := range r.Points {
			v, ok := m.Value(fields(r.window(p), name))
			if !ok {
				v = math.NaN()
			}
			s.Values = append(s.Values, v)
		}
		c.Series = append(c.Series, s)
	}
	return c
}

func (r Report) trendSection() section {
	w := r.Window.String()
	return section{
		Title: fmt.Sprintf("%d-week trends per service line", len(r.Points)),
		Blocks: []block{
			{Text: "Each point is an exact replay of the KPIs as of that week's time (T - k x 7 days), not stored history, so any past week can be reported again with the same numbers."},
			{Chart: r.trend(referralsMeasure, "Referrals created in the "+w+" before each week", "referrals per "+w)},
			{Chart: r.trend(accessMeasure, "Time to appointment, p90", "days (p90 of access_at - created_at)")},
			{Chart: r.trend(leakageMeasure, "Leakage rate", "% of referrals leaked")},
		},
		Notes: []string{"KPIS.md: referrals |C|; time to appointment (access) p90, exact nearest rank; leakage rate = leaked referrals in C / |C|; W = " + w + ", per service line of the referral's referral.created. A gap is a week with no referral of that line with an appointment slot (no p90)."},
	}
}

func (r Report) loopSection() section {
	ws := r.window(r.Current())
	lines := r.lines()
	c := &chart{Title: "Closed-loop rate by service line", YLabel: "% of matured visits with a consult note within 14 days", XLabel: "service line",
		Bars: true, Percent: true, Target: &r.Targets.ClosedLoopRateMin, TargetLabel: "target min " + formatFloat(100*r.Targets.ClosedLoopRateMin, 0) + "%"}
	s := series{Name: "closed-loop rate"}
	t := &table{Header: []string{"Service line", "Matured visits", "Closed in 14 days", "Closed-loop rate"}}
	for _, line := range lines {
		f := ws.ByServiceLine[line]
		v, ok := ratio(f.LoopClosed14d, f.LoopCohort)
		c.XLabels = append(c.XLabels, line)
		s.Values = append(s.Values, v)
		tone := ""
		if ok {
			tone = "good"
			if v < r.Targets.ClosedLoopRateMin {
				tone = "bad"
			}
		}
		t.Rows = append(t.Rows, []cell{{Text: line}, {Text: strconv.FormatInt(f.LoopCohort, 10)}, {Text: strconv.FormatInt(f.LoopClosed14d, 10)}, {Text: loopMeasure.format(v, ok), Tone: tone}})
	}
	c.Series = []series{s}
	tot := ws.Totals
	v, ok := ratio(tot.LoopClosed14d, tot.LoopCohort)
	t.Rows = append(t.Rows, []cell{{Text: "all lines"}, {Text: strconv.FormatInt(tot.LoopCohort, 10)}, {Text: strconv.FormatInt(tot.LoopClosed14d, 10)}, {Text: loopMeasure.format(v, ok)}})
	return section{
		Title:  "Closed loop",
		Blocks: []block{{Chart: c}, {Table: t}},
		Notes:  []string{"KPIS.md: closed-loop rate: cohort L = referrals with first_completed_at in (T-W-14d, T-14d]; closed when loop_closed_at - first_completed_at <= 14 days."},
	}
}

func (r Report) worklistSection() section {
	t := &table{Header: []string{"#", "Level", "Referrer", "Organization", "Type", "Main service line", "n", "Base", "Drop", "Days since last", "Leak share", "Open loops"}, Aligns: "rlllllrrrrrr"}
	for i, w := range r.Worklist {
		tone := ""
		if w.Level == "critical" || w.Level == "high" {
			tone = "bad"
		}
		t.Rows = append(t.Rows, []cell{{Text: strconv.Itoa(i + 1)}, {Text: w.Level, Tone: tone}, {Text: w.ReferrerID}, {Text: w.ReferrerOrgID},
			{Text: w.ReferrerType}, {Text: w.ServiceLine}, {Text: strconv.FormatInt(w.N, 10)}, {Text: formatFloat(w.Base, 1)},
			{Text: formatFloat(100*w.Drop, 0) + "%"}, {Text: strconv.FormatInt(w.DaysSinceLast, 10)},
			{Text: formatFloat(100*w.LeakShare, 0) + "%"}, {Text: strconv.FormatInt(w.OpenLoops, 10)}})
	}
	a := r.Current().Attention
	counts := &table{Header: append([]string{"Referrer type"}, kpi.Levels...)}
	row := func(name string, l kpi.AttentionLevels) {
		c := []cell{{Text: name}}
		for _, n := range l.Counts() {
			c = append(c, cell{Text: strconv.FormatInt(n, 10)})
		}
		counts.Rows = append(counts.Rows, c)
	}
	for _, typ := range slices.Sorted(maps.Keys(a.ByType)) {
		row(typ, a.ByType[typ])
	}
	row("all types", a.Totals)
	text := fmt.Sprintf("The first %d referrers of the liaison worklist as of %s, most urgent first (critical, then by base descending). The whole list: ClickHouse view v_referrer_attention.", len(r.Worklist), r.AsOf.Format(time.DateOnly))
	if len(r.Worklist) == 0 {
		text = "No referrer has a referral in the 365 days before " + r.AsOf.Format(time.DateOnly) + "."
	}
	return section{
		Title:  "Liaison worklist",
		Blocks: []block{{Text: text}, {Table: t}, {Text: "Referrers by attention level:"}, {Table: counts}},
		Notes: []string{"KPIS.md \"Referrer attention\": n = referrals in (T-90d, T]; base = referrals in (T-365d, T-90d] x 90/275; drop = 1 - n/base; " +
			"critical: base >= 2 and (drop >= 75% or 60+ days since the last referral); high: base >= 1 and (drop >= 50% or leak share >= 50%); " +
			"medium: drop >= 25% or 3+ open loops; else minor. Type and organization: those of the referrer's latest referral; main service line: its most frequent."},
	}
}

func (r Report) healthSection() section {
	fresh := "No referral milestone is stored at or before " + r.AsOf.Format(time.RFC3339) + "."
	if !r.LatestEvent.IsZero() {
		lag := r.AsOf.Sub(r.LatestEvent)
		fresh = fmt.Sprintf("Latest referral milestone stored at or before T: %s, %s before T.", r.LatestEvent.Format(time.RFC3339), lag.Round(time.Second))
	}
	return section{
		Title: "Pipeline health",
		Blocks: []block{
			{Text: fresh},
			{Text: "Dead letters are not in ClickHouse: they go to the Kafka dead-letter topic and the ingester's referralops_ingest_dead_letters_total metric (Grafana, pipeline dashboard), which this report does not read."},
		},
		Notes: []string{"Data freshness: the latest referral created, booked, completed, authorization decided or closed at or before T (the KPI index; the raw events are not read); the KPIs above count only what had arrived when the report was built (" + r.Generated.Format(time.RFC3339) + "), so a late event changes a replayed week."},
	}
}

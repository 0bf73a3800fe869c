package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// seconds is a duration quantile of a Distribution (nil: no values), shown in
// days or, with hours, in hours.
func seconds(name, kpiName string, q func(f kpi.Fields) *int64, hours bool) measure {
	per := 86400.0
	if hours {
		per = 3600
	}
	return measure{Name: name, KPI: kpiName, Days: !hours, Hours: hours,
		Value: func(f kpi.Fields) (float64, bool) {
			v := q(f)
			if v == nil {
				return math.NaN(), false
			}
			return float64(*v) / per, true
		}}
}

var (
	triageP90Measure = seconds("Time to triage p90", "time to triage, p90", func(f kpi.Fields) *int64 { return f.TimeToTriage.P90 }, true)
	breachMeasure    = measure{Name: "Triage SLA breaches", KPI: "triage SLA breaches / |S|", Percent: true,
		Value: func(f kpi.Fields) (float64, bool) { return ratio(f.TriageSLABreaches, f.TriageSLACohort) }}
)

// priorityMeasures are the rows of the access by priority table, per
// priority; basis says what each is over, this week.
var priorityMeasures = []struct {
	measure
	basis func(f kpi.Fields) string
}{
	{seconds("Time to appointment p50", "time to appointment (access), p50", func(f kpi.Fields) *int64 { return f.TimeToAppointment.P50 }, false),
		func(f kpi.Fields) string { return strconv.FormatInt(f.TimeToAppointment.Count, 10) + " with a slot" }},
	{accessMeasure, func(f kpi.Fields) string { return strconv.FormatInt(f.TimeToAppointment.Count, 10) + " with a slot" }},
	{seconds("Time to triage p50", "time to triage, p50", func(f kpi.Fields) *int64 { return f.TimeToTriage.P50 }, true),
		func(f kpi.Fields) string { return strconv.FormatInt(f.TimeToTriage.Count, 10) + " decided" }},
	{triageP90Measure, func(f kpi.Fields) string { return strconv.FormatInt(f.TimeToTriage.Count, 10) + " decided" }},
	{breachMeasure, func(f kpi.Fields) string {
		return fmt.Sprintf("%d of %d received", f.TriageSLABreaches, f.TriageSLACohort)
	}},
}

// prioritySection: access by priority, this week against the week before, and
// its trends.
func (r Report) prioritySection() section {
	now, before := r.window(r.Current()), r.window(r.Previous())
	t := &table{Header: []string{"Priority", "KPI", "This week", "Week before", "Change", "Over (this week)"}, Aligns: "llrrrr"}
	for _, p := range sla.Priorities {
		f, pf := now.ByPriority[p], before.ByPriority[p]
		for _, m := range priorityMeasures {
			v, ok := m.Value(f)
			pv, pok := m.Value(pf)
			t.Rows = append(t.Rows, []cell{{Text: p}, {Text: m.Name}, {Text: m.format(v, ok)}, {Text: m.format(pv, pok)},
				{Text: m.change(v, pv, ok, pok)}, {Text: m.basis(f)}})
		}
	}
	byPriority := func(ws kpi.WindowSnapshot, p string) kpi.Fields { return ws.ByPriority[p] }
	names := make([]string, len(priorityMeasures))
	for i, m := range priorityMeasures {
		names[i] = m.KPI
	}
	return section{
		Title: "Access by priority",
		Blocks: []block{
			{Text: fmt.Sprintf("Routine, urgent and stat referrals (priority of the referral's referral.created), as of %s against %s.",
				r.AsOf.Format(time.DateOnly), r.AsOf.Add(-week).Format(time.DateOnly))},
			{Table: t},
			{Chart: r.seriesTrend(accessMeasure, "Time to appointment p90 by priority", "days (p90 of access_at - created_at)", sla.Priorities, byPriority)},
			{Chart: r.seriesTrend(triageP90Measure, "Time to triage p90 by priority", "hours (p90 of decided_at - created_at)", sla.Priorities, byPriority)},
			{Chart: r.seriesTrend(breachMeasure, "Triage SLA breaches by priority", "% of received referrals past their SLA", sla.Priorities, byPriority)},
		},
		Notes: []string{
			"KPIS.md \"Stage, priority and payer KPIs (version 2)\" by priority, W = " + r.Window.String() + ": " + strings.Join(names, "; ") +
				"; the same numbers as `referralops kpi --as-of T --format json` (its " + r.Window.String() + " object, by_priority: time_to_appointment_p50/p90_seconds, " +
				"time_to_triage_p50/p90_seconds, triage_sla_breaches / triage_sla_cohort). Quantiles are exact nearest rank; " +
				"time to triage is decided_at (first referral.accepted or referral.rejected) - created_at over the referrals of C decided by T; " +
				"S is the referrals of C sent to us (destination_network in), a breach is more business days than the priority's SLA before the first accepted, rejected or cancelled (or T).",
			"SLA calendar used: " + calendarText(r.Current().Calendar) + " (`--sla-calendar FILE` or the config file's sla: section, as for `referralops kpi`).",
		},
	}
}

// calendarText states the calendar and the triage SLAs in words.
func calendarText(c sla.Calendar) string {
	holidays := "no holidays"
	if len(c.Holidays) > 0 {
		holidays = "holidays " + strings.Join(c.Holidays, ", ")
	}
	slas := make([]string, len(sla.Priorities))
	for i, p := range sla.Priorities {
		slas[i] = fmt.Sprintf("%s %d", p, c.TriageBusinessDays[p])
	}
	return fmt.Sprintf("time zone %s, weekend %s, %s; triage SLA in business days: %s",
		c.TimeZone, strings.Join(c.Weekend, " and "), holidays, strings.Join(slas, ", "))
}

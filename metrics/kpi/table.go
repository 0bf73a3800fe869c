package kpi

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteTable prints the snapshot for people: per window, one row per service
// line (largest cohort first) and the totals, ratios as percentages of their
// denominators and times in days; then the backlog by age and the referrer
// activity and the referrer attention levels by referrer type.
func WriteTable(w io.Writer, s Snapshot) error {
	asOf := s.AsOf.UTC().Format(time.RFC3339)
	var out strings.Builder
	for _, ws := range s.Windows {
		from := s.AsOf.Add(-ws.Window.Duration()).UTC().Format(time.RFC3339)
		fmt.Fprintf(&out, "KPIs as of %s, window %s: referrals created in (%s, %s]\n\n", asOf, ws.Window, from, asOf)
		t := table{{"service line", "referrals", "scheduled", "completed", "leaked", "leaked in-network",
			"incomplete", "days to schedule p50/p90", "days to appointment p50/p90", "loop closed 14d",
			"no-shows", "auth denied"}}
		row := func(name string, f Fields) {
			t = append(t, []string{name, strconv.FormatInt(f.Referrals, 10),
				Percent(f.Scheduled, f.Referrals), Percent(f.Completed, f.Referrals), Percent(f.Leaked, f.Referrals),
				ratio(f.InternalLeaked, f.InternalReferrals), Percent(f.Incomplete, f.Referrals),
				days(f.TimeToSchedule), days(f.TimeToAppointment),
				ratio(f.LoopClosed14d, f.LoopCohort), ratio(f.NoShows, f.AppointmentsKeptOrMissed), ratio(f.AuthDenied, f.AuthDecisions)})
		}
		for _, line := range s.lines(ws) {
			row(line, ws.ByServiceLine[line])
		}
		row("total", ws.Totals)
		t.write(&out)
		out.WriteString("\n")
	}
	if len(s.Windows) > 0 {
		ws := s.Windows[0] // the backlog has no window: it is the same in each
		fmt.Fprintf(&out, "Unscheduled backlog as of %s: open, unbooked referrals of the last 365 days by age\n\n", asOf)
		t := table{append(append([]string{"service line"}, BacklogBuckets...), "total")}
		row := func(name string, b Backlog) {
			r := []string{name}
			for _, n := range b.Counts() {
				r = append(r, strconv.FormatInt(n, 10))
			}
			t = append(t, append(r, strconv.FormatInt(b.Total(), 10)))
		}
		for _, line := range s.lines(ws) {
			row(line, ws.ByServiceLine[line].Backlog)
		}
		row("total", ws.Totals.Backlog)
		t.write(&out)
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "Referrer activity as of %s: referrals in the last 90 days against the 275 before\n\n", asOf)
	t := table{{"referrer type", "new", "active", "fading", "inactive"}}
	states := func(name string, r ReferrerStates) {
		t = append(t, []string{name, strconv.FormatInt(r.New, 10), strconv.FormatInt(r.Active, 10),
			strconv.FormatInt(r.Fading, 10), strconv.FormatInt(r.Inactive, 10)})
	}
	for _, typ := range slices.Sorted(maps.Keys(s.Referrers.ByType)) {
		states(typ, s.Referrers.ByType[typ])
	}
	states("total", s.Referrers.Totals)
	t.write(&out)
	out.WriteString("\n")
	fmt.Fprintf(&out, "Referrer attention as of %s: referrers by level (the worklist: view v_referrer_attention)\n\n", asOf)
	t = table{append([]string{"referrer type"}, Levels...)}
	levels := func(name string, l AttentionLevels) {
		r := []string{name}
		for _, n := range l.Counts() {
			r = append(r, strconv.FormatInt(n, 10))
		}
		t = append(t, r)
	}
	for _, typ := range slices.Sorted(maps.Keys(s.Attention.ByType)) {
		levels(typ, s.Attention.ByType[typ])
	}
	levels("total", s.Attention.Totals)
	t.write(&out)
	_, err := io.WriteString(w, out.String())
	return err
}

// WriteCompactTable prints the first window's KPIs for a narrow screen (the
// demo's live view): one row per service line, largest cohort first, and the
// totals, with the ratios of the referrals, the days to the appointment and
// the backlog. It prints nothing for a snapshot without windows.
func WriteCompactTable(w io.Writer, s Snapshot) error {
	if len(s.Windows) == 0 {
		return nil
	}
	ws := s.Windows[0]
	var out strings.Builder
	fmt.Fprintf(&out, "KPIs as of %s, referrals created in the last %s\n", s.AsOf.Format(time.RFC3339), ws.Window)
	t := table{{"service line", "referrals", "scheduled", "completed", "leaked", "days to appt p50/p90", "backlog"}}
	row := func(name string, f Fields) {
		t = append(t, []string{name, strconv.FormatInt(f.Referrals, 10), Percent(f.Scheduled, f.Referrals),
			Percent(f.Completed, f.Referrals), Percent(f.Leaked, f.Referrals), days(f.TimeToAppointment), strconv.FormatInt(f.Backlog.Total(), 10)})
	}
	for _, line := range s.lines(ws) {
		row(line, ws.ByServiceLine[line])
	}
	row("total", ws.Totals)
	t.write(&out)
	_, err := io.WriteString(w, out.String())
	return err
}

// table is rows of cells, the first row the header; the first column is
// left-aligned, the others right-aligned.
type table [][]string

func (t table) write(sb *strings.Builder) {
	widths := make([]int, len(t[0]))
	for _, r := range t {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range t {
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			switch {
			case i == 0:
				sb.WriteString(c + pad)
			default:
				sb.WriteString("  " + pad + c)
			}
		}
		sb.WriteString("\n")
	}
}

// lines are the snapshot's service lines, largest cohort of the window first.
func (s Snapshot) lines(ws WindowSnapshot) []string {
	lines := slices.Clone(s.ServiceLines)
	slices.SortStableFunc(lines, func(a, b string) int {
		return int(ws.ByServiceLine[b].Referrals - ws.ByServiceLine[a].Referrals)
	})
	return lines
}

// percent is n/d as a percentage, "-" when d is 0.
func Percent(n, d int64) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(d), 'f', 1, 64) + "%"
}

// ratio is a percentage with its denominator, e.g. "6.1% of 98".
func ratio(n, d int64) string {
	if d == 0 {
		return "- of 0"
	}
	return Percent(n, d) + " of " + strconv.FormatInt(d, 10)
}

// days is "p50 / p90" in days, "-" for an empty distribution.
func days(d Distribution) string {
	if d.P50 == nil || d.P90 == nil {
		return "-"
	}
	f := func(sec int64) string { return strconv.FormatFloat(float64(sec)/86400, 'f', 1, 64) }
	return f(*d.P50) + " / " + f(*d.P90)
}

package report

import (
	"testing"

	"github.com/referralops/referralops/metrics/kpi/sla"
)

// TestChange: the week-over-week change in each unit, signed, and a change
// that rounds to zero shown as +0 (never -0).
func TestChange(t *testing.T) {
	hours := seconds("h", "h", nil, true)
	for _, tc := range []struct {
		m           measure
		now, before float64
		want        string
	}{
		{leakageMeasure, 0.25, 0.2, "+5.0 pp"},
		{leakageMeasure, 0.2, 0.25, "-5.0 pp"},
		{accessMeasure, 10, 12.5, "-2.5 d"},
		{hours, 30.1, 30.12, "+0.0 h"},
		{hours, 4, 1.5, "+2.5 h"},
		{referralsMeasure, 90, 100, "-10"},
		{referralsMeasure, 100, 100.2, "+0"},
	} {
		if got := tc.m.change(tc.now, tc.before, true, true); got != tc.want {
			t.Errorf("%s %v vs %v: %q, want %q", tc.m.Name, tc.now, tc.before, got, tc.want)
		}
	}
	if got := hours.change(1, 0, true, false); got != "n/a" {
		t.Errorf("no value the week before: %q", got)
	}
}

// TestCalendarText: the footnote states the calendar the snapshot used,
// holidays included.
func TestCalendarText(t *testing.T) {
	c := sla.Default()
	c.TimeZone, c.Weekend, c.Holidays = "America/Chicago", []string{"sunday"}, []string{"2026-12-25", "2027-01-01"}
	c.TriageBusinessDays["urgent"] = 0
	want := "time zone America/Chicago, weekend sunday, holidays 2026-12-25, 2027-01-01; triage SLA in business days: routine 2, urgent 0, stat 0"
	if got := calendarText(c); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

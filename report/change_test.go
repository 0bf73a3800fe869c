package report

import "testing"

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

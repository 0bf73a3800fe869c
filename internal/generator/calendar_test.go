package generator

import (
	"math/rand/v2"
	"testing"
	"time"
)

func unixDay(s string) int64 {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t.Unix() / day
}

// The holiday rules give the dates US health systems close on, weekend
// holidays observed on the nearest weekday.
func TestHolidays(t *testing.T) {
	for _, tc := range []struct {
		date string
		want bool
	}{
		{"2026-01-01", true},  // New Year's Day, Thursday
		{"2026-05-25", true},  // Memorial Day: the last Monday of May
		{"2026-05-18", false}, // a Monday in May, not the last
		{"2026-07-03", true},  // Independence Day falls on a Saturday: observed Friday
		{"2026-07-04", false},
		{"2026-09-07", true},  // Labor Day: the first Monday of September
		{"2026-11-26", true},  // Thanksgiving: the fourth Thursday of November
		{"2026-11-19", false}, // the third
		{"2026-12-25", true},  // Christmas, Friday
		{"2027-12-24", true},  // Christmas 2027 falls on a Saturday
		{"2022-12-26", true},  // Christmas 2022 fell on a Sunday
		{"2026-03-02", false}, // an ordinary Monday
	} {
		if got := holiday(unixDay(tc.date)); got != tc.want {
			t.Errorf("holiday(%s) = %v, want %v", tc.date, got, tc.want)
		}
	}
	if holiday(-1) || holiday(unixDay("2300-01-01")) {
		t.Error("days outside the table are not holidays")
	}
}

// Staff actions land in office hours on business days, n business days on.
func TestAfterBusinessDays(t *testing.T) {
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Unix()
	}
	for _, tc := range []struct {
		name, from string
		n          int
		wantDay    string
	}{
		{"same day in office hours", "2026-03-03T15:00:00Z", 0, "2026-03-03"},
		{"same day, before opening", "2026-03-03T02:00:00Z", 0, "2026-03-03"},
		{"after closing: the next business day", "2026-03-03T22:30:00Z", 0, "2026-03-04"},
		{"Friday evening to Monday", "2026-03-06T23:00:00Z", 0, "2026-03-09"},
		{"Saturday, one business day", "2026-03-07T12:00:00Z", 1, "2026-03-09"},
		{"over Christmas", "2025-12-24T15:00:00Z", 1, "2025-12-26"},
		{"two business days over a weekend", "2026-03-05T15:00:00Z", 2, "2026-03-09"},
	} {
		r := rand.New(rand.NewPCG(1, 2))
		for range 50 {
			got := afterBusinessDays(r, at(tc.from), tc.n)
			d, sec := got/day, got%day
			if d != unixDay(tc.wantDay) || sec < officeOpen || sec >= officeClose || got < at(tc.from) {
				t.Errorf("%s: afterBusinessDays(%s, %d) = %s, want office hours on %s",
					tc.name, tc.from, tc.n, time.Unix(got, 0).UTC().Format(time.RFC3339), tc.wantDay)
				break
			}
		}
	}
}

package generator

import (
	"math/rand/v2"
	"time"
)

// The simulated network's working calendar: staff act in office hours
// (13:00–22:00 UTC, 8 am–5 pm US Eastern) on business days, which are weekdays
// that are not one of the usual US hospital holidays. Referrals still arrive
// on weekends and holidays, so waits that span them show in the timings, as
// business-day SLAs (KPIS.md "Stage, priority and payer KPIs") expect.
const (
	officeOpen  = 13 * hour
	officeClose = 22 * hour
)

// holidayYears bounds the precomputed holiday table; days outside it have no
// holidays (runs are far inside it).
const (
	firstHolidayYear = 1970
	lastHolidayYear  = 2199
)

// holidays is a bitset over unix days (days since 1970-01-01) of the observed
// holidays, built once: bizTime and friends ask about it for every staff action.
var holidays = buildHolidays()

func buildHolidays() []uint64 {
	end := time.Date(lastHolidayYear+1, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / day
	bits := make([]uint64, end/64+1)
	set := func(t time.Time) {
		d := t.Unix() / day
		bits[d/64] |= 1 << (d % 64)
	}
	for y := firstHolidayYear; y <= lastHolidayYear; y++ {
		for _, h := range usHolidays(y) {
			set(h)
		}
	}
	return bits
}

// usHolidays are the six holidays nearly every US health system closes its
// clinics for: New Year's Day, Memorial Day, Independence Day, Labor Day,
// Thanksgiving and Christmas Day. Fixed-date ones falling on a weekend are
// observed on the nearest weekday (federal rule).
func usHolidays(y int) []time.Time {
	date := func(m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	observed := func(t time.Time) time.Time {
		switch t.Weekday() {
		case time.Saturday:
			return t.AddDate(0, 0, -1)
		case time.Sunday:
			return t.AddDate(0, 0, 1)
		}
		return t
	}
	// nth weekday wd of month m (n = -1: the last one).
	nth := func(m time.Month, wd time.Weekday, n int) time.Time {
		if n < 0 {
			t := date(m+1, 1).AddDate(0, 0, -1)
			return t.AddDate(0, 0, -((int(t.Weekday()) - int(wd) + 7) % 7))
		}
		t := date(m, 1)
		return t.AddDate(0, 0, (int(wd)-int(t.Weekday())+7)%7+7*(n-1))
	}
	return []time.Time{
		observed(date(time.January, 1)),
		nth(time.May, time.Monday, -1),
		observed(date(time.July, 4)),
		nth(time.September, time.Monday, 1),
		nth(time.November, time.Thursday, 4),
		observed(date(time.December, 25)),
	}
}

// holiday reports whether unix day d is an observed holiday.
func holiday(d int64) bool {
	if d < 0 || d/64 >= int64(len(holidays)) {
		return false
	}
	return holidays[d/64]&(1<<(d%64)) != 0
}

// weekend reports whether unix day d (days since 1970-01-01, a Thursday) is a
// Saturday or Sunday.
func weekend(d int64) bool {
	wd := ((d+4)%7 + 7) % 7 // 0 = Sunday
	return wd == 0 || wd == 6
}

// businessDay reports whether staff work on unix day d.
func businessDay(d int64) bool { return !weekend(d) && !holiday(d) }

// bizTime moves t into the next office window, at a random minute of its
// first hours, for actions staff take.
func bizTime(r *rand.Rand, t int64) int64 {
	d := floorDiv(t, day)
	sec := t - d*day
	if sec >= officeOpen && sec < officeClose && businessDay(d) {
		return t
	}
	if sec >= officeClose {
		d++
	}
	for !businessDay(d) {
		d++
	}
	return d*day + officeOpen + r.Int64N(3*hour)
}

// afterBusinessDays is when staff act on something that reached them at t and
// took n business days: n = 0 is later the same business day when its office
// hours have time left (else the next business day); n > 0 is a random office
// time on the n-th business day after t's date, the bd(t, ·) = n of KPIS.md.
func afterBusinessDays(r *rand.Rand, t int64, n int) int64 {
	d := floorDiv(t, day)
	if n == 0 && businessDay(d) {
		lo := max(t, d*day+officeOpen) + 5*minute
		if hi := d*day + officeClose; lo < hi {
			return lo + r.Int64N(min(hi-lo, 4*hour))
		}
	}
	for range max(n, 1) {
		d++
		for !businessDay(d) {
			d++
		}
	}
	return d*day + officeOpen + r.Int64N(officeClose-officeOpen)
}

// slot snaps t to a 15-minute appointment slot on its day (clinics are closed
// on weekends and holidays: those move to the next business day), at a random
// time of the clinic day.
func slot(r *rand.Rand, t int64) int64 {
	d := floorDiv(t, day)
	for !businessDay(d) {
		d++
	}
	return d*day + officeOpen + int64(r.IntN(36))*15*minute
}

package sla_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestLoad(t *testing.T) {
	c, err := sla.Load("testdata/site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := sla.Default()
	want.TimeZone = "America/Chicago"
	want.Holidays = []string{"2026-01-01", "2026-05-25"}
	want.TriageBusinessDays["urgent"] = 0 // the others keep their defaults
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load: %+v, want %+v", c, want)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"testdata/missing.yaml", "no such file"},
		{"testdata/unknown_key.yaml", "field timezone not found"},
		{"testdata/bad.yaml", strings.Join([]string{
			`time_zone: "Mars/Olympus" is not an IANA time zone`,
			`weekend: "sonday" is not a day name (monday ... sunday)`,
			`weekend: saturday twice`,
			`holidays: "2026-13-01" is not a date YYYY-MM-DD`,
			`triage_business_days: urgent: -1 is negative`,
			`triage_business_days: "asap" is not a priority (routine, urgent, stat)`,
		}, "\n")},
	} {
		_, err := sla.Load(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s): %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	c := sla.Default()
	c.Weekend = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
	delete(c.TriageBusinessDays, "stat")
	c.TimeZone = ""
	err := c.Validate()
	for _, want := range []string{"time_zone: empty", "no business day is left", "no SLA for priority stat"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

// TestBusinessDaysSQL: BusinessDaysSQL agrees with a day-by-day count of local
// dates on both engines, for random pairs of times over two years, in zones
// with daylight saving and a date line, with Friday-Saturday weekends and
// holidays (on a weekday, on a weekend day, listed twice), and b before a.
func TestBusinessDaysSQL(t *testing.T) {
	calendars := []sla.Calendar{sla.Default()}
	c := sla.Default()
	c.TimeZone = "America/New_York"
	c.Holidays = []string{"2026-01-01", "2026-07-04", "2026-11-26", "2026-11-26", "2025-12-25"}
	calendars = append(calendars, c)
	c = sla.Default()
	c.TimeZone = "Asia/Riyadh"
	c.Weekend = []string{"friday", "saturday"}
	c.Holidays = []string{"2026-03-20"}
	calendars = append(calendars, c)
	c = sla.Default()
	c.TimeZone = "Pacific/Kiritimati"
	c.Weekend = nil
	calendars = append(calendars, c)

	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	type pair struct{ a, b int64 }
	var pairs []pair
	for range 300 {
		a := start + rng.Int64N(500*86400)
		pairs = append(pairs, pair{a, a + rng.Int64N(40*86400) - 2*86400})
	}
	// Friday 23:30 local in New York is Saturday in UTC.
	pairs = append(pairs, pair{time.Date(2026, 3, 14, 3, 30, 0, 0, time.UTC).Unix(), time.Date(2026, 3, 16, 13, 0, 0, 0, time.UTC).Unix()})

	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		for _, cal := range calendars {
			var list []string
			for i, p := range pairs {
				list = append(list, fmt.Sprintf("(%d, %d, %d)", i, p.a, p.b))
			}
			rows, err := e.Query(context.Background(), "SELECT i, "+cal.BusinessDaysSQL("ta", "tb")+
				" FROM (SELECT tupleElement(p, 1) AS i, toDateTime(tupleElement(p, 2), 'UTC') AS ta, toDateTime(tupleElement(p, 3), 'UTC') AS tb"+
				" FROM (SELECT arrayJoin(["+strings.Join(list, ", ")+"]) AS p)) ORDER BY i")
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(pairs) {
				t.Fatalf("%d rows, want %d", len(rows), len(pairs))
			}
			for i, p := range pairs {
				want := countDays(t, cal, p.a, p.b)
				if got, err := strconv.ParseInt(rows[i][1], 10, 64); err != nil || got != want {
					t.Errorf("%s: bd(%s, %s) = %s, want %d", cal.TimeZone, time.Unix(p.a, 0).UTC(), time.Unix(p.b, 0).UTC(), rows[i][1], want)
				}
			}
		}
	})
}

// countDays walks the local dates after a's up to b's.
func countDays(t *testing.T, c sla.Calendar, a, b int64) int64 {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	off := map[string]bool{}
	for _, h := range c.Holidays {
		off[h] = true
	}
	for _, d := range c.Weekend {
		off[d] = true
	}
	la, lb := time.Unix(a, 0).In(loc), time.Unix(b, 0).In(loc)
	d := time.Date(la.Year(), la.Month(), la.Day()+1, 0, 0, 0, 0, time.UTC)
	end := time.Date(lb.Year(), lb.Month(), lb.Day(), 0, 0, 0, 0, time.UTC)
	var n int64
	for ; !d.After(end); d = d.AddDate(0, 0, 1) {
		if !off[d.Format(time.DateOnly)] && !off[strings.ToLower(d.Weekday().String())] {
			n++
		}
	}
	return n
}

func TestTriageSLASQL(t *testing.T) {
	got := sla.Default().TriageSLASQL("prio")
	if want := "multiIf(prio = 'routine', 2, prio = 'urgent', 1, prio = 'stat', 0, 2)"; got != want {
		t.Errorf("TriageSLASQL: %s, want %s", got, want)
	}
}

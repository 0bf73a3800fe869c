package kpi_test

import (
	"strings"
	"time"
)

// refCalendar is the reference's business-day calendar, written from KPIS.md
// apart from package sla: bd(a, b) walks the local dates one by one.
type refCalendar struct {
	loc      *time.Location
	weekend  map[time.Weekday]bool
	holidays map[string]bool // local dates, YYYY-MM-DD
	triage   map[string]int64
	// json is the calendar as the kpi JSON states it.
	json map[string]any
}

func defaultRefCalendar() refCalendar {
	return newRefCalendar("UTC", []string{"saturday", "sunday"}, []string{}, map[string]int64{"stat": 0, "urgent": 1, "routine": 2})
}

func newRefCalendar(zone string, weekend, holidays []string, triage map[string]int64) refCalendar {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		panic(err)
	}
	c := refCalendar{loc: loc, weekend: map[time.Weekday]bool{}, holidays: map[string]bool{}, triage: triage}
	for _, d := range weekend {
		for wd := time.Sunday; wd <= time.Saturday; wd++ {
			if strings.EqualFold(wd.String(), d) {
				c.weekend[wd] = true
			}
		}
	}
	for _, h := range holidays {
		c.holidays[h] = true
	}
	c.json = map[string]any{"time_zone": zone, "weekend": weekend, "holidays": holidays, "triage_business_days": triage}
	return c
}

// businessDays is bd(a, b) of Unix seconds: the local dates d with
// date(a) < d <= date(b), neither weekend days nor holidays.
func (c refCalendar) businessDays(a, b int64) int64 {
	ta, tb := time.Unix(a, 0).In(c.loc), time.Unix(b, 0).In(c.loc)
	day := time.Date(ta.Year(), ta.Month(), ta.Day(), 12, 0, 0, 0, time.UTC)
	last := time.Date(tb.Year(), tb.Month(), tb.Day(), 12, 0, 0, 0, time.UTC)
	var n int64
	for day = day.AddDate(0, 0, 1); !day.After(last); day = day.AddDate(0, 0, 1) {
		if !c.weekend[day.Weekday()] && !c.holidays[day.Format("2006-01-02")] {
			n++
		}
	}
	return n
}

// Package sla is the site's business-day calendar and its triage SLAs per
// priority (KPIS.md "Stage, priority and payer KPIs"): the one definition of
// bd(a, b), as configuration (YAML `sla:` or a file given to --sla-calendar)
// and rendered into ClickHouse SQL for the KPI queries.
//
// It does not evaluate anything itself: the KPI SQL counts business days on
// the server, and the tests hold an independent reference.
package sla

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The referral priorities of EVENTS.md.
const (
	Routine = "routine"
	Urgent  = "urgent"
	Stat    = "stat"
)

// Priorities are the referral priorities, each with a triage SLA.
var Priorities = []string{Routine, Urgent, Stat}

// Calendar is a business-day calendar and the triage SLA per priority.
type Calendar struct {
	// TimeZone is the IANA zone whose local dates are counted.
	TimeZone string `yaml:"time_zone" json:"time_zone"`
	// Weekend are the days that are never business days, lowercase English
	// names (saturday, sunday).
	Weekend []string `yaml:"weekend" json:"weekend"`
	// Holidays are dates (YYYY-MM-DD, local) that are not business days.
	Holidays []string `yaml:"holidays" json:"holidays"`
	// TriageBusinessDays is the SLA per priority: a referral breaches when more
	// business days than this pass between its creation and its triage.
	TriageBusinessDays map[string]int `yaml:"triage_business_days" json:"triage_business_days"`
}

// Default is KPIS.md's: UTC, Saturday and Sunday, no holidays; stat 0,
// urgent 1, routine 2 business days.
func Default() Calendar {
	return Calendar{
		TimeZone:           "UTC",
		Weekend:            []string{"saturday", "sunday"},
		Holidays:           []string{},
		TriageBusinessDays: map[string]int{"stat": 0, "urgent": 1, "routine": 2},
	}
}

// Load reads a calendar file (the shape of YAML's `sla:` section; unknown keys
// are an error) over the defaults, and validates it.
func Load(path string) (Calendar, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return Calendar{}, fmt.Errorf("sla calendar: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return Calendar{}, fmt.Errorf("sla calendar %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return Calendar{}, fmt.Errorf("sla calendar %s: %w", path, err)
	}
	return c, nil
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

const dateLayout = "2006-01-02"

// Validate reports every invalid setting.
func (c Calendar) Validate() error {
	var errs []error
	if c.TimeZone == "" {
		errs = append(errs, errors.New("time_zone: empty (an IANA zone such as UTC or America/Chicago)"))
	} else if _, err := time.LoadLocation(c.TimeZone); err != nil || strings.ContainsAny(c.TimeZone, `'\`) {
		errs = append(errs, fmt.Errorf("time_zone: %q is not an IANA time zone", c.TimeZone))
	}
	for i, d := range c.Weekend {
		if _, ok := weekdays[d]; !ok {
			errs = append(errs, fmt.Errorf("weekend: %q is not a day name (monday ... sunday)", d))
		} else if slices.Contains(c.Weekend[:i], d) {
			errs = append(errs, fmt.Errorf("weekend: %s twice", d))
		}
	}
	if len(c.Weekend) == len(weekdays) {
		errs = append(errs, errors.New("weekend: every day of the week; no business day is left"))
	}
	for _, h := range c.Holidays {
		if _, err := time.Parse(dateLayout, h); err != nil {
			errs = append(errs, fmt.Errorf("holidays: %q is not a date YYYY-MM-DD", h))
		}
	}
	for _, p := range Priorities {
		n, ok := c.TriageBusinessDays[p]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("triage_business_days: no SLA for priority %s", p))
		case n < 0:
			errs = append(errs, fmt.Errorf("triage_business_days: %s: %d is negative", p, n))
		}
	}
	for p := range c.TriageBusinessDays {
		if !slices.Contains(Priorities, p) {
			errs = append(errs, fmt.Errorf("triage_business_days: %q is not a priority (routine, urgent, stat)", p))
		}
	}
	return errors.Join(errs...)
}

// LocalDaySQL is the local date of the DateTime expression t as a day number
// (days since 1970-01-01), an Int64.
func (c Calendar) LocalDaySQL(t string) string {
	return fmt.Sprintf("toInt64(toUInt32(toDate(%s, '%s')))", t, c.TimeZone)
}

// BusinessDaysSQL renders bd(a, b) for the DateTime expressions a and b: the
// number of local dates d with local_date(a) < d <= local_date(b) that are
// neither weekend days nor holidays (0 when b's date is not after a's). No
// lambdas or date arrays, so it runs alike on ClickHouse 18.16 and current
// releases: per business weekday, the dates of that weekday in the span are
// a difference of two integer divisions of day numbers; holidays on a
// business weekday are then subtracted one comparison each. The calendar must
// be valid.
func (c Calendar) BusinessDaysSQL(a, b string) string {
	A, B := c.LocalDaySQL(a), c.LocalDaySQL(b)
	var terms []string
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		if c.weekend(wd) {
			continue
		}
		// Day 0, 1970-01-01, is a Thursday: day n falls on wd when
		// n ≡ r (mod 7). Days in [0, x] on wd: intDiv(x − r + 7, 7), x >= 0.
		r := (int(wd) - int(time.Thursday) + 7) % 7
		terms = append(terms, fmt.Sprintf("intDiv(%[1]s + %[3]d, 7) - intDiv(%[2]s + %[3]d, 7)", B, A, 7-r))
	}
	for _, h := range c.businessHolidays() {
		terms = append(terms, fmt.Sprintf("-toInt64(%[1]s < %[3]d AND %[3]d <= %[2]s)", A, B, h))
	}
	if len(terms) == 0 {
		return "toInt64(0)"
	}
	return fmt.Sprintf("if(%s > %s, %s, toInt64(0))", B, A, strings.ReplaceAll(strings.Join(terms, " + "), "+ -", "- "))
}

// TriageSLASQL is the SLA in business days of the priority expression p.
func (c Calendar) TriageSLASQL(p string) string {
	var sb strings.Builder
	sb.WriteString("multiIf(")
	for _, pr := range Priorities {
		fmt.Fprintf(&sb, "%s = '%s', %d, ", p, pr, c.TriageBusinessDays[pr])
	}
	// Every stored priority is one of EVENTS.md's (an enum column).
	fmt.Fprintf(&sb, "%d)", c.TriageBusinessDays["routine"])
	return sb.String()
}

func (c Calendar) weekend(wd time.Weekday) bool {
	for _, d := range c.Weekend {
		if weekdays[d] == wd {
			return true
		}
	}
	return false
}

// businessHolidays are the holidays' day numbers that fall on business
// weekdays (a holiday on a weekend day changes nothing), each once, sorted.
func (c Calendar) businessHolidays() []int64 {
	var out []int64
	for _, h := range c.Holidays {
		d, err := time.Parse(dateLayout, h)
		if err != nil || c.weekend(d.Weekday()) {
			continue
		}
		n := d.Unix() / 86400
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Targets are the operating targets that dashboards colour their thresholds
// against and alert rules fire on. They are declared once here so a panel and
// its alert cannot disagree.
type Targets struct {
	// TimeToAppointmentP90 is the target p90 time to appointment per service
	// line; service lines not listed use DefaultTimeToAppointmentP90.
	TimeToAppointmentP90 map[string]time.Duration `yaml:"time_to_appointment_p90"`
	// DefaultTimeToAppointmentP90 applies to every service line not listed.
	DefaultTimeToAppointmentP90 time.Duration `yaml:"default_time_to_appointment_p90"`
	// UrgentTimeToAppointmentP90 is the target p90 time to appointment of
	// urgent referrals per service line; service lines not listed use
	// DefaultUrgentTimeToAppointmentP90.
	UrgentTimeToAppointmentP90 map[string]time.Duration `yaml:"urgent_time_to_appointment_p90"`
	// DefaultUrgentTimeToAppointmentP90 applies to every service line not
	// listed.
	DefaultUrgentTimeToAppointmentP90 time.Duration `yaml:"default_urgent_time_to_appointment_p90"`
	// AuthTurnaroundP90BusinessDays is the target p90 prior-authorization
	// turnaround in business days; AuthTurnaroundP90 is it in the calendar
	// time the turnaround is measured in.
	AuthTurnaroundP90BusinessDays int `yaml:"auth_turnaround_p90_business_days"`
	// BacklogOver7Days is the most unscheduled referrals older than 7 days a
	// service line may hold.
	BacklogOver7Days int `yaml:"backlog_over_7_days"`
	// ClosedLoopRateMin is the lowest acceptable closed-loop rate (0..1).
	ClosedLoopRateMin float64 `yaml:"closed_loop_rate_min"`
	// LeakageRateMax is the highest acceptable leakage rate (0..1).
	LeakageRateMax float64 `yaml:"leakage_rate_max"`
	// NoShowRateMax is the highest acceptable no-show rate (0..1).
	NoShowRateMax float64 `yaml:"no_show_rate_max"`
	// AuthDenialRateMax is the highest acceptable prior-authorization denial
	// rate (0..1).
	AuthDenialRateMax float64 `yaml:"auth_denial_rate_max"`
	// IncompleteRateMax is the highest acceptable share of referrals with an
	// information request (0..1).
	IncompleteRateMax float64 `yaml:"incomplete_rate_max"`
	// CriticalReferrersWeeklyIncrease and CriticalReferrersWeeklyGrowth say
	// when a referrer type's critical referrers (referrer attention) have
	// grown week over week: by at least this many referrers, and to at least
	// this multiple of last week's count. Both must hold, so one more critical
	// referrer of a small type (1 → 2) or a few more of a large one (40 → 43)
	// is not an alert.
	CriticalReferrersWeeklyIncrease int     `yaml:"critical_referrers_weekly_increase"`
	CriticalReferrersWeeklyGrowth   float64 `yaml:"critical_referrers_weekly_growth"`
}

const day = 24 * time.Hour

// DefaultTargets derives the targets from KPIS.md's published benchmarks.
//
// Time to appointment: the benchmark is a mean (AMN/Merritt Hawkins 2025:
// cardiology 33 d, orthopedics 12, dermatology 36.5, OB/GYN 41.8,
// gastroenterology 40, all specialties 31). Waits are log-normal with σ ≈ 0.8,
// whose p90 is about 2.0× its mean, so the p90 target is twice the mean: a
// service line exactly at the benchmark sits at its target.
//
// Urgent referrals: chart audits find urgent waits about 0.6× routine ones,
// so each urgent target is 0.6× the line's target for all referrals.
//
// Prior authorization: payers must decide within 7 days from 2026; a p90
// turnaround of 3 business days leaves room for an appeal.
//
// Rates: leakage 20–50% → at most 30%; closed loop 18–52% at baseline, over
// 80% after improvement work → at least 50%; no-shows 5–7% well run, up to
// 23% → at most 10%; authorization denials about 6.4% → at most 10%;
// incomplete referrals about 8% → at most 10%.
//
// Critical referrers: a type's count moves by a referrer or two from week to
// week as single offices cross the level's boundaries; 3 more and half again
// as many is a trend a liaison should look at.
func DefaultTargets() Targets {
	p90 := func(meanDays float64) time.Duration {
		return time.Duration(2 * meanDays * float64(day)).Round(time.Second)
	}
	benchmarks := map[string]float64{"cardiology": 33, "orthopedics": 12, "dermatology": 36.5, "womens_health": 41.8, "gastroenterology": 40}
	all, urgent := map[string]time.Duration{}, map[string]time.Duration{}
	for line, mean := range benchmarks {
		all[line], urgent[line] = p90(mean), p90(urgentWaitShare*mean)
	}
	return Targets{
		TimeToAppointmentP90:              all,
		DefaultTimeToAppointmentP90:       p90(31),
		UrgentTimeToAppointmentP90:        urgent,
		DefaultUrgentTimeToAppointmentP90: p90(urgentWaitShare * 31),
		AuthTurnaroundP90BusinessDays:     3,
		BacklogOver7Days:                  100,
		ClosedLoopRateMin:                 0.5,
		LeakageRateMax:                    0.3,
		NoShowRateMax:                     0.1,
		AuthDenialRateMax:                 0.1,
		IncompleteRateMax:                 0.1,

		CriticalReferrersWeeklyIncrease: 3,
		CriticalReferrersWeeklyGrowth:   1.5,
	}
}

// urgentWaitShare is an urgent referral's wait as a share of a routine one's
// (KPIS.md: chart audits, about 0.6).
const urgentWaitShare = 0.6

// Direction says on which side of its target a ratio is bad.
type Direction string

// The directions.
const (
	// AboveIsBad: the target is a maximum (leakage, no-shows, ...).
	AboveIsBad Direction = "above"
	// BelowIsBad: the target is a minimum (the closed-loop rate).
	BelowIsBad Direction = "below"
)

// RateTarget is one ratio bound of Targets: its YAML key, which side of it
// is bad, and its value. A catalog Ratio names its target by one of these,
// so a panel and its alert cannot disagree on the bound or its side.
type RateTarget struct {
	// Key is the bound's key in a targets file.
	Key string
	// Bad is the side of the bound on which the ratio misses its target.
	Bad   Direction
	value func(Targets) float64
}

// Of is the bound's value in t.
func (r RateTarget) Of(t Targets) float64 { return r.value(t) }

// The ratio bounds of Targets.
var (
	TargetClosedLoopRateMin = RateTarget{Key: "closed_loop_rate_min", Bad: BelowIsBad,
		value: func(t Targets) float64 { return t.ClosedLoopRateMin }}
	TargetLeakageRateMax = RateTarget{Key: "leakage_rate_max", Bad: AboveIsBad,
		value: func(t Targets) float64 { return t.LeakageRateMax }}
	TargetNoShowRateMax = RateTarget{Key: "no_show_rate_max", Bad: AboveIsBad,
		value: func(t Targets) float64 { return t.NoShowRateMax }}
	TargetAuthDenialRateMax = RateTarget{Key: "auth_denial_rate_max", Bad: AboveIsBad,
		value: func(t Targets) float64 { return t.AuthDenialRateMax }}
	TargetIncompleteRateMax = RateTarget{Key: "incomplete_rate_max", Bad: AboveIsBad,
		value: func(t Targets) float64 { return t.IncompleteRateMax }}
)

// rateTargets are the ratio bounds in the order Validate reports them.
var rateTargets = []RateTarget{TargetClosedLoopRateMin, TargetLeakageRateMax, TargetNoShowRateMax,
	TargetAuthDenialRateMax, TargetIncompleteRateMax}

// TimeToAppointmentP90Target is the p90 target of a service line.
func (t Targets) TimeToAppointmentP90Target(serviceLine string) time.Duration {
	if d, ok := t.TimeToAppointmentP90[serviceLine]; ok {
		return d
	}
	return t.DefaultTimeToAppointmentP90
}

// ServiceLinesWithOwnTarget lists the service lines with a p90 target of their
// own, sorted, so generated rules and dashboards are stable.
func (t Targets) ServiceLinesWithOwnTarget() []string { return sortedLines(t.TimeToAppointmentP90) }

// UrgentTimeToAppointmentP90Target is the urgent referrals' p90 target of a
// service line.
func (t Targets) UrgentTimeToAppointmentP90Target(serviceLine string) time.Duration {
	if d, ok := t.UrgentTimeToAppointmentP90[serviceLine]; ok {
		return d
	}
	return t.DefaultUrgentTimeToAppointmentP90
}

// ServiceLinesWithOwnUrgentTarget lists the service lines with an urgent p90
// target of their own, sorted.
func (t Targets) ServiceLinesWithOwnUrgentTarget() []string {
	return sortedLines(t.UrgentTimeToAppointmentP90)
}

func sortedLines(targets map[string]time.Duration) []string {
	lines := make([]string, 0, len(targets))
	for l := range targets {
		lines = append(lines, l)
	}
	sort.Strings(lines)
	return lines
}

// AuthTurnaroundP90 is the prior-authorization p90 target as calendar time,
// which the turnaround histogram measures: the longest time N business days
// can take with a Saturday and Sunday weekend and no holiday, N days and a
// weekend for every five begun (3 business days: 5 days, Friday to
// Wednesday). A p90 above it is late even for requests made just before a
// weekend; holidays and other weekends the alert does not see.
func (t Targets) AuthTurnaroundP90() time.Duration {
	n := t.AuthTurnaroundP90BusinessDays
	weekends := (n + 4) / 5
	return time.Duration(n+2*weekends) * day
}

// Validate reports every invalid target, each naming its YAML key.
func (t Targets) Validate() error {
	var errs []error
	for _, l := range t.ServiceLinesWithOwnTarget() {
		if d := t.TimeToAppointmentP90[l]; d <= 0 {
			errs = append(errs, fmt.Errorf("time_to_appointment_p90: %s: must be > 0, got %s", l, d))
		}
	}
	if t.DefaultTimeToAppointmentP90 <= 0 {
		errs = append(errs, fmt.Errorf("default_time_to_appointment_p90: must be > 0, got %s", t.DefaultTimeToAppointmentP90))
	}
	for _, l := range t.ServiceLinesWithOwnUrgentTarget() {
		if d := t.UrgentTimeToAppointmentP90[l]; d <= 0 {
			errs = append(errs, fmt.Errorf("urgent_time_to_appointment_p90: %s: must be > 0, got %s", l, d))
		}
	}
	if t.DefaultUrgentTimeToAppointmentP90 <= 0 {
		errs = append(errs, fmt.Errorf("default_urgent_time_to_appointment_p90: must be > 0, got %s", t.DefaultUrgentTimeToAppointmentP90))
	}
	if t.AuthTurnaroundP90BusinessDays < 1 {
		errs = append(errs, fmt.Errorf("auth_turnaround_p90_business_days: must be >= 1, got %d", t.AuthTurnaroundP90BusinessDays))
	}
	if t.BacklogOver7Days < 0 {
		errs = append(errs, fmt.Errorf("backlog_over_7_days: must be >= 0, got %d", t.BacklogOver7Days))
	}
	if t.CriticalReferrersWeeklyIncrease < 1 {
		errs = append(errs, fmt.Errorf("critical_referrers_weekly_increase: must be >= 1, got %d", t.CriticalReferrersWeeklyIncrease))
	}
	if t.CriticalReferrersWeeklyGrowth < 1 {
		errs = append(errs, fmt.Errorf("critical_referrers_weekly_growth: must be >= 1 (a multiple of last week's count), got %g", t.CriticalReferrersWeeklyGrowth))
	}
	for _, r := range rateTargets {
		if v := r.Of(t); v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("%s: must be a ratio in [0, 1], got %g", r.Key, v))
		}
	}
	return errors.Join(errs...)
}

// targetDurationKeys are the keys of Targets holding durations; in a
// targets file they may be written in days ("66d", "83.6d") too.
var targetDurationKeys = map[string]bool{"time_to_appointment_p90": true, "default_time_to_appointment_p90": true,
	"urgent_time_to_appointment_p90": true, "default_urgent_time_to_appointment_p90": true}

// LoadTargets reads a YAML targets file over DefaultTargets: keys the
// file sets replace the defaults (time_to_appointment_p90 as a whole, so a
// service line can be dropped), keys it leaves out keep them. Unknown keys are
// an error. Durations are Go durations ("1584h") or days ("66d", "83.6d").
// The result is not validated: call Validate.
func LoadTargets(path string) (Targets, error) {
	t := DefaultTargets()
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("targets file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file keeps the defaults
		return t, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			key, val := root.Content[i].Value, root.Content[i+1]
			switch key { // the file's list replaces the defaults
			case "time_to_appointment_p90":
				t.TimeToAppointmentP90 = nil
			case "urgent_time_to_appointment_p90":
				t.UrgentTimeToAppointmentP90 = nil
			}
			if targetDurationKeys[key] {
				if err := daysToDurations(val); err != nil {
					return t, fmt.Errorf("targets file %s: %s: %w", path, key, err)
				}
			}
		}
	}
	// Re-encode so the decoder that rejects unknown keys sees the rewritten
	// durations (yaml.Node.Decode cannot reject unknown keys).
	norm, err := yaml.Marshal(&doc)
	if err != nil {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(norm))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	return t, nil
}

var fractionalDays = regexp.MustCompile(`^[0-9]+\.[0-9]+d$`)

// daysToDurations rewrites the duration scalars under n from the day forms
// Go's time.ParseDuration lacks into Go durations.
func daysToDurations(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 1; i < len(n.Content); i += 2 {
			if err := daysToDurations(n.Content[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	if _, err := time.ParseDuration(n.Value); err == nil {
		return nil
	}
	var d time.Duration
	if fractionalDays.MatchString(n.Value) {
		days, err := strconv.ParseFloat(n.Value[:len(n.Value)-1], 64)
		if err != nil {
			return err
		}
		d = time.Duration(math.Round(days * float64(24*time.Hour))) // 83.6d is not 83.599…d
	} else {
		md, err := model.ParseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 66d, 83.6d or 1584h", n.Value)
		}
		d = time.Duration(md)
	}
	n.Value, n.Tag, n.Style = d.String(), "!!str", 0
	return nil
}

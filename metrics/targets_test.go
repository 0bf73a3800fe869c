package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultTargets(t *testing.T) {
	tg := DefaultTargets()
	if err := tg.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if got, want := tg.TimeToAppointmentP90Target("orthopedics"), 24*day; got != want {
		t.Errorf("orthopedics p90 target = %s, want %s (2 × 12 d)", got, want)
	}
	if got, want := tg.TimeToAppointmentP90Target("neurology"), 62*day; got != want {
		t.Errorf("neurology (no own target) = %s, want the default %s", got, want)
	}
	if got, want := tg.UrgentTimeToAppointmentP90Target("orthopedics"), 14*day+9*time.Hour+36*time.Minute; got != want {
		t.Errorf("orthopedics urgent p90 target = %s, want %s (2 × 0.6 × 12 d)", got, want)
	}
	if got, want := tg.UrgentTimeToAppointmentP90Target("neurology"), 37*day+4*time.Hour+48*time.Minute; got != want {
		t.Errorf("neurology urgent (no own target) = %s, want the default %s", got, want)
	}
}

// TestAuthTurnaroundP90: N business days as calendar time are N days and a
// weekend for every five begun: the longest span they take.
func TestAuthTurnaroundP90(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 3 * day, 3: 5 * day, 5: 7 * day, 6: 10 * day} {
		tg := DefaultTargets()
		tg.AuthTurnaroundP90BusinessDays = n
		if got := tg.AuthTurnaroundP90(); got != want {
			t.Errorf("%d business days: %s, want %s", n, got, want)
		}
	}
}

func TestTargetsValidate(t *testing.T) {
	tg := DefaultTargets()
	tg.TimeToAppointmentP90 = map[string]time.Duration{"cardiology": 0}
	tg.LeakageRateMax = 1.5
	tg.BacklogOver7Days = -1
	tg.CriticalReferrersWeeklyIncrease = 0
	tg.CriticalReferrersWeeklyGrowth = 0.9
	tg.UrgentTimeToAppointmentP90 = map[string]time.Duration{"dermatology": -time.Hour}
	tg.DefaultUrgentTimeToAppointmentP90 = 0
	tg.AuthTurnaroundP90BusinessDays = 0
	err := tg.Validate()
	if err == nil {
		t.Fatal("invalid targets accepted")
	}
	for _, want := range []string{"time_to_appointment_p90: cardiology", "leakage_rate_max", "backlog_over_7_days",
		"critical_referrers_weekly_increase: must be >= 1", "critical_referrers_weekly_growth: must be >= 1",
		"urgent_time_to_appointment_p90: dermatology", "default_urgent_time_to_appointment_p90", "auth_turnaround_p90_business_days: must be >= 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestLoadTargets(t *testing.T) {
	tg, err := LoadTargets("testdata/targets/targets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	want := DefaultTargets()
	want.TimeToAppointmentP90 = map[string]time.Duration{
		"cardiology": 40 * day, "oncology": 20*day + 12*time.Hour, "womens_health": 83*day + 14*time.Hour + 24*time.Minute,
		"imaging": 36 * time.Hour, "neurology": 50*day + 12*time.Hour,
	}
	want.DefaultTimeToAppointmentP90 = 45 * day
	want.UrgentTimeToAppointmentP90 = map[string]time.Duration{"cardiology": 20 * day}
	want.DefaultUrgentTimeToAppointmentP90 = 30*day + 12*time.Hour
	want.AuthTurnaroundP90BusinessDays = 2
	want.LeakageRateMax = 0.25
	want.CriticalReferrersWeeklyIncrease, want.CriticalReferrersWeeklyGrowth = 5, 2
	if tg.DefaultTimeToAppointmentP90 != want.DefaultTimeToAppointmentP90 || tg.LeakageRateMax != want.LeakageRateMax ||
		tg.CriticalReferrersWeeklyIncrease != want.CriticalReferrersWeeklyIncrease || tg.CriticalReferrersWeeklyGrowth != want.CriticalReferrersWeeklyGrowth ||
		tg.ClosedLoopRateMin != want.ClosedLoopRateMin || tg.BacklogOver7Days != want.BacklogOver7Days ||
		tg.DefaultUrgentTimeToAppointmentP90 != want.DefaultUrgentTimeToAppointmentP90 || tg.AuthTurnaroundP90BusinessDays != want.AuthTurnaroundP90BusinessDays ||
		len(tg.UrgentTimeToAppointmentP90) != 1 || tg.UrgentTimeToAppointmentP90["cardiology"] != want.UrgentTimeToAppointmentP90["cardiology"] {
		t.Errorf("targets %+v, want %+v", tg, want)
	}
	if len(tg.TimeToAppointmentP90) != len(want.TimeToAppointmentP90) {
		t.Errorf("p90 targets %v, want exactly %v (the file's list replaces the defaults)", tg.TimeToAppointmentP90, want.TimeToAppointmentP90)
	}
	for l, d := range want.TimeToAppointmentP90 {
		if tg.TimeToAppointmentP90[l] != d {
			t.Errorf("%s: %s, want %s", l, tg.TimeToAppointmentP90[l], d)
		}
	}

	empty, err := LoadTargets("testdata/targets/empty.yaml")
	if err != nil || empty.TimeToAppointmentP90Target("cardiology") != DefaultTargets().TimeToAppointmentP90Target("cardiology") {
		t.Errorf("empty file: %+v, %v; want the defaults", empty, err)
	}

	for file, wantErr := range map[string]string{
		"testdata/targets/unknown-key.yaml":   "field leakage_rate_maximum not found",
		"testdata/targets/bad-duration.yaml":  `default_time_to_appointment_p90: "soon" is not a duration`,
		"testdata/targets/does-not-exist.yml": "targets file",
	} {
		if _, err := LoadTargets(file); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want one containing %q", file, err, wantErr)
		}
	}
}

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
}

func TestTargetsValidate(t *testing.T) {
	tg := DefaultTargets()
	tg.TimeToAppointmentP90 = map[string]time.Duration{"cardiology": 0}
	tg.LeakageRateMax = 1.5
	tg.BacklogOver7Days = -1
	tg.CriticalReferrersWeeklyIncrease = 0
	tg.CriticalReferrersWeeklyGrowth = 0.9
	err := tg.Validate()
	if err == nil {
		t.Fatal("invalid targets accepted")
	}
	for _, want := range []string{"time_to_appointment_p90: cardiology", "leakage_rate_max", "backlog_over_7_days",
		"critical_referrers_weekly_increase: must be >= 1", "critical_referrers_weekly_growth: must be >= 1"} {
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
	want.LeakageRateMax = 0.25
	want.CriticalReferrersWeeklyIncrease, want.CriticalReferrersWeeklyGrowth = 5, 2
	if tg.DefaultTimeToAppointmentP90 != want.DefaultTimeToAppointmentP90 || tg.LeakageRateMax != want.LeakageRateMax ||
		tg.CriticalReferrersWeeklyIncrease != want.CriticalReferrersWeeklyIncrease || tg.CriticalReferrersWeeklyGrowth != want.CriticalReferrersWeeklyGrowth ||
		tg.ClosedLoopRateMin != want.ClosedLoopRateMin || tg.BacklogOver7Days != want.BacklogOver7Days {
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

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
	err := tg.Validate()
	if err == nil {
		t.Fatal("invalid targets accepted")
	}
	for _, want := range []string{"time_to_appointment_p90: cardiology", "leakage_rate_max", "backlog_over_7_days"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

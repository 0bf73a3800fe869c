package kpi_test

import (
	"bytes"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func ptr(n int64) *int64 { return &n }

// sample is a hand-made two-window snapshot.
func sample() kpi.Snapshot {
	day := int64(86400)
	cardio := kpi.Fields{
		Referrals: 120, Scheduled: 80, Completed: 50, Leaked: 30, InternalReferrals: 70, InternalLeaked: 7, Incomplete: 9,
		TimeToSchedule:    kpi.Distribution{Count: 80, Sum: 80 * 3 * day, P50: ptr(2 * day), P90: ptr(9*day + 43200)},
		TimeToAppointment: kpi.Distribution{Count: 75, Sum: 75 * 30 * day, P50: ptr(24 * day), P90: ptr(61 * day)},
		LoopCohort:        40, LoopClosed14d: 13, AppointmentsKeptOrMissed: 98, NoShows: 6, AuthDecisions: 20, AuthDenied: 1,
		Backlog:         kpi.Backlog{Days0To2: 3, Days3To7: 4, Days8To14: 2, Days15To30: 1, Days31Plus: 5},
		TriageSLACohort: 110, TriageSLABreaches: 12,
		LeakedByPayerClass: map[string]int64{"commercial": 20, "medicaid": 10},
		AuthTurnaround:     kpi.Distribution{Count: 18, Sum: 18 * 2 * day, P50: ptr(day + 3600), P90: ptr(4 * day)},
		TimeToTriage:       kpi.Distribution{Count: 100, Sum: 100 * day, P50: ptr(20 * 3600), P90: ptr(3 * day)},
		InfoTurnaround:     kpi.Distribution{Count: 9, Sum: 9 * 5 * day, P50: ptr(4 * day), P90: ptr(9 * day)},
		LeakedByReason:     map[string]int64{"patient_choice": 12, "access": 8, "destination_out": 10},
	}
	urgent := kpi.Fields{Referrals: 20, TriageSLACohort: 20, TriageSLABreaches: 3}
	ortho := kpi.Fields{Referrals: 0, Backlog: kpi.Backlog{Days31Plus: 2}}
	totals := cardio
	totals.Backlog.Days31Plus += 2
	w := func(days int) kpi.WindowSnapshot {
		return kpi.WindowSnapshot{
			Window: kpi.Window(time.Duration(days) * 24 * time.Hour),
			Totals: totals, ByServiceLine: map[string]kpi.Fields{"cardiology": cardio, "orthopedics": ortho},
			ByPriority: map[string]kpi.Fields{"routine": cardio, "urgent": urgent, "stat": {}},
		}
	}
	return kpi.Snapshot{
		AsOf:         time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC),
		Windows:      []kpi.WindowSnapshot{w(30), w(90)},
		ServiceLines: []string{"cardiology", "orthopedics"},
		Calendar:     sla.Default(),
		Referrers: kpi.ReferrerActivity{
			Totals: kpi.ReferrerStates{New: 3, Active: 40, Fading: 6, Inactive: 11},
			ByType: map[string]kpi.ReferrerStates{
				"primary_care": {New: 2, Active: 30, Fading: 5, Inactive: 10},
				"specialist":   {New: 1, Active: 10, Fading: 1, Inactive: 1},
			},
		},
		Attention: kpi.ReferrerAttention{
			Totals: kpi.AttentionLevels{Critical: 2, High: 5, Medium: 9, Minor: 44},
			ByType: map[string]kpi.AttentionLevels{
				"primary_care": {Critical: 2, High: 4, Medium: 7, Minor: 34},
				"specialist":   {High: 1, Medium: 2, Minor: 10},
			},
		},
	}
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update and review the diff):\n%s", path, got)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := kpi.WriteTable(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", buf.Bytes())
}

// TestWriteJSON: the contract's keys in its order, nulls for empty quantiles,
// one object for one window and an array for several.
func TestWriteJSON(t *testing.T) {
	s := sample()
	var buf bytes.Buffer
	if err := kpi.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	golden(t, "snapshot.golden.json", buf.Bytes())
	arr, ok := decodeJSON(t, buf.Bytes()).([]any)
	if !ok || len(arr) != 2 {
		t.Fatalf("two windows: want an array of 2, got %s", buf.Bytes())
	}
	s.Windows = s.Windows[:1]
	buf.Reset()
	if err := kpi.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	obj, ok := decodeJSON(t, buf.Bytes()).(map[string]any)
	if !ok {
		t.Fatalf("one window: want an object, got %s", buf.Bytes())
	}
	keys := func(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
	if got := strings.Join(keys(obj), ","); got != "as_of,by_priority,by_service_line,referrer_attention,referrers,sla_calendar,totals,window" {
		t.Errorf("window object keys %s", got)
	}
	fields := "appointments_kept_or_missed,auth_decisions,auth_denied,auth_turnaround_p50_seconds,auth_turnaround_p90_seconds," +
		"backlog,cms50_closed,cms50_no_patient_token,cms50_patients,completed,incomplete,info_turnaround_p50_seconds,info_turnaround_p90_seconds,internal_leaked,internal_referrals," +
		"leaked,leaked_by_payer_class,leaked_by_reason,loop_closed_14d,loop_cohort,no_shows,referrals,scheduled," +
		"time_to_appointment_p50_seconds,time_to_appointment_p90_seconds,time_to_schedule_p50_seconds,time_to_schedule_p90_seconds," +
		"time_to_triage_p50_seconds,time_to_triage_p90_seconds,triage_sla_breaches,triage_sla_cohort"
	ortho := obj["by_service_line"].(map[string]any)["orthopedics"].(map[string]any)
	if got := strings.Join(keys(ortho), ","); got != fields {
		t.Errorf("fields %s\nwant %s", got, fields)
	}
	if got := strings.Join(keys(obj["by_priority"].(map[string]any)), ","); got != "routine,stat,urgent" {
		t.Errorf("by_priority keys %s", got)
	}
	stat := obj["by_priority"].(map[string]any)["stat"].(map[string]any)
	if got := strings.Join(keys(stat), ","); got != fields {
		t.Errorf("by_priority fields %s\nwant %s", got, fields)
	}
	// every payer class is a key, with or without leaks
	if got := strings.Join(keys(ortho["leaked_by_payer_class"].(map[string]any)), ","); got != "commercial,medicaid,medicare,medicare_advantage,other,self_pay,unknown" {
		t.Errorf("leaked_by_payer_class keys %s", got)
	}
	if got := strings.Join(keys(ortho["leaked_by_reason"].(map[string]any)), ","); got != "access,destination_out,other,patient_choice,payer" {
		t.Errorf("leaked_by_reason keys %s", got)
	}
	if ortho["auth_turnaround_p50_seconds"] != nil || ortho["time_to_triage_p90_seconds"] != nil || ortho["info_turnaround_p50_seconds"] != nil {
		t.Errorf("auth turnaround quantiles of an empty set must be null: %v", ortho)
	}
	if got := strings.Join(keys(obj["sla_calendar"].(map[string]any)), ","); got != "holidays,time_zone,triage_business_days,weekend" {
		t.Errorf("sla_calendar keys %s", got)
	}
	if ortho["time_to_schedule_p50_seconds"] != nil || ortho["time_to_appointment_p90_seconds"] != nil {
		t.Errorf("quantiles of an empty set must be null: %v", ortho)
	}
	if got := strings.Join(keys(ortho["backlog"].(map[string]any)), ","); got != "0-2d,15-30d,3-7d,31d+,8-14d" {
		t.Errorf("backlog keys %s", got)
	}
	attention := obj["referrer_attention"].(map[string]any)
	if got := strings.Join(keys(attention), ","); got != "by_referrer_type,critical,high,medium,minor" {
		t.Errorf("referrer_attention keys %s", got)
	}
	if got := strings.Join(keys(attention["by_referrer_type"].(map[string]any)["specialist"].(map[string]any)), ","); got != "critical,high,medium,minor" {
		t.Errorf("referrer_attention by_referrer_type keys %s", got)
	}
}

// TestWriteCompactTable: the first window only, largest cohort first, and
// nothing for a snapshot without windows.
func TestWriteCompactTable(t *testing.T) {
	var buf bytes.Buffer
	if err := kpi.WriteCompactTable(&buf, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, "compact.golden", buf.Bytes())
	buf.Reset()
	if err := kpi.WriteCompactTable(&buf, kpi.Snapshot{}); err != nil || buf.Len() != 0 {
		t.Errorf("no windows: wrote %q, %v; want nothing", buf.String(), err)
	}
}

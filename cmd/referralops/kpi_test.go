package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/referralops/referralops/metrics/kpi/sla"
)

// loadKPI runs the config layering of `referralops kpi` without running it.
func loadKPI(t *testing.T, args ...string) (*fileConfig, int, string) {
	t.Helper()
	var stderr bytes.Buffer
	var got *fileConfig
	commands["probe"] = command{summary: "test", setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		validate, _ := kpiCommand.setup(fs, file)
		got = file
		return validate, func(context.Context, *slog.Logger) error { return nil }
	}}
	t.Cleanup(func() { delete(commands, "probe") })
	code := run(append([]string{"probe"}, args...), &stderr, &stderr)
	return got, code, stderr.String()
}

// TestKPICalendarConfig: the calendar is the default, the config file's sla:
// section over it (unset keys keep their defaults), or --sla-calendar's file,
// which replaces the section.
func TestKPICalendarConfig(t *testing.T) {
	cfg, code, out := loadKPI(t)
	if code != exitOK || !reflect.DeepEqual(cfg.KPI.SLA, sla.Default()) {
		t.Errorf("no calendar given: exit %d, %+v\n%s", code, cfg.KPI.SLA, out)
	}

	cfg, code, out = loadKPI(t, "--config", "testdata/sla.yaml")
	want := sla.Default()
	want.TimeZone, want.Holidays = "America/Chicago", []string{"2026-12-25"}
	want.TriageBusinessDays["urgent"] = 0
	if code != exitOK || !reflect.DeepEqual(cfg.KPI.SLA, want) {
		t.Errorf("sla: section: exit %d, %+v, want %+v\n%s", code, cfg.KPI.SLA, want, out)
	}

	cfg, code, out = loadKPI(t, "--config", "testdata/sla.yaml", "--sla-calendar", "testdata/sla-calendar.yaml")
	want = sla.Default()
	want.TimeZone, want.Weekend = "Europe/Berlin", []string{"friday", "saturday"}
	if code != exitOK || !reflect.DeepEqual(cfg.KPI.SLA, want) {
		t.Errorf("--sla-calendar: exit %d, %+v, want %+v\n%s", code, cfg.KPI.SLA, want, out)
	}
}

func TestKPICalendarInvalidExits2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", "testdata/sla-bad.yaml"}, `sla: time_zone: "Europe/Atlantis" is not an IANA time zone`},
		{[]string{"--sla-calendar", "testdata/sla-bad.yaml"}, "field sla not found"},
		{[]string{"--sla-calendar", "testdata/nope.yaml"}, "sla-calendar"},
	} {
		_, code, out := loadKPI(t, tc.args...)
		if code != exitBadConfig || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q in:\n%s", tc.args, code, exitBadConfig, tc.want, out)
		}
	}
}

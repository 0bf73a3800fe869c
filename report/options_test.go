package report_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/report"
)

func validOptions() report.Options {
	return report.Options{DB: "referralops", AsOf: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Weeks: 13,
		Window: report.DefaultWindow, Targets: metrics.DefaultTargets(), WorklistSize: 15}
}

func TestOptionsValidate(t *testing.T) {
	if err := validOptions().Validate(); err != nil {
		t.Fatalf("valid options: %v", err)
	}
	for _, tc := range []struct {
		change func(*report.Options)
		want   string
	}{
		{func(o *report.Options) { o.Weeks = 1 }, "weeks: want at least 2"},
		{func(o *report.Options) { o.WorklistSize = 0 }, "worklist size"},
		{func(o *report.Options) { o.AsOf = time.Time{} }, "as-of: not set"},
		{func(o *report.Options) { o.Window = 0 }, "window: not set"},
		{func(o *report.Options) { o.Targets.LeakageRateMax = 2 }, "leakage_rate_max"},
		{func(o *report.Options) { o.Calendar = &sla.Calendar{TimeZone: "Europe/Atlantis"} }, "sla: time_zone"},
	} {
		o := validOptions()
		tc.change(&o)
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error with %q", err, tc.want)
		}
	}
}

// TestBuildFails: invalid options and a database without the schema fail
// Build with an error naming the cause; nothing is half-built.
func TestBuildFails(t *testing.T) {
	o := validOptions()
	o.Weeks = 0
	if _, err := report.Build(context.Background(), nil, o, func(int, int, string) {}); err == nil || !strings.Contains(err.Error(), "weeks") {
		t.Errorf("invalid options: %v", err)
	}
	e := testenv.Server(t)
	o = validOptions()
	o.DB = e.Database(t) // a name of its own, no schema in it
	steps := 0
	_, err := report.Build(context.Background(), e, o, func(int, int, string) { steps++ })
	if err == nil || !strings.Contains(err.Error(), "report: week 2026-09-07") || steps != 0 {
		t.Errorf("database without the schema: %v after %d steps", err, steps)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	paths, err := report.Report{}.Write(t.TempDir(), []string{"docx"})
	if err == nil || !strings.Contains(err.Error(), `unknown format "docx"`) || len(paths) != 0 {
		t.Errorf("got %v, %v", paths, err)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/report"
)

func TestReportCommandBadConfigExits2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "docx"}, `format: "docx" is not one of html, pdf`},
		{[]string{"--as-of", "yesterday"}, "as-of: want RFC 3339"},
		{[]string{"--weeks", "1"}, "weeks: want at least 2"},
		{[]string{"--every", "-1h"}, "every: must be 0 or positive"},
		{[]string{"--timeout", "0s"}, "timeout: must be positive"},
		{[]string{"--out", ""}, "out: must name a directory"},
		{[]string{"--targets", "testdata/nope.yaml"}, "targets: targets file"},
		{[]string{"--sla-calendar", "testdata/sla-bad.yaml"}, "field sla not found"},
		{[]string{"--config", "testdata/sla-bad.yaml"}, `sla: time_zone: "Europe/Atlantis" is not an IANA time zone`},
	} {
		var out bytes.Buffer
		if code := run(append([]string{"report"}, tc.args...), &out, &out); code != exitBadConfig {
			t.Errorf("%v: exit %d, want %d", tc.args, code, exitBadConfig)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: output does not say %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}

// reportDB is a migrated database on the 18.16 server holding a small generated
// network that ends the day before T.
func reportDB(t *testing.T, T time.Time) (*testenv.Engine, string) {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Referrals = 2000
	cfg.Days = 120
	cfg.End = T.Add(-24 * time.Hour).Truncate(24 * time.Hour)
	e := testenv.Server(t)
	db := e.Migrated(t)
	e.Load(t, db, testenv.GenerateEvents(t, cfg))
	return e, db
}

// TestReportCommand: `referralops report` writes the HTML and the PDF as of T
// into --out, with a progress line per replay on stderr; with --sla-calendar
// its access by priority and leakage by payer and reason numbers are those of
// `referralops kpi --format json` with the same calendar.
func TestReportCommand(t *testing.T) {
	T := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	e, db := reportDB(t, T)
	dir := filepath.Join(t.TempDir(), "reports")
	calendar := []string{"--sla-calendar", "testdata/sla-calendar.yaml"}
	var stdout, stderr bytes.Buffer
	code := run(append([]string{"report", "--clickhouse-dsn", e.DSN(db), "--as-of", T.Format(time.RFC3339), "--out", dir, "--weeks", "3"}, calendar...), &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	kpiJSON, err := exec.Command(testenv.Binary(t), append([]string{"kpi", "--clickhouse-dsn", e.DSN(db), "--as-of", T.Format(time.RFC3339), "--window", "30d", "--format", "json"}, calendar...)...).Output()
	if err != nil {
		t.Fatalf("referralops kpi: %v", err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "referralops-report-2026-11-30T000000Z.html"))
	if err != nil {
		t.Fatal(err)
	}
	checkReportMatchesKPI(t, string(html), kpiJSON)
	for _, f := range []string{"referralops-report-2026-11-30T000000Z.html", "referralops-report-2026-11-30T000000Z.pdf"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 1000 {
			t.Errorf("%s: %d bytes, %v", f, len(b), err)
		}
	}
	if got := strings.Count(stderr.String(), `"msg":"report progress"`); got != 3+2 {
		t.Errorf("%d progress lines, want 5:\n%s", got, stderr.String())
	}

	// an unreachable server fails the command
	code = run([]string{"report", "--clickhouse-dsn", "clickhouse://127.0.0.1:1/" + db, "--out", dir, "--timeout", "5s"}, &stdout, &stderr)
	if code != exitFailure {
		t.Errorf("unreachable server: exit %d, want %d", code, exitFailure)
	}
}

// checkReportMatchesKPI: the report's HTML shows the triage SLA breaches per
// priority, the leaked referrals per payer class and per reason, and the
// calendar of the kpi JSON object.
func checkReportMatchesKPI(t *testing.T, html string, kpiJSON []byte) {
	t.Helper()
	type fields struct {
		Leaked             int64            `json:"leaked"`
		TriageSLACohort    int64            `json:"triage_sla_cohort"`
		TriageSLABreaches  int64            `json:"triage_sla_breaches"`
		LeakedByPayerClass map[string]int64 `json:"leaked_by_payer_class"`
		LeakedByReason     map[string]int64 `json:"leaked_by_reason"`
	}
	var k struct {
		Totals     fields            `json:"totals"`
		ByPriority map[string]fields `json:"by_priority"`
		Calendar   sla.Calendar      `json:"sla_calendar"`
	}
	if err := json.Unmarshal(kpiJSON, &k); err != nil {
		t.Fatalf("kpi json: %v\n%s", err, kpiJSON)
	}
	if k.Calendar.TimeZone != "Europe/Berlin" || len(k.ByPriority) != 3 || k.Totals.Leaked == 0 {
		t.Fatalf("kpi json: calendar %+v, by_priority %v, leaked %d", k.Calendar, k.ByPriority, k.Totals.Leaked)
	}
	text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(html, "\t")
	has := func(what string, cells ...string) {
		if !regexp.MustCompile(`\t` + strings.Join(cells, `\t+`) + `\t`).MatchString(text) {
			t.Errorf("report lacks %s: %q", what, cells)
		}
	}
	for p, f := range k.ByPriority {
		has("the triage SLA breaches", p, "Triage SLA breaches", `[^\t]+`, `[^\t]+`, `[^\t]+`, fmt.Sprintf("%d of %d received", f.TriageSLABreaches, f.TriageSLACohort))
	}
	for c, n := range k.Totals.LeakedByPayerClass {
		has("the leaked referrals of a payer class", c, `\d+`, strconv.FormatInt(n, 10))
	}
	for why, n := range k.Totals.LeakedByReason {
		has("the leaked referrals of a reason", why, strconv.FormatInt(n, 10))
	}
	if !strings.Contains(text, "time zone Europe/Berlin, weekend friday and saturday, no holidays") {
		t.Error("report does not state the calendar of --sla-calendar")
	}
}

// TestReportEvery: with --every the command writes the report of each period
// whose time has come (a past --as-of catches up) and waits for the next,
// until it is stopped.
func TestReportEvery(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	e, db := reportDB(t, now)
	dir := t.TempDir()
	chc := clickhouse.DefaultConfig()
	chc.DSN = e.DSN(db)
	opts := report.Options{DB: db, AsOf: now.Add(-2 * time.Hour), Weeks: 2, Window: report.DefaultWindow,
		Targets: metrics.DefaultTargets(), WorklistSize: 15}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runReports(ctx, slog.New(slog.DiscardHandler), chc, opts, dir, []string{"html"}, time.Hour, time.Minute)
	}()
	files := func() []string {
		f, _ := filepath.Glob(filepath.Join(dir, "*.html"))
		return f
	}
	testenv.Eventually(t, 2*time.Minute, func() bool { return len(files()) == 3 },
		func() string { return "reports written: " + strings.Join(files(), ", ") })
	select {
	case err := <-done:
		t.Fatalf("returned before being stopped: %v", err)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("stopped: %v", err)
	}
	if got := len(files()); got != 3 {
		t.Errorf("%d reports, want 3 (T-2h, T-1h, T)", got)
	}
}

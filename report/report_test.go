package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/report"
)

var updateSample = flag.Bool("update-sample", false, "rewrite the sample report under docs/ (HTML and a PNG of the PDF's page 1)")

func TestMain(m *testing.M) { testenv.Main(m) }

// tool is the path of an external program the rendering checks need; Debian
// ships it in pkg (deploy/local/services.sh installs it for make test).
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("REFERRALOPS_REQUIRE_SERVERS") != "" {
			t.Fatalf("%s not found (Debian package %s): %v", name, pkg, err)
		}
		t.Skipf("%s not found (Debian package %s)", name, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String()
}

// headline are the headline numbers the report must show, computed from the
// `referralops kpi --format json` contract (its 30-day object, totals).
func headline(t *testing.T, s kpi.Snapshot) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := kpi.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	tot := raw["totals"].(map[string]any)
	n := func(k string) float64 { return tot[k].(float64) }
	pct := func(a, b float64) string { return fmt.Sprintf("%.1f%%", 100*a/b) }
	return map[string]string{
		"Referrals":               fmt.Sprintf("%.0f", n("referrals")),
		"Scheduled conversion":    pct(n("scheduled"), n("referrals")),
		"Leakage rate":            pct(n("leaked"), n("referrals")),
		"Closed-loop rate":        pct(n("loop_closed_14d"), n("loop_cohort")),
		"Time to appointment p90": fmt.Sprintf("%.1f d", n("time_to_appointment_p90_seconds")/86400),
	}
}

// rows are the rows of the access by priority and leakage by payer and reason
// tables the report must show, each a list of its cells (a regexp each), from
// the same `referralops kpi --format json` object: by_priority's quantiles and
// triage SLA breaches, totals' leaked_by_payer_class and leaked_by_reason.
func rows(t *testing.T, s kpi.Snapshot) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if err := kpi.WriteJSON(&buf, s); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Totals struct {
			Leaked             int64            `json:"leaked"`
			LeakedByPayerClass map[string]int64 `json:"leaked_by_payer_class"`
			LeakedByReason     map[string]int64 `json:"leaked_by_reason"`
		} `json:"totals"`
		ByPriority map[string]struct {
			AccessP50   *float64 `json:"time_to_appointment_p50_seconds"`
			AccessP90   *float64 `json:"time_to_appointment_p90_seconds"`
			TriageP50   *float64 `json:"time_to_triage_p50_seconds"`
			TriageP90   *float64 `json:"time_to_triage_p90_seconds"`
			SLABreaches float64  `json:"triage_sla_breaches"`
			SLACohort   float64  `json:"triage_sla_cohort"`
		} `json:"by_priority"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	seconds := func(v *float64, per float64, unit string) string {
		if v == nil {
			return "n/a"
		}
		return regexp.QuoteMeta(fmt.Sprintf("%.1f %s", *v/per, unit))
	}
	pct := func(n, d float64) string {
		if d == 0 {
			return "n/a"
		}
		return regexp.QuoteMeta(fmt.Sprintf("%.1f%%", 100*n/d))
	}
	var out [][]string
	if len(raw.ByPriority) != 3 {
		t.Fatalf("by_priority: %v", raw.ByPriority)
	}
	for p, f := range raw.ByPriority {
		out = append(out,
			[]string{p, "Time to appointment p50", seconds(f.AccessP50, 86400, "d")},
			[]string{p, "Time to appointment p90", seconds(f.AccessP90, 86400, "d")},
			[]string{p, "Time to triage p50", seconds(f.TriageP50, 3600, "h")},
			[]string{p, "Time to triage p90", seconds(f.TriageP90, 3600, "h")},
			[]string{p, "Triage SLA breaches", pct(f.SLABreaches, f.SLACohort), `.+?`,
				fmt.Sprintf("%.0f of %.0f received", f.SLABreaches, f.SLACohort)})
	}
	if len(raw.Totals.LeakedByPayerClass) == 0 || len(raw.Totals.LeakedByReason) != len(kpi.LeakReasons) {
		t.Fatalf("leaked_by_payer_class %v, leaked_by_reason %v", raw.Totals.LeakedByPayerClass, raw.Totals.LeakedByReason)
	}
	sum := int64(0)
	for c, n := range raw.Totals.LeakedByPayerClass {
		out = append(out, []string{c, `\d+`, strconv.FormatInt(n, 10), pct(float64(n), float64(raw.Totals.Leaked))})
	}
	for why, n := range raw.Totals.LeakedByReason {
		out = append(out, []string{why, strconv.FormatInt(n, 10), pct(float64(n), float64(raw.Totals.Leaked))})
		sum += n
	}
	if sum != raw.Totals.Leaked || raw.Totals.Leaked == 0 {
		t.Fatalf("leaked_by_reason sums to %d, leaked %d", sum, raw.Totals.Leaked)
	}
	return out
}

// TestReportRendered builds the report of a generated network as of T, renders
// the HTML in headless Chromium (a screenshot, the DOM it built, no console
// error, no request) and the PDF with poppler (text and page images), and
// checks both for the section titles and the headline numbers of `referralops
// kpi` as of T.
func TestReportRendered(t *testing.T) {
	chromium := tool(t, "chromium", "chromium")
	pdftoppm := tool(t, "pdftoppm", "poppler-utils")
	pdftotext := tool(t, "pdftotext", "poppler-utils")

	T := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	cfg := generator.DefaultConfig()
	cfg.Seed = 15
	cfg.Referrals = 12_000
	cfg.Days = 420
	cfg.End = T.Add(-24 * time.Hour)
	events := testenv.GenerateEvents(t, cfg)
	e := testenv.Server(t)
	db := e.Migrated(t)
	e.Load(t, db, events)

	var progress []string
	opts := report.Options{DB: db, AsOf: T, Weeks: report.DefaultWeeks, Window: report.DefaultWindow,
		Targets: metrics.DefaultTargets(), WorklistSize: report.DefaultWorklistSize}
	r, err := report.Build(context.Background(), e, opts, func(step, steps int, what string) {
		progress = append(progress, fmt.Sprintf("%d/%d %s", step, steps, what))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != report.DefaultWeeks+2 || progress[len(progress)-1] != "15/15 data freshness" {
		t.Errorf("progress %q, want %d steps", progress, report.DefaultWeeks+2)
	}
	s, err := kpi.Evaluate(context.Background(), e, db, T, []kpi.Window{report.DefaultWindow})
	if err != nil {
		t.Fatal(err)
	}
	want := headline(t, s)
	wantRows := rows(t, s)
	worklist, err := kpi.Request{DB: db, AsOf: T}.Worklist(context.Background(), e, 15)
	if err != nil || len(worklist) != 15 {
		t.Fatalf("worklist: %d rows, %v", len(worklist), err)
	}
	titles := []string{"Headline KPIs", "13-week trends per service line", "Access by priority", "Leakage by source, payer and reason", "Closed loop",
		"Liaison worklist", "Pipeline health", "Referrals created in the 30d before each week", "Time to appointment, p90",
		"Leakage rate by referral source (referrer type)", "Closed-loop rate by service line",
		"Time to appointment p90 by priority", "Time to triage p90 by priority", "Triage SLA breaches by priority",
		"Leakage rate by payer class", "Leaked referrals by reason",
		"SLA calendar used: time zone UTC, weekend saturday and sunday, no holidays; triage SLA in business days: routine 2, urgent 1, stat 0"}

	dir := t.TempDir()
	paths, err := r.Write(dir, report.Formats)
	if err != nil {
		t.Fatal(err)
	}
	htmlPath, pdfPath := paths[0], paths[1]

	// HTML: self-contained (nothing to fetch), then what Chromium renders.
	raw, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?i)<script|\bsrc=|\bhref=|url\(|@import|https?://`).Find(raw); m != nil {
		t.Errorf("the HTML refers to something outside it: %q", m)
	}
	profile := t.TempDir()
	flags := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile,
		"--enable-logging=stderr", "--v=0", "--log-level=0"}
	shot := filepath.Join(dir, "report.png")
	_, logs := run(t, chromium, append(flags, "--hide-scrollbars", "--window-size=900,6500", "--screenshot="+shot, "file://"+htmlPath)...)
	dom, logs2 := run(t, chromium, append(flags, "--dump-dom", "file://"+htmlPath)...)
	for _, l := range strings.Split(logs+logs2, "\n") {
		if strings.Contains(l, "CONSOLE") || strings.Contains(l, "Content Security Policy") || strings.Contains(l, "Failed to load") {
			t.Errorf("chromium: %s", l)
		}
	}
	checkPNG(t, shot, 900)
	text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(dom, "\t")
	for _, title := range titles {
		if !strings.Contains(text, title) {
			t.Errorf("rendered HTML lacks %q", title)
		}
	}
	for name, v := range want {
		if !regexp.MustCompile(regexp.QuoteMeta(name) + `\t+` + regexp.QuoteMeta(v) + `\t`).MatchString(text) {
			t.Errorf("rendered HTML: headline %s is not %s", name, v)
		}
	}
	for _, row := range wantRows {
		if !regexp.MustCompile(`\t` + strings.Join(row, `\t+`) + `\t`).MatchString(text) {
			t.Errorf("rendered HTML lacks the row %q", row)
		}
	}
	for _, w := range worklist {
		if !strings.Contains(text, "\t"+w.ReferrerID+"\t") {
			t.Errorf("rendered HTML lacks worklist referrer %s", w.ReferrerID)
		}
	}

	// PDF: its text and its pages as images.
	pdfText, _ := run(t, pdftotext, "-layout", pdfPath, "-")
	for _, title := range titles {
		if !strings.Contains(pdfText, title) {
			t.Errorf("PDF lacks %q", title)
		}
	}
	for name, v := range want {
		if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `\s+` + regexp.QuoteMeta(v) + `\s`).MatchString(pdfText) {
			t.Errorf("PDF: headline %s is not %s", name, v)
		}
	}
	for _, row := range wantRows {
		if !regexp.MustCompile(`(?m)^\s*` + strings.Join(row, `\s+`) + `(\s|$)`).MatchString(pdfText) {
			t.Errorf("PDF lacks the row %q", row)
		}
	}
	for _, w := range worklist {
		if !strings.Contains(pdfText, " "+w.ReferrerID+" ") {
			t.Errorf("PDF lacks worklist referrer %s", w.ReferrerID)
		}
	}
	run(t, pdftoppm, "-png", "-r", "60", pdfPath, filepath.Join(dir, "page"))
	pages, _ := filepath.Glob(filepath.Join(dir, "page-*.png"))
	if len(pages) < 3 {
		t.Fatalf("PDF has %d pages, want at least 3", len(pages))
	}
	for _, p := range pages {
		checkPNG(t, p, 497) // A4 (595 pt) at 60 dpi
	}

	if *updateSample {
		docs := filepath.Join(testenv.RepoRoot(), "docs")
		run(t, pdftoppm, "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile", pdfPath, filepath.Join(docs, "report-sample-page1"))
		if err := os.WriteFile(filepath.Join(docs, "report-sample.html"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("sample written to %s; screenshot %s; pages %v", docs, shot, pages)
	}
}

// checkPNG: a PNG of the given width that is not blank (some pixels differ
// from the first).
func checkPNG(t *testing.T, path string, width int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() != width {
		t.Errorf("%s: %d pixels wide, want %d", path, b.Dx(), width)
	}
	first := img.At(b.Min.X, b.Min.Y)
	differ := 0
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			if img.At(x, y) != first {
				differ++
			}
		}
	}
	if differ < 100 {
		t.Errorf("%s looks blank (%d sampled pixels differ from the corner)", path, differ)
	}
}

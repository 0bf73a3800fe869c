package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// These tests run against the real ClickHouse server (a fresh database each)
// and, where they say so, the real referralops binary.

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %s", url, err, resp.Status)
	}
	return body
}

// kpiText is the KPI families' part of an exposition (the referral_* lines,
// HELP and TYPE included): what a fixed dataset and as-of time determine.
func kpiText(body []byte) string {
	var sb strings.Builder
	for line := range strings.Lines(string(body)) {
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "referral_") {
			sb.WriteString(line)
		}
	}
	return sb.String()
}

// promtoolCheck runs `promtool check metrics` on an exposition.
func promtoolCheck(t *testing.T, body []byte) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.RequireServers() {
			t.Fatalf("promtool is required (REFERRALOPS_REQUIRE_SERVERS=1): %v; apt-get install prometheus", err)
		}
		t.Skipf("promtool unavailable (%v)", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// identifiers are the ids and pseudonyms in events, which logs must never show.
func identifiers(events []event.Event) []string {
	set := map[string]bool{}
	for _, e := range events {
		for _, id := range []string{e.ID, e.Subject, e.Data.ReferrerID, e.Data.PatientToken, e.Data.AppointmentID} {
			if len(id) >= 6 {
				set[id] = true
			}
		}
	}
	var out []string
	for id := range set {
		out = append(out, id)
	}
	return out
}

func checkNoIDs(t *testing.T, output string, ids []string) {
	t.Helper()
	for _, id := range ids {
		if strings.Contains(output, id) {
			t.Errorf("the exporter logged the id %q", id)
			return
		}
	}
}

// TestExportGolden: `referralops export` on a fixed dataset (fixed seed and
// end, loaded into a fresh database) with a fixed --as-of serves exactly
// testdata/export.prom (-update rewrites it), every family of the catalog and
// no other, and an exposition promtool finds clean. It reads as the
// read-only exporter user.
func TestExportGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset")
	}
	db := testenv.ReaderClickHouse(t)
	events := testenv.GenerateEvents(t, fixedDataset())
	db.Load(t, events)
	p, base := testenv.StartExport(t, "", nil, "--clickhouse-dsn", db.ExporterDSN(), "--as-of", goldenEnd.Format(time.RFC3339),
		"--window", "30d", "--locations-top", "2", "--refresh-interval", "1h")
	body := get(t, base+"/metrics")

	promtoolCheck(t, body)

	var catalog []string
	for _, f := range metrics.Catalog {
		catalog = append(catalog, f.Name)
	}
	slices.Sort(catalog)
	served, err := testenv.ParseMetrics(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if served := kpiFamilies(served); !slices.Equal(served, catalog) {
		t.Errorf("served families %v\nwant the catalog's %v", served, catalog)
	}
	checkAttentionIsKPI(t, served, db.ExporterDSN(), goldenEnd)
	checkStagesAreKPI(t, served, db.ExporterDSN(), goldenEnd)

	golden := filepath.Join("testdata", "export.prom")
	got := kpiText(body)
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("/metrics differs from %s (run go test ./metrics -run %s -update if intended):\n%s", golden, t.Name(), lineDiff(string(want), got))
	}

	if code := p.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	checkNoIDs(t, p.Output(), identifiers(events))
}

// checkAttentionIsKPI: the served attention counts are, type by type and
// level by level, `referralops kpi --format json`'s referrer_attention as of
// the same time, with no other type and no level left out.
func checkAttentionIsKPI(t *testing.T, served testenv.Metrics, dsn string, asOf time.Time) {
	t.Helper()
	// One window: one object (the attention levels have no window).
	out, err := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--as-of", asOf.Format(time.RFC3339),
		"--window", "30d", "--format", "json").Output()
	if err != nil {
		t.Fatalf("referralops kpi: %v", err)
	}
	var doc struct {
		Attention struct {
			ByReferrerType map[string]map[string]float64 `json:"by_referrer_type"`
		} `json:"referrer_attention"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	name := metrics.AttentionReferrers.Name
	byType := doc.Attention.ByReferrerType
	if n := len(served[name].GetMetric()); n != len(byType)*len(kpi.Levels) {
		t.Errorf("%s: %d series, want %d referrer types × %d levels", name, n, len(byType), len(kpi.Levels))
	}
	var total float64
	for typ, levels := range byType {
		for _, level := range kpi.Levels {
			want := levels[level]
			total += want
			if got := served.Value(t, name, metrics.LabelReferrerType, typ, metrics.LabelLevel, level); got != want {
				t.Errorf("%s{referrer_type=%q,level=%q} = %v, kpi JSON says %v", name, typ, level, got, want)
			}
		}
	}
	if total == 0 || len(byType) < 2 {
		t.Errorf("kpi JSON referrer_attention %s: want referrers of several types", out)
	}
}

// stageFields are the version 2 fields of `referralops kpi --format json`
// the stage, priority and payer families carry.
type stageFields struct {
	TriageSLACohort    float64            `json:"triage_sla_cohort"`
	TriageSLABreaches  float64            `json:"triage_sla_breaches"`
	LeakedByPayerClass map[string]float64 `json:"leaked_by_payer_class"`
	LeakedByReason     map[string]float64 `json:"leaked_by_reason"`
	TriageP90          *float64           `json:"time_to_triage_p90_seconds"`
	AppointmentP90     *float64           `json:"time_to_appointment_p90_seconds"`
	AuthP90            *float64           `json:"auth_turnaround_p90_seconds"`
	InfoP90            *float64           `json:"info_turnaround_p90_seconds"`
}

// checkStagesAreKPI: the triage SLA pair summed over service lines is the
// JSON's by_priority, over priorities its by_service_line; the leaked
// referrals by payer class and by reason are its totals'; each priority's
// histogram and the turnaround histograms (every line) put the JSON's exact
// p90 in the bucket where its cumulative count reaches the nearest rank
// ceil(0.9 n); the turnarounds' per-line quantiles are the JSON's p90.
func checkStagesAreKPI(t *testing.T, served testenv.Metrics, dsn string, asOf time.Time) {
	t.Helper()
	out, err := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--as-of", asOf.Format(time.RFC3339),
		"--window", "30d", "--format", "json").Output()
	if err != nil {
		t.Fatalf("referralops kpi: %v", err)
	}
	var doc struct {
		Totals        stageFields            `json:"totals"`
		ByServiceLine map[string]stageFields `json:"by_service_line"`
		ByPriority    map[string]stageFields `json:"by_priority"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	w := []string{metrics.LabelWindow, "30d"}
	equal := func(f metrics.Family, want float64, pairs ...string) {
		t.Helper()
		if got := served.Value(t, f.Name, append(pairs, w...)...); got != want {
			t.Errorf("%s%v = %v, kpi JSON says %v", f.Name, pairs, got, want)
		}
	}
	var breaches float64
	for p, pf := range doc.ByPriority {
		equal(metrics.TriageSLACohortReferrals, pf.TriageSLACohort, metrics.LabelPriority, p)
		equal(metrics.TriageSLABreachedReferrals, pf.TriageSLABreaches, metrics.LabelPriority, p)
		breaches += pf.TriageSLABreaches
		checkP90Bucket(t, served, metrics.TimeToTriageSeconds, pf.TriageP90, metrics.LabelPriority, p)
		checkP90Bucket(t, served, metrics.PriorityTimeToAppointmentSeconds, pf.AppointmentP90, metrics.LabelPriority, p)
	}
	var leaked float64
	for c, n := range doc.Totals.LeakedByPayerClass {
		equal(metrics.LeakedByPayerClassReferrals, n, metrics.LabelPayerClass, c)
		leaked += n
	}
	for r, n := range doc.Totals.LeakedByReason {
		equal(metrics.LeakedByReasonReferrals, n, metrics.LabelReason, r)
	}
	checkP90Bucket(t, served, metrics.AuthTurnaroundSeconds, doc.Totals.AuthP90)
	checkP90Bucket(t, served, metrics.InfoTurnaroundSeconds, doc.Totals.InfoP90)
	for line, lf := range doc.ByServiceLine {
		equal(metrics.TriageSLACohortReferrals, lf.TriageSLACohort, metrics.LabelServiceLine, line)
		equal(metrics.TriageSLABreachedReferrals, lf.TriageSLABreaches, metrics.LabelServiceLine, line)
		checkP90(t, served, metrics.AuthTurnaroundQuantileSeconds, lf.AuthP90, metrics.LabelServiceLine, line)
		checkP90(t, served, metrics.InfoTurnaroundQuantileSeconds, lf.InfoP90, metrics.LabelServiceLine, line)
	}
	if len(doc.ByPriority) != 3 || breaches == 0 || leaked == 0 {
		t.Errorf("kpi JSON %s: want three priorities, triage SLA breaches and leaked referrals", out)
	}
}

// checkP90: the summary series of f with labels pairs (window 30d) has the
// exact p90 want as its 0.9 quantile, or is absent when want is nil.
func checkP90(t *testing.T, served testenv.Metrics, f metrics.Family, want *float64, pairs ...string) {
	t.Helper()
	pairs = append(pairs, metrics.LabelWindow, "30d")
	var sum *dto.Summary
series:
	for _, m := range served[f.Name].GetMetric() {
		for i := 0; i+1 < len(pairs); i += 2 {
			if label(m, pairs[i]) != pairs[i+1] {
				continue series
			}
		}
		sum = m.GetSummary()
	}
	switch {
	case want == nil && sum != nil:
		t.Errorf("%s%v: a series, kpi JSON has no p90", f.Name, pairs)
	case want != nil && sum == nil:
		t.Errorf("%s%v: no series, kpi JSON p90 is %v", f.Name, pairs, *want)
	case want != nil:
		for _, q := range sum.GetQuantile() {
			if q.GetQuantile() == 0.9 && q.GetValue() != *want {
				t.Errorf("%s%v: p90 %v, kpi JSON says %v", f.Name, pairs, q.GetValue(), *want)
			}
		}
	}
}

// checkP90Bucket: the histogram series of f with labels pairs (window 30d)
// holds the exact p90 want (nil: an empty histogram) in its bucket: the
// smallest bound whose cumulative count reaches ceil(0.9 n).
func checkP90Bucket(t *testing.T, served testenv.Metrics, f metrics.Family, want *float64, pairs ...string) {
	t.Helper()
	pairs = append(pairs, metrics.LabelWindow, "30d")
	var h *dto.Histogram
series:
	for _, m := range served[f.Name].GetMetric() {
		for i := 0; i+1 < len(pairs); i += 2 {
			if label(m, pairs[i]) != pairs[i+1] {
				continue series
			}
		}
		h = m.GetHistogram()
	}
	if h == nil {
		t.Errorf("%s%v: no series", f.Name, pairs)
		return
	}
	n := h.GetSampleCount()
	if want == nil {
		if n != 0 {
			t.Errorf("%s%v: %d values, kpi JSON has no p90", f.Name, pairs, n)
		}
		return
	}
	rank := (9*n + 9) / 10 // ceil(0.9 n)
	lower := 0.0
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() >= rank {
			if *want <= lower || *want > b.GetUpperBound() {
				t.Errorf("%s%v: the nearest rank %d of %d falls in (%v, %v], kpi JSON p90 is %v", f.Name, pairs, rank, n, lower, b.GetUpperBound(), *want)
			}
			return
		}
		lower = b.GetUpperBound()
	}
	if *want <= lower {
		t.Errorf("%s%v: the nearest rank %d of %d is past the last bound %v, kpi JSON p90 is %v", f.Name, pairs, rank, n, lower, *want)
	}
}

// lineDiff lists the first lines only in want or only in got.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range w {
		if !slices.Contains(g, l) && len(out) < 10 {
			out = append(out, "- "+l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) && len(out) < 20 {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestBoundedLocations: a dataset with 40 locations is served with at most
// the top N + "other" location values, or the allow-list + "other", and
// every count still sums to the snapshot's totals.
func TestBoundedLocations(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset")
	}
	db := testenv.ClickHouse(t)
	cfg := fixedDataset()
	cfg.Referrals = 8000
	events := testenv.GenerateEvents(t, cfg)
	spreadLocations(events, 40)
	db.Load(t, events)
	source := metrics.ClickHouseSource(db.Querier(), db.Database)
	ctx := context.Background()
	s, err := source(ctx, kpi.Request{AsOf: goldenEnd, Breakdowns: metrics.Breakdowns})
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]bool{}
	for _, g := range s.Windows[1].Groups {
		if len(g.Labels) == 2 && g.Labels[1].Dimension == kpi.Location {
			all[g.Labels[1].Value] = true
		}
	}
	if len(all) != 40 {
		t.Fatalf("the dataset has %d locations in the 90-day window, want 40", len(all))
	}

	for _, tc := range []struct {
		name  string
		edit  func(*metrics.Config)
		check func(locations []string) bool
		want  string
	}{
		{"default top 5", nil, func(ls []string) bool {
			return len(ls) == metrics.DefaultLocationsTop+1 && slices.Contains(ls, metrics.OtherLocation)
		}, "the top 5 and other"},
		{"top 3", func(c *metrics.Config) { c.LocationsTop = 3 }, func(ls []string) bool { return len(ls) == 4 && slices.Contains(ls, metrics.OtherLocation) },
			"the top 3 and other"},
		{"allow-list", func(c *metrics.Config) { c.Locations = []string{"site-05", "site-17"} },
			func(ls []string) bool { return slices.Equal(ls, []string{metrics.OtherLocation, "site-05", "site-17"}) },
			"site-05, site-17 and other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := metrics.DefaultConfig()
			cfg.AsOf = goldenEnd
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			reg := prometheus.NewPedanticRegistry()
			e := metrics.NewExporter(cfg, kpi.DefaultConfig(), source, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
			if err := e.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			mfs := gather(t, e.Collector())
			for _, name := range []string{"referral_referrals", "referral_unscheduled_backlog_referrals"} {
				if ls := labelValues(mfs[name], metrics.LabelLocation); !tc.check(ls) {
					t.Errorf("%s locations %v, want %s", name, ls, tc.want)
				}
			}
			checkSums(t, s, mfs)
			series := 0
			for _, mf := range mfs {
				series += len(mf.GetMetric())
			}
			t.Logf("%d KPI label sets", series)
		})
	}
}

// TestExportOutage: while ClickHouse is stopped the exporter keeps serving the
// last snapshot and stays ready, refresh errors increase and the last success
// time stands still; once ClickHouse is back, refreshes succeed again.
func TestExportOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and stops a ClickHouse server")
	}
	step := testenv.Stopwatch(t)
	server := testenv.StartClickHouseServer(t)
	db := server.Database(t)
	cfg := fixedDataset()
	cfg.Referrals = 1000
	events := testenv.GenerateEvents(t, cfg)
	db.Load(t, events)
	p, base := testenv.StartExport(t, "", nil, "--clickhouse-dsn", db.ExporterDSN(), "--as-of", goldenEnd.Format(time.RFC3339),
		"--refresh-interval", "500ms", "--kpi-timeout", "5s")
	scrape := func() testenv.Metrics { return testenv.Scrape(t, base+"/metrics") }
	lastSuccess := func(m testenv.Metrics) float64 {
		return m.Value(t, "referralops_kpi_last_success_timestamp_seconds")
	}
	errorsTotal := func(m testenv.Metrics) float64 { return m.Value(t, "referralops_kpi_refresh_errors_total") }

	first := scrape()
	testenv.Eventually(t, 30*time.Second, func() bool { return lastSuccess(scrape()) > lastSuccess(first) },
		func() string { return "refreshes do not succeed on schedule" })
	healthy := kpiText(get(t, base+"/metrics"))
	step("serving, refreshing on schedule")

	server.Stop(t)
	step("ClickHouse stopped")
	stopped := errorsTotal(scrape())
	testenv.Eventually(t, 30*time.Second, func() bool { return errorsTotal(scrape()) >= stopped+1 },
		func() string { return "no refresh error while ClickHouse is stopped" })
	// From the first error on, no refresh can succeed until the restart.
	frozen := lastSuccess(scrape())
	testenv.Eventually(t, 30*time.Second, func() bool { return errorsTotal(scrape()) >= stopped+4 },
		func() string { return "refresh errors stopped increasing while ClickHouse is stopped" })
	during := scrape()
	if got := lastSuccess(during); got != frozen {
		t.Errorf("last success moved from %v to %v while ClickHouse was stopped", frozen, got)
	}
	if got := kpiText(get(t, base+"/metrics")); got != healthy {
		t.Errorf("the KPI metrics changed while ClickHouse was stopped:\n%s", lineDiff(healthy, got))
	}
	if code := testenv.HTTPStatus(base + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d while serving a stale snapshot, want 200", code)
	}
	t.Logf("%.0f refresh errors in %s of outage", errorsTotal(during)-stopped, server.SinceStop().Round(time.Millisecond))

	server.Start(t)
	step("ClickHouse started")
	testenv.Eventually(t, 60*time.Second, func() bool { return lastSuccess(scrape()) > frozen },
		func() string { return "refreshes did not recover after ClickHouse started again:\n" + p.Output() })
	step("recovered")
	if got := kpiText(get(t, base+"/metrics")); got != healthy {
		t.Errorf("the KPI metrics differ after recovery:\n%s", lineDiff(healthy, got))
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	out := p.Output()
	if !strings.Contains(out, "KPI refresh failed") || !strings.Contains(out, "KPI refresh recovered") {
		t.Errorf("the outage's start and end are not logged:\n%s", out)
	}
	checkNoIDs(t, out, identifiers(events))
	step("stopped")
}

// TestExportNotReadyBeforeFirstSnapshot: with ClickHouse unreachable the
// exporter starts, lives (/healthz 200), is not ready (/readyz 503, saying
// why), serves no KPI family and counts its failed refreshes; SIGTERM stops
// it cleanly.
func TestExportNotReadyBeforeFirstSnapshot(t *testing.T) {
	addr, nowhere := testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := testenv.Start(t, nil, "export", "--listen", addr, "--log-format", "json", "--refresh-interval", "200ms",
		"--clickhouse-dsn", "clickhouse://"+nowhere+"/referralops")
	base := "http://" + addr
	testenv.Eventually(t, 30*time.Second, func() bool {
		m, err := testenv.TryScrape(base + "/metrics")
		return err == nil && m.Sum("referralops_kpi_refresh_errors_total") >= 2
	}, func() string { return "no failed refreshes counted:\n" + p.Output() })
	if code := testenv.HTTPStatus(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	why, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(why), "no KPI snapshot yet") ||
		!strings.Contains(string(why), "connection refused") {
		t.Errorf("/readyz = %d %q, want 503 with the last error", resp.StatusCode, why)
	}
	m := testenv.Scrape(t, base+"/metrics")
	for name := range m {
		if strings.HasPrefix(name, "referral_") {
			t.Errorf("%s served before the first snapshot", name)
		}
	}
	if v := m.Value(t, "referralops_kpi_last_success_timestamp_seconds"); v != 0 {
		t.Errorf("last success %v before any", v)
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

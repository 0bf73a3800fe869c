package rules_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/selfmetrics"
)

func rulesDir() string { return filepath.Join(testenv.RepoRoot(), "deploy", "prometheus", "rules") }

func generate(t *testing.T, o rules.Options) []byte {
	t.Helper()
	b, err := rules.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parse reads a rules file the way Prometheus does: rulefmt (which also
// parses every expression and template) with the classic name rules, so
// Prometheus 2.x accepts the names.
func parse(t *testing.T, b []byte) *rulefmt.RuleGroups {
	t.Helper()
	rgs, errs := rulefmt.Parse(b, false, model.LegacyValidation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Error(err)
	}
	if rgs == nil {
		t.FailNow()
	}
	return rgs
}

// servedNames is every metric name the exporter and the ingester serve, plus
// up and the names the rules record.
func servedNames(t *testing.T, rgs *rulefmt.RuleGroups) map[string]bool {
	t.Helper()
	names := map[string]bool{"up": true}
	for _, f := range metrics.Catalog {
		names[f.Name] = true
		switch f.Type {
		case metrics.Histogram:
			names[f.Name+"_bucket"], names[f.Name+"_count"], names[f.Name+"_sum"] = true, true, true
		case metrics.Summary:
			names[f.Name+"_count"], names[f.Name+"_sum"] = true, true
		}
	}
	for _, m := range selfmetrics.Ingest {
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			names[m.Name+suffix] = true
		}
	}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names[r.Record] = true
			}
		}
	}
	return names
}

// selectedNames are the metric names an expression selects, in order.
func selectedNames(t *testing.T, expr string) []string {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			if vs.Name == "" {
				t.Errorf("%s: selector %s has no metric name", expr, vs)
			}
			names = append(names, vs.Name)
		}
		return nil
	})
	return names
}

// TestRulesUseServedMetrics: every rule parses, every name it selects is
// served by the exporter or the ingester (or is up, or recorded earlier in
// the same group, so no alert waits an evaluation for it), recorded names
// follow level:metric:operation, and every alert has its labels and
// annotations.
func TestRulesUseServedMetrics(t *testing.T) {
	rgs := parse(t, generate(t, rules.DefaultOptions()))
	served := servedNames(t, rgs)
	recorded := map[string]bool{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
		}
	}
	alerts := 0
	for _, g := range rgs.Groups {
		before := map[string]bool{}
		for _, r := range g.Rules {
			name := r.Record + r.Alert
			for _, n := range selectedNames(t, r.Expr) {
				switch {
				case !served[n]:
					t.Errorf("%s: selects %s, which neither the exporter nor the ingester serves", name, n)
				case recorded[n] && !before[n]:
					t.Errorf("%s: selects %s before group %s records it", name, n, g.Name)
				}
			}
			if r.Record != "" {
				before[r.Record] = true
				if parts := strings.Split(r.Record, ":"); len(parts) != 3 || slices.Contains(parts, "") {
					t.Errorf("recorded name %s is not level:metric:operation", r.Record)
				}
				continue
			}
			alerts++
			if !slices.Contains([]string{rules.SeverityWarning, rules.SeverityCritical}, r.Labels["severity"]) {
				t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
			}
			if !slices.Contains([]string{rules.CategoryAccess, rules.CategoryQuality, rules.CategoryPipeline}, r.Labels["category"]) {
				t.Errorf("%s: category %q", r.Alert, r.Labels["category"])
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			if want := rules.DefaultRunbookURL + "#" + rules.Anchor(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %s, want %s", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
	if alerts != 18 {
		t.Errorf("%d alerts, want 18", alerts)
	}
}

// TestEveryCatalogRatioIsRecorded: each numerator of the catalog has its
// ratio recorded by service line and overall, and the source ratio by source.
func TestEveryCatalogRatioIsRecorded(t *testing.T) {
	rgs := parse(t, generate(t, rules.DefaultOptions()))
	exprs := map[string]string{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				exprs[r.Record] = r.Expr
			}
		}
	}
	n := 0
	for _, f := range metrics.Catalog {
		if f.Ratio == nil {
			continue
		}
		n++
		den := f.Ratio.Denominator.Name
		r, ok := rules.RatioOf(f)
		if !ok {
			t.Errorf("no ratio for %s / %s", f.Name, den)
			continue
		}
		names := []string{r.ByServiceLine, r.Overall}
		if f.Kind == metrics.KindSource {
			names = append(names, r.BySource)
		}
		for _, rec := range names {
			e, ok := exprs[rec]
			switch {
			case !ok:
				t.Errorf("%s is not recorded", rec)
			case !slices.Equal(selectedNames(t, e), []string{f.Name, den}):
				t.Errorf("%s divides %v, want %s / %s", rec, selectedNames(t, e), f.Name, den)
			case !strings.Contains(e, den+") > 0)"):
				t.Errorf("%s does not guard against an empty denominator: %s", rec, e)
			}
		}
	}
	if n != len(rules.Ratios) || n < 9 {
		t.Errorf("%d catalog ratios, %d recorded ratios", n, len(rules.Ratios))
	}
	if r, _ := rules.RatioOf(metrics.LeakedReferrals); r.ByServiceLine != "service_line:referral_leakage:ratio" {
		t.Errorf("leakage by service line is recorded as %s", r.ByServiceLine)
	}
}

func alertsOf(rgs *rulefmt.RuleGroups) map[string]rulefmt.Rule {
	out := map[string]rulefmt.Rule{}
	for _, g := range rgs.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out[r.Alert] = r
			}
		}
	}
	return out
}

// TestForOverride: the option replaces every alert's for: and sets the group
// interval; without it each alert keeps its own.
func TestForOverride(t *testing.T) {
	def := alertsOf(parse(t, generate(t, rules.DefaultOptions())))
	if got := time.Duration(def[rules.AlertTimeToAppointmentAboveTarget].For); got != 30*time.Minute {
		t.Errorf("default for: of %s = %s, want 30m", rules.AlertTimeToAppointmentAboveTarget, got)
	}
	if got := time.Duration(def[rules.AlertExporterDown].For); got != 5*time.Minute {
		t.Errorf("default for: of %s = %s, want 5m", rules.AlertExporterDown, got)
	}
	o := rules.DefaultOptions()
	o.ForOverride, o.Interval = 2*time.Second, time.Second
	rgs := parse(t, generate(t, o))
	for name, r := range alertsOf(rgs) {
		if time.Duration(r.For) != 2*time.Second {
			t.Errorf("%s: for: %s, want the override 2s", name, time.Duration(r.For))
		}
	}
	for _, g := range rgs.Groups {
		if time.Duration(g.Interval) != time.Second {
			t.Errorf("group %s: interval %s, want 1s", g.Name, time.Duration(g.Interval))
		}
	}
}

// TestTargetsShapeRules: the targets and options end up in the expressions.
func TestTargetsShapeRules(t *testing.T) {
	o := rules.DefaultOptions()
	o.Targets.TimeToAppointmentP90 = map[string]time.Duration{"cardiology": 10 * 24 * time.Hour}
	o.Targets.DefaultTimeToAppointmentP90 = 20 * 24 * time.Hour
	o.Targets.UrgentTimeToAppointmentP90 = map[string]time.Duration{"dermatology": 5 * 24 * time.Hour}
	o.Targets.DefaultUrgentTimeToAppointmentP90 = 8 * 24 * time.Hour
	o.Targets.AuthTurnaroundP90BusinessDays = 5
	o.Targets.LeakageRateMax = 0.25
	o.Targets.BacklogOver7Days = 7
	o.Targets.CriticalReferrersWeeklyIncrease, o.Targets.CriticalReferrersWeeklyGrowth = 4, 1.25
	o.Window = kpi.Window(90 * 24 * time.Hour)
	o.MinDenominator = 5
	b := string(generate(t, o))
	for _, want := range []string{
		"expr: vector(864000)\n        labels:\n          service_line: cardiology\n",
		"expr: vector(432000)\n        labels:\n          service_line: dermatology\n",
		"{priority=\"urgent\", service_line!~`dermatology`})\n          * 691200\n",
		"(referral_auth_turnaround_quantile_seconds{quantile=\"0.9\", window=\"90d\"}) > 604800\n",
		"above the target of 5 business days (7 calendar days).",
		"service_line!~`cardiology`})\n          * 1728000\n",
		`service_line:referral_leakage:ratio{window="90d"} > 0.25`,
		`sum by (window, service_line) (referral_referrals{window="90d"}) >= 5`,
		"expr: service_line:referral_unscheduled_backlog_over_7d:sum > 7\n",
		"the target is at most 25%.",
		"max by (referrer_type) (referral_attention_referrers{level=\"critical\"})\n          >= 1.25 * max by (referrer_type) (referral_attention_referrers{level=\"critical\"} offset 1w)\n",
		"max by (referrer_type) (referral_attention_referrers{level=\"critical\"} offset 1w) >= 4\n",
		"(the alert needs 4 more and 1.25 times as many)",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("rules lack %q", want)
		}
	}
	if strings.Contains(b, "vector(5702400)") {
		t.Error("a default service line target survived targets that drop it")
	}
	// Without own targets every line with a p90 gets the default, no matcher.
	o.Targets.TimeToAppointmentP90, o.Targets.UrgentTimeToAppointmentP90 = nil, nil
	b = string(generate(t, o))
	if !strings.Contains(b, "group by (service_line) (referral_time_to_appointment_quantile_seconds)\n") || strings.Contains(b, "vector(") {
		t.Errorf("rules without own targets:\n%s", b)
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := rules.DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	o := rules.DefaultOptions()
	o.Targets.ClosedLoopRateMin = 2
	o.Window = 0
	o.MinDenominator = -1
	o.KPIStaleAfter = 0
	o.ForOverride = -time.Second
	o.RunbookURL = ""
	_, err := rules.Generate(o)
	if err == nil {
		t.Fatal("invalid options accepted")
	}
	for _, want := range []string{"targets: closed_loop_rate_min", "alert-window", "min-denominator", "kpi-stale-after", "for: must be >= 0", "runbook-url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

// TestWriteCreatesTheFile: Write creates the directory and the file.
func TestWriteCreatesTheFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path, err := rules.Write(dir, rules.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, rules.FileName) || !bytes.Equal(got, generate(t, rules.DefaultOptions())) {
		t.Errorf("Write wrote %s with other content than Generate", path)
	}
}

// TestRatioAlertsFollowTheCatalog: every catalog ratio that declares an alert
// gets it, with its name, category and words, firing on the side of its
// target the catalog says is bad, at the value of the options' targets; the
// ratios without one get none.
func TestRatioAlertsFollowTheCatalog(t *testing.T) {
	o := rules.DefaultOptions()
	o.Targets.ClosedLoopRateMin, o.Targets.NoShowRateMax = 0.61, 0.07
	alerts := alertsOf(parse(t, generate(t, o)))
	n := 0
	for _, r := range rules.Ratios {
		ratio := r.Numerator.Ratio
		if ratio.Alert == nil {
			for name, a := range alerts {
				if strings.Contains(a.Expr, r.ByServiceLine+"{") {
					t.Errorf("%s watches %s, whose catalog entry declares no alert", name, r.ByServiceLine)
				}
			}
			continue
		}
		n++
		a, ok := alerts[ratio.Alert.Name]
		if !ok {
			t.Errorf("no alert %s for %s", ratio.Alert.Name, r.Numerator.Name)
			continue
		}
		op := map[metrics.Direction]string{metrics.AboveIsBad: ">", metrics.BelowIsBad: "<"}[ratio.Target.Bad]
		want := fmt.Sprintf("%s{window=%q} %s %s\n", r.ByServiceLine, o.Window, op, strconv.FormatFloat(ratio.Target.Of(o.Targets), 'f', -1, 64))
		if !strings.HasPrefix(a.Expr, want) {
			t.Errorf("%s: expr %q, want it to start with %q", a.Alert, a.Expr, want)
		}
		if a.Labels["category"] != ratio.Alert.Category || !strings.Contains(a.Annotations["summary"], ratio.Alert.What) {
			t.Errorf("%s: category %q and summary %q, want %q and %q", a.Alert, a.Labels["category"], a.Annotations["summary"], ratio.Alert.Category, ratio.Alert.What)
		}
	}
	if n != 5 {
		t.Errorf("%d ratio alerts, want the catalog's 5", n)
	}
	for _, want := range []string{"closed-loop rate of {{ $labels.service_line }} over the last {{ $labels.window }} is {{ $value | humanizePercentage }}; the target is at least 61%.",
		"the target is at most 7%."} {
		found := false
		for _, a := range alerts {
			found = found || strings.Contains(a.Annotations["description"], want)
		}
		if !found {
			t.Errorf("no alert description says %q", want)
		}
	}
}

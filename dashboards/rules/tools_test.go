package rules_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/internal/testenv"
)

// tool finds a command-line tool (Debian's prometheus and
// prometheus-alertmanager packages); missing, it skips the test, or fails it
// under REFERRALOPS_REQUIRE_SERVERS=1.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if testenv.RequireServers() {
			t.Fatalf("%s is required (REFERRALOPS_REQUIRE_SERVERS=1) but not found: %v; apt-get install prometheus prometheus-alertmanager", name, err)
		}
		t.Skipf("%s not found (%v); apt-get install prometheus prometheus-alertmanager", name, err)
	}
	return path
}

func runTool(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPromtoolCheckRules: Prometheus's own checker accepts the committed
// rules and the variants the options make (short for:, group interval,
// other targets), with no lint warnings.
func TestPromtoolCheckRules(t *testing.T) {
	short := rules.DefaultOptions()
	short.ForOverride, short.Interval = time.Second, time.Second
	short.Targets.TimeToAppointmentP90 = nil
	dir := t.TempDir()
	path, err := rules.Write(dir, short)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{filepath.Join(rulesDir(), rules.FileName), path} {
		out, err := runTool(t, dir, "promtool", "check", "rules", file)
		if err != nil || !strings.Contains(out, "SUCCESS") || strings.Contains(strings.ToLower(out), "warn") {
			t.Errorf("promtool check rules %s: %v\n%s", file, err, out)
		}
	}
}

// TestPromtoolUnitTests runs the hand-written promtool unit tests under
// deploy/prometheus/rules/tests against the committed rules, after checking
// they test every alert both firing and not firing, with exact labels and
// annotations, and the values of recorded ratios.
func TestPromtoolUnitTests(t *testing.T) {
	dir := filepath.Join(rulesDir(), "tests")
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool test files in %s (%v)", dir, err)
	}
	type alertTest struct {
		Alertname string `yaml:"alertname"`
		ExpAlerts []struct {
			ExpLabels      map[string]string `yaml:"exp_labels"`
			ExpAnnotations map[string]string `yaml:"exp_annotations"`
		} `yaml:"exp_alerts"`
	}
	var suite struct {
		Tests []struct {
			AlertRuleTest   []alertTest `yaml:"alert_rule_test"`
			PromqlExprTests []struct {
				Expr string `yaml:"expr"`
			} `yaml:"promql_expr_test"`
		} `yaml:"tests"`
	}
	firing, silent, exprs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		suite.Tests = nil
		if err := yaml.Unmarshal(b, &suite); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range suite.Tests {
			for _, e := range tc.PromqlExprTests {
				exprs[e.Expr] = true
			}
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) == 0 {
					silent[a.Alertname] = true
				}
				for _, e := range a.ExpAlerts {
					firing[a.Alertname] = true
					for _, k := range []string{"severity", "category"} {
						if e.ExpLabels[k] == "" {
							t.Errorf("%s: a firing %s expects no %s label", filepath.Base(f), a.Alertname, k)
						}
					}
					for _, k := range []string{"summary", "description", "runbook_url"} {
						if e.ExpAnnotations[k] == "" {
							t.Errorf("%s: a firing %s expects no %s annotation", filepath.Base(f), a.Alertname, k)
						}
					}
				}
			}
		}
	}
	for name := range alertsOf(parse(t, generate(t, rules.DefaultOptions()))) {
		if !firing[name] || !silent[name] {
			t.Errorf("%s: tested firing %t, not firing %t; want both", name, firing[name], silent[name])
		}
	}
	ratios := 0
	for _, r := range rules.Ratios {
		if exprs[r.ByServiceLine] || exprs[r.Overall] {
			ratios++
		}
	}
	if ratios < 2 {
		t.Errorf("the promtool tests check %d recorded ratios, want at least 2", ratios)
	}

	args := []string{"test", "rules"}
	for _, f := range files {
		args = append(args, filepath.Base(f))
	}
	out, err := runTool(t, dir, "promtool", args...)
	if err != nil || strings.Contains(out, "FAILED") {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if n := strings.Count(out, "SUCCESS"); n != len(files) {
		t.Errorf("promtool reported %d successes for %d files:\n%s", n, len(files), out)
	}
}

// TestAlertmanagerConfig: amtool accepts deploy/alertmanager/alertmanager.yml
// and it routes every alert by its category: access to operations (grouped by
// service line), pipeline to platform, quality to service-lines.
func TestAlertmanagerConfig(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "deploy", "alertmanager")
	if out, err := runTool(t, dir, "amtool", "check-config", "alertmanager.yml"); err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	receiver := map[string]string{
		rules.CategoryAccess:   "operations",
		rules.CategoryQuality:  "service-lines",
		rules.CategoryPipeline: "platform",
	}
	for name, r := range alertsOf(parse(t, generate(t, rules.DefaultOptions()))) {
		want := receiver[r.Labels["category"]]
		out, err := runTool(t, dir, "amtool", "config", "routes", "test", "--config.file=alertmanager.yml",
			"--verify.receivers="+want, "alertname="+name, "category="+r.Labels["category"],
			"severity="+r.Labels["severity"], "service_line=cardiology")
		if err != nil {
			t.Errorf("%s (category %s) is not routed to %s: %v\n%s", name, r.Labels["category"], want, err, out)
		}
	}

	b, err := os.ReadFile(filepath.Join(dir, "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Route struct {
			Routes []struct {
				Receiver string   `yaml:"receiver"`
				GroupBy  []string `yaml:"group_by"`
			} `yaml:"routes"`
		} `yaml:"route"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	grouped := false
	for _, r := range cfg.Route.Routes {
		if r.Receiver == "operations" {
			grouped = slices.Equal(r.GroupBy, []string{"service_line"})
		}
	}
	if !grouped {
		t.Error("the operations route does not group by service_line")
	}
}

var heading = regexp.MustCompile(`^(#{2,3}) (.+)$`)

// TestRunbooks: docs/runbooks.md has a section per alert, at the anchor its
// runbook_url points to, saying what the alert means, what to check and what
// to do; and no section for an alert that does not exist.
func TestRunbooks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{} // anchor of a "## Alert" heading → its text
	var current string
	var body bytes.Buffer
	flush := func() {
		if current != "" {
			sections[current] = body.String()
		}
		body.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if m := heading.FindStringSubmatch(line); m != nil && m[1] == "##" {
			flush()
			current = ""
			if strings.HasPrefix(m[2], "Referral") {
				current = rules.Anchor(m[2])
			}
			continue
		}
		body.WriteString(line + "\n")
	}
	flush()

	alerts := alertsOf(parse(t, generate(t, rules.DefaultOptions())))
	for name, r := range alerts {
		_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
		text, ok := sections[anchor]
		if !ok {
			t.Errorf("%s: docs/runbooks.md has no section #%s", name, anchor)
			continue
		}
		for _, part := range []string{"**What it means.**", "**What to check.**", "**What to do.**"} {
			if !strings.Contains(text, part) {
				t.Errorf("%s: its runbook section lacks %s", name, part)
			}
		}
	}
	for anchor := range sections {
		found := false
		for name := range alerts {
			found = found || rules.Anchor(name) == anchor
		}
		if !found {
			t.Errorf("docs/runbooks.md has a section #%s for no alert", anchor)
		}
	}
}

// TestPrometheusConfig: the example deploy/prometheus/prometheus.yml is valid,
// loads the committed rules, and scrapes exactly the jobs the rules expect.
func TestPrometheusConfig(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "deploy", "prometheus")
	out, err := runTool(t, dir, "promtool", "check", "config", "prometheus.yml")
	if err != nil || !strings.Contains(out, "SUCCESS: 1 rule files found") || !strings.Contains(out, rules.FileName) {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var jobs []string
	for _, s := range cfg.ScrapeConfigs {
		jobs = append(jobs, s.JobName)
	}
	if want := []string{rules.JobIngest, rules.JobExport}; !slices.Equal(jobs, want) {
		t.Errorf("scrape jobs %v, want %v", jobs, want)
	}
}

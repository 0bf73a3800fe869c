package testenv

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The rule file of TestPrometheusRulesAlertsAndAlertmanager: a recording rule
// and an alert on the recorded series that fires for one of the two served
// service lines only.
const testRules = `groups:
  - name: testenv
    rules:
      - record: service_line:testenv_backlog:sum
        expr: sum by (service_line) (testenv_backlog)
      - alert: TestenvBacklogHigh
        expr: service_line:testenv_backlog:sum > 5
        for: 0s
        labels:
          severity: ticket
        annotations:
          summary: "backlog {{ $value }} in {{ $labels.service_line }}"
`

// TestPrometheusRulesAlertsAndAlertmanager runs the whole alerting path on the
// real servers: scrape → recording rule → alert → Alertmanager → webhook.
func TestPrometheusRulesAlertsAndAlertmanager(t *testing.T) {
	metrics := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE testenv_backlog gauge\n"+
			"testenv_backlog{service_line=\"cardiology\"} 7\n"+
			"testenv_backlog{service_line=\"dermatology\"} 2\n")
	}))
	t.Cleanup(metrics.Close)
	rules := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rules, []byte(testRules), 0o644); err != nil {
		t.Fatal(err)
	}

	hook := StartWebhookReceiver(t)
	am := StartAlertmanager(t, `route:
  receiver: hook
  group_by: [alertname, service_line]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: "`+hook.URL+`/alerts"
        send_resolved: false
`)
	prom := StartPrometheus(t, PrometheusConfig{
		ScrapeInterval:     time.Second,
		EvaluationInterval: time.Second,
		Jobs:               map[string][]string{"testenv": {strings.TrimPrefix(metrics.URL, "http://")}},
		RuleFiles:          []string{rules},
		AlertmanagerURL:    am.URL,
	})
	ctx := context.Background()

	prom.WaitTargetsUp(t, 30*time.Second)

	// The rules loaded from the file, and both evaluate without error.
	groups := prom.WaitRulesEvaluated(t, 30*time.Second)
	if len(groups) != 1 || groups[0].File != rules || len(groups[0].Rules) != 2 ||
		groups[0].Rules[0].Type != "recording" || groups[0].Rules[1].Type != "alerting" {
		t.Fatalf("rule groups = %+v, want the 2 rules of %s", groups, rules)
	}

	// The recorded series carries the served value, per service line.
	var recorded []Sample
	Eventually(t, 30*time.Second, func() bool {
		var err error
		recorded, err = prom.Query(ctx, "service_line:testenv_backlog:sum")
		return err == nil && len(recorded) == 2
	}, func() string { return fmt.Sprintf("recorded series: %+v", recorded) })
	got := map[string]float64{}
	for _, s := range recorded {
		if s.Labels["__name__"] != "service_line:testenv_backlog:sum" {
			t.Errorf("recorded series named %q", s.Labels["__name__"])
		}
		got[s.Labels["service_line"]] = s.Value
	}
	if got["cardiology"] != 7 || got["dermatology"] != 2 {
		t.Errorf("recorded values = %v, want cardiology 7, dermatology 2", got)
	}

	// The alert fires for cardiology (7 > 5) and not for dermatology (2).
	var alerts []Alert
	Eventually(t, 30*time.Second, func() bool {
		var err error
		alerts, err = prom.Alerts(ctx)
		return err == nil && len(alerts) > 0 && alerts[0].State == "firing"
	}, func() string { return fmt.Sprintf("Prometheus alerts: %+v", alerts) })
	if len(alerts) != 1 {
		t.Fatalf("alerts = %+v, want one (cardiology)", alerts)
	}
	a := alerts[0]
	if a.Labels["alertname"] != "TestenvBacklogHigh" || a.Labels["service_line"] != "cardiology" ||
		a.Labels["severity"] != "ticket" || a.Annotations["summary"] != "backlog 7 in cardiology" || a.Value != "7e+00" {
		t.Errorf("alert = %+v", a)
	}

	// Alertmanager delivers it to the webhook with the alert's labels.
	var delivered []WebhookAlert
	Eventually(t, 30*time.Second, func() bool {
		delivered = hook.Alerts()
		return len(delivered) > 0
	}, func() string {
		held, err := am.Alerts(ctx)
		return fmt.Sprintf("no webhook notification; Alertmanager holds %+v (%v)\n%s", held, err, promTail(am.Output(), 3000))
	})
	d := delivered[0]
	want := map[string]string{"alertname": "TestenvBacklogHigh", "service_line": "cardiology", "severity": "ticket"}
	for k, v := range want {
		if d.Labels[k] != v {
			t.Errorf("delivered label %s = %q, want %q (labels %v)", k, d.Labels[k], v, d.Labels)
		}
	}
	if d.Status != "firing" || d.Annotations["summary"] != "backlog 7 in cardiology" {
		t.Errorf("delivered alert = %+v", d)
	}
	for _, m := range hook.Messages() {
		if m.Receiver != "hook" {
			t.Errorf("message for receiver %q, want hook", m.Receiver)
		}
		for _, x := range m.Alerts {
			if x.Labels["service_line"] != "cardiology" {
				t.Errorf("delivered an alert for %v, which is below the threshold", x.Labels)
			}
		}
	}
}

// TestPrometheusQueryErrors: a bad expression is an error naming it, with
// Prometheus' reason; a scalar is one sample without labels.
func TestPrometheusQueryErrors(t *testing.T) {
	prom := StartPrometheus(t, PrometheusConfig{})
	ctx := context.Background()
	_, err := prom.Query(ctx, "sum(")
	if err == nil || !strings.Contains(err.Error(), `"sum("`) || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("Query(sum() error = %v, want bad_data naming the expression", err)
	}
	got, err := prom.Query(ctx, "1 + 2")
	if err != nil || len(got) != 1 || got[0].Value != 3 || len(got[0].Labels) != 0 {
		t.Errorf("Query(1 + 2) = %+v, %v; want one unlabelled sample 3", got, err)
	}
	if _, err := prom.Query(ctx, "up[1m]"); err == nil || !strings.Contains(err.Error(), "matrix") {
		t.Errorf("Query(up[1m]) error = %v, want: not an instant vector", err)
	}
}

// TestPrometheusBadRuleFile: a rule file Prometheus refuses is reported with
// Prometheus' own reason and the file's name, at start and on reload.
func TestPrometheusBadRuleFile(t *testing.T) {
	bad := "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: sum(\n"
	const reason = "unclosed left parenthesis"

	rules := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(rules, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := startPrometheus(t, PrometheusConfig{RuleFiles: []string{rules}})
	if err == nil || !strings.Contains(err.Error(), rules) || !strings.Contains(err.Error(), reason) {
		t.Errorf("start with a broken rule file: error = %v, want %q naming %s", err, reason, rules)
	}

	rules = filepath.Join(t.TempDir(), "later.yml")
	if err := os.WriteFile(rules, []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	prom := StartPrometheus(t, PrometheusConfig{RuleFiles: []string{rules}})
	if err := prom.Reload(context.Background()); err != nil {
		t.Fatalf("reload with a valid rule file: %v", err)
	}
	if err := os.WriteFile(rules, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	err = prom.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), rules) || !strings.Contains(err.Error(), reason) {
		t.Errorf("reload with a broken rule file: error = %v, want %q naming %s", err, reason, rules)
	}
}

// TestAlertmanagerBadReload: a configuration Alertmanager refuses on reload is
// reported with Alertmanager's own reason; a valid one reloads.
func TestAlertmanagerBadReload(t *testing.T) {
	am := StartAlertmanager(t, "route:\n  receiver: a\nreceivers:\n  - name: a\n")
	if err := am.Reload(context.Background()); err != nil {
		t.Fatalf("reload with a valid configuration: %v", err)
	}
	if err := os.WriteFile(am.ConfigFile, []byte("route:\n  receiver: nope\nreceivers:\n  - name: a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const reason = `undefined receiver \"nope\" used in route` // as logfmt quotes it
	err := am.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), "Loading configuration file failed") {
		t.Errorf("reload with a broken configuration: error = %v, want the logged line with %s", err, reason)
	}
}

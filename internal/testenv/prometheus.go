package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// PrometheusConfig is what a test's Prometheus scrapes, evaluates and alerts to.
type PrometheusConfig struct {
	ScrapeInterval     time.Duration       // default 1s
	EvaluationInterval time.Duration       // default 1s
	Jobs               map[string][]string // job name → host:port targets, scraped at /metrics
	RuleFiles          []string            // rule files or globs; relative paths are made absolute
	AlertmanagerURL    string              // e.g. (*Alertmanager).URL; empty: no alerting
	// Scrape secures every scrape: HTTPS and basic auth; nil: plain HTTP.
	Scrape *ScrapeSecurity
	// Backfill are OpenMetrics files (with timestamps) imported into the empty
	// storage before Prometheus starts, with `promtool tsdb create-blocks-from
	// openmetrics`: history for queries that look back, such as `offset 1w`.
	Backfill []string
}

// ScrapeSecurity is how Prometheus authenticates the targets (CAFile signs
// their certificates) and itself to them (basic auth).
type ScrapeSecurity struct {
	CAFile             string
	Username, Password string
}

// Prometheus is a real Prometheus server of the test's own, on a free loopback
// port with its storage in a temporary directory, stopped at cleanup.
type Prometheus struct {
	URL        string // http://127.0.0.1:port
	ConfigFile string // the rendered prometheus.yml
	srv        *promServer
	client     promv1.API // client_golang's HTTP API client
}

// Sample is one series of an instant vector.
type Sample struct {
	Labels map[string]string // with __name__ when the series has a name
	Value  float64
	Time   time.Time
}

// Alert is an alert as Prometheus (/api/v1/alerts) or Alertmanager
// (/api/v2/alerts) reports it.
type Alert struct {
	Labels      map[string]string
	Annotations map[string]string
	State       string // Prometheus: pending or firing; Alertmanager: active, suppressed or unprocessed
	ActiveAt    time.Time
	Value       string // Prometheus only: the expression's value when the alert last became active
}

// RuleGroup is one group of /api/v1/rules.
type RuleGroup struct {
	Name  string
	File  string
	Rules []Rule
}

// Rule is a recording or alerting rule as Prometheus last evaluated it.
type Rule struct {
	Type        string // "recording" or "alerting"
	Name        string // the recorded series or the alert name
	Query       string
	Health      string // "ok", "err" or "unknown" (not evaluated yet)
	LastError   string
	Labels      map[string]string
	Annotations map[string]string
	State       string  // alerting rules: inactive, pending or firing
	Alerts      []Alert // alerting rules: the rule's active alerts
}

// StartPrometheus starts Prometheus with cfg and waits until it is ready. It
// skips the test when the prometheus binary is missing (fails it under
// REFERRALOPS_REQUIRE_SERVERS=1). Rule files are loaded at start: a rule file
// Prometheus rejects fails the test with Prometheus' message.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	p, err := startPrometheus(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func startPrometheus(t testing.TB, cfg PrometheusConfig) (*Prometheus, error) {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		promUnavailable(t, "prometheus (Debian package prometheus)", err)
	}
	dir := t.TempDir()
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := writePrometheusConfig(configFile, cfg); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data")
	if len(cfg.Backfill) > 0 {
		promtool, err := exec.LookPath("promtool")
		if err != nil {
			promUnavailable(t, "promtool (Debian package prometheus)", err)
		}
		for _, f := range cfg.Backfill {
			out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", f, dataDir).CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("backfill %s: promtool tsdb create-blocks-from openmetrics: %w\n%s", f, err, promTail(string(out), 2000))
			}
		}
	}
	srv, err := startPromServer(t, "prometheus", dir, func(addr string) []string {
		return []string{bin,
			"--config.file=" + configFile,
			"--storage.tsdb.path=" + dataDir,
			"--web.listen-address=" + addr,
			"--web.enable-lifecycle",
		}
	})
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(api.Config{Address: srv.url})
	if err != nil {
		return nil, err
	}
	return &Prometheus{URL: srv.url, ConfigFile: configFile, srv: srv, client: promv1.NewAPI(client)}, nil
}

func writePrometheusConfig(path string, cfg PrometheusConfig) error {
	scrape := promOr(cfg.ScrapeInterval, time.Second)
	type staticConfig struct {
		Targets []string `yaml:"targets"`
	}
	type tlsConfig struct {
		CAFile string `yaml:"ca_file"`
	}
	type basicAuth struct {
		Username string `yaml:"username"`
		Password string `yaml:"password"`
	}
	type scrapeConfig struct {
		JobName       string         `yaml:"job_name"`
		Scheme        string         `yaml:"scheme,omitempty"`
		TLSConfig     *tlsConfig     `yaml:"tls_config,omitempty"`
		BasicAuth     *basicAuth     `yaml:"basic_auth,omitempty"`
		StaticConfigs []staticConfig `yaml:"static_configs"`
	}
	type alertmanagerConfig struct {
		Scheme        string         `yaml:"scheme"`
		PathPrefix    string         `yaml:"path_prefix,omitempty"`
		StaticConfigs []staticConfig `yaml:"static_configs"`
	}
	type alerting struct {
		Alertmanagers []alertmanagerConfig `yaml:"alertmanagers"`
	}
	var doc struct {
		Global struct {
			ScrapeInterval     string `yaml:"scrape_interval"`
			ScrapeTimeout      string `yaml:"scrape_timeout"`
			EvaluationInterval string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		RuleFiles     []string       `yaml:"rule_files,omitempty"`
		Alerting      *alerting      `yaml:"alerting,omitempty"`
		ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
	}
	doc.Global.ScrapeInterval = promDuration(scrape)
	doc.Global.ScrapeTimeout = promDuration(min(scrape, 10*time.Second))
	doc.Global.EvaluationInterval = promDuration(promOr(cfg.EvaluationInterval, time.Second))
	for _, f := range cfg.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("rule file %s: %w", f, err)
		}
		doc.RuleFiles = append(doc.RuleFiles, abs)
	}
	if cfg.AlertmanagerURL != "" {
		u, err := url.Parse(cfg.AlertmanagerURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("Alertmanager URL %q is not an absolute URL", cfg.AlertmanagerURL)
		}
		doc.Alerting = &alerting{Alertmanagers: []alertmanagerConfig{{
			Scheme: u.Scheme, PathPrefix: u.Path, StaticConfigs: []staticConfig{{Targets: []string{u.Host}}},
		}}}
	}
	jobs := make([]string, 0, len(cfg.Jobs))
	for job := range cfg.Jobs {
		jobs = append(jobs, job)
	}
	sort.Strings(jobs)
	for _, job := range jobs {
		sc := scrapeConfig{JobName: job, StaticConfigs: []staticConfig{{Targets: cfg.Jobs[job]}}}
		if s := cfg.Scrape; s != nil {
			sc.Scheme = "https"
			sc.TLSConfig = &tlsConfig{CAFile: s.CAFile}
			sc.BasicAuth = &basicAuth{Username: s.Username, Password: s.Password}
		}
		doc.ScrapeConfigs = append(doc.ScrapeConfigs, sc)
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// promDuration formats d the way Prometheus' config accepts (no "1m0s").
func promDuration(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

func promOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// promAPITimeout bounds one API call, so a hung server fails the poll that
// made it instead of hanging the test binary.
const promAPITimeout = 10 * time.Second

// Query evaluates expr as an instant query now. A scalar result is one sample
// without labels; a range vector or string result is an error.
func (p *Prometheus) Query(ctx context.Context, expr string) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, promAPITimeout)
	defer cancel()
	v, _, _, err := p.client.Query(ctx, expr, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	switch v := v.(type) {
	case model.Vector:
		out := make([]Sample, 0, len(v))
		for _, s := range v {
			out = append(out, Sample{Labels: labelMap(model.LabelSet(s.Metric)), Value: float64(s.Value), Time: s.Timestamp.Time()})
		}
		return out, nil
	case *model.Scalar:
		return []Sample{{Labels: map[string]string{}, Value: float64(v.Value), Time: v.Timestamp.Time()}}, nil
	}
	return nil, fmt.Errorf("query %q: the result is a %s, not an instant vector", expr, v.Type())
}

func labelMap(ls model.LabelSet) map[string]string {
	out := make(map[string]string, len(ls))
	for k, v := range ls {
		out[string(k)] = string(v)
	}
	return out
}

// Target is one active scrape target of /api/v1/targets.
type Target struct {
	Job       string
	URL       string
	Health    string // "up", "down" or "unknown" (not scraped yet)
	LastError string
}

// Targets lists the active scrape targets.
func (p *Prometheus) Targets(ctx context.Context) ([]Target, error) {
	ctx, cancel := context.WithTimeout(ctx, promAPITimeout)
	defer cancel()
	res, err := p.client.Targets(ctx)
	if err != nil {
		return nil, fmt.Errorf("targets: %w", err)
	}
	out := make([]Target, 0, len(res.Active))
	for _, a := range res.Active {
		out = append(out, Target{Job: a.ScrapePool, URL: a.ScrapeURL, Health: string(a.Health), LastError: a.LastError})
	}
	return out, nil
}

// WaitTargetsUp waits until every configured target has been scraped
// successfully, failing the test with each target's last error at the deadline.
func (p *Prometheus) WaitTargetsUp(t testing.TB, timeout time.Duration) {
	t.Helper()
	var last string
	Eventually(t, timeout, func() bool {
		targets, err := p.Targets(context.Background())
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%+v", targets)
		if len(targets) == 0 {
			return false
		}
		for _, tg := range targets {
			if tg.Health != "up" {
				return false
			}
		}
		return true
	}, func() string { return "Prometheus targets not all up: " + last + p.srv.output() })
}

// Alerts lists Prometheus' pending and firing alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	ctx, cancel := context.WithTimeout(ctx, promAPITimeout)
	defer cancel()
	res, err := p.client.Alerts(ctx)
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	out := make([]Alert, 0, len(res.Alerts))
	for _, a := range res.Alerts {
		out = append(out, promAlert(a))
	}
	return out, nil
}

func promAlert(a promv1.Alert) Alert {
	return Alert{Labels: labelMap(a.Labels), Annotations: labelMap(a.Annotations), State: string(a.State), ActiveAt: a.ActiveAt, Value: a.Value}
}

// Rules lists the loaded rule groups with each rule's last evaluation.
func (p *Prometheus) Rules(ctx context.Context) ([]RuleGroup, error) {
	ctx, cancel := context.WithTimeout(ctx, promAPITimeout)
	defer cancel()
	res, err := p.client.Rules(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	out := make([]RuleGroup, 0, len(res.Groups))
	for _, g := range res.Groups {
		group := RuleGroup{Name: g.Name, File: g.File}
		for _, r := range g.Rules {
			var rule Rule
			switch r := r.(type) {
			case promv1.RecordingRule:
				rule = Rule{Type: string(promv1.RuleTypeRecording), Name: r.Name, Query: r.Query, Health: string(r.Health),
					LastError: r.LastError, Labels: labelMap(r.Labels)}
			case promv1.AlertingRule:
				rule = Rule{Type: string(promv1.RuleTypeAlerting), Name: r.Name, Query: r.Query, Health: string(r.Health),
					LastError: r.LastError, Labels: labelMap(r.Labels), Annotations: labelMap(r.Annotations), State: r.State}
				for _, a := range r.Alerts {
					rule.Alerts = append(rule.Alerts, promAlert(*a))
				}
			default:
				return nil, fmt.Errorf("rules: group %s: a rule of type %T", g.Name, r)
			}
			group.Rules = append(group.Rules, rule)
		}
		out = append(out, group)
	}
	return out, nil
}

// WaitRulesEvaluated waits until every loaded rule has been evaluated at least
// once, and fails the test if any rule's evaluation failed (health "err"), with
// the rule's query and error. It fails when no rule is loaded.
func (p *Prometheus) WaitRulesEvaluated(t testing.TB, timeout time.Duration) []RuleGroup {
	t.Helper()
	var groups []RuleGroup
	var last string
	Eventually(t, timeout, func() bool {
		var err error
		if groups, err = p.Rules(context.Background()); err != nil {
			last = err.Error()
			return false
		}
		n := 0
		for _, g := range groups {
			for _, r := range g.Rules {
				n++
				if r.Health == "unknown" || r.Health == "" {
					last = fmt.Sprintf("rule %s (group %s) not evaluated yet", r.Name, g.Name)
					return false
				}
			}
		}
		last = "no rules loaded"
		return n > 0
	}, func() string { return last + p.srv.output() })
	var failed []string
	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Health != "ok" {
				failed = append(failed, fmt.Sprintf("%s %s (group %s, %s): %s\n  query: %s", r.Type, r.Name, g.Name, g.File, r.LastError, r.Query))
			}
		}
	}
	if len(failed) > 0 {
		t.Fatalf("rules failed to evaluate:\n%s", strings.Join(failed, "\n"))
	}
	return groups
}

// Reload makes Prometheus re-read its config and rule files (POST /-/reload).
// A refused reload is an error with Prometheus' logged reason (e.g. a rule
// file's parse error); Prometheus keeps the previous rules then.
func (p *Prometheus) Reload(ctx context.Context) error { return p.srv.reload(ctx) }

// Alertmanager is a real Alertmanager of the test's own, on a free loopback
// port with gossip off, stopped at cleanup.
type Alertmanager struct {
	URL        string // http://127.0.0.1:port, for PrometheusConfig.AlertmanagerURL
	ConfigFile string // the configuration it loaded; rewrite it and Reload
	srv        *promServer
}

// StartAlertmanager starts an Alertmanager with configYAML and waits until it
// is ready. It skips the test when neither prometheus-alertmanager (Debian)
// nor alertmanager is on PATH (fails it under REFERRALOPS_REQUIRE_SERVERS=1).
func StartAlertmanager(t testing.TB, configYAML string) *Alertmanager {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			promUnavailable(t, "prometheus-alertmanager or alertmanager (Debian package prometheus-alertmanager)", err)
		}
	}
	dir := t.TempDir()
	configFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(configFile, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, err := startPromServer(t, "alertmanager", dir, func(addr string) []string {
		return []string{bin,
			"--config.file=" + configFile,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--cluster.listen-address=", // no gossip: a single instance, and no port 9094
			"--log.level=debug",         // logs each notification attempt
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Alertmanager{URL: srv.url, ConfigFile: configFile, srv: srv}
}

// Alerts lists the alerts Alertmanager holds (/api/v2/alerts).
func (a *Alertmanager) Alerts(ctx context.Context) ([]Alert, error) {
	var alerts []struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		StartsAt    time.Time         `json:"startsAt"`
		Status      struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if err := promGetJSON(ctx, a.URL+"/api/v2/alerts", &alerts); err != nil {
		return nil, fmt.Errorf("alertmanager alerts: %w", err)
	}
	out := make([]Alert, 0, len(alerts))
	for _, x := range alerts {
		out = append(out, Alert{Labels: x.Labels, Annotations: x.Annotations, State: x.Status.State, ActiveAt: x.StartsAt})
	}
	return out, nil
}

// Reload makes Alertmanager re-read its config (POST /-/reload).
func (a *Alertmanager) Reload(ctx context.Context) error { return a.srv.reload(ctx) }

// Output is what the process logged so far.
func (a *Alertmanager) Output() string { return a.srv.buf.String() }

// Output is what the process logged so far.
func (p *Prometheus) Output() string { return p.srv.buf.String() }

// WebhookReceiver collects the notifications an Alertmanager webhook_config
// posts to URL.
type WebhookReceiver struct {
	URL string

	mu       sync.Mutex
	messages []WebhookMessage
}

// WebhookMessage is Alertmanager's webhook payload (version 4).
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"` // firing or resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// StartWebhookReceiver starts a receiver on a loopback port, closed at cleanup.
// A body that is not a webhook payload fails the test.
func StartWebhookReceiver(t testing.TB) *WebhookReceiver {
	t.Helper()
	w := &WebhookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook receiver: %s %s: not an Alertmanager payload: %v", r.Method, r.URL, err)
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.messages = append(w.messages, m)
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	w.URL = srv.URL
	return w
}

// Messages returns the notifications received so far.
func (w *WebhookReceiver) Messages() []WebhookMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]WebhookMessage(nil), w.messages...)
}

// Alerts returns every alert of every notification received so far.
func (w *WebhookReceiver) Alerts() []WebhookAlert {
	var out []WebhookAlert
	for _, m := range w.Messages() {
		out = append(out, m.Alerts...)
	}
	return out
}

// promServer is a Prometheus or Alertmanager child process; its output is kept in
// memory and printed when the test fails.
type promServer struct {
	name string
	url  string
	cmd  *exec.Cmd
	buf  *promBuffer
	done chan struct{}
}

// startPromServer runs args(addr) on a free loopback address and waits for
// /-/ready. A port taken between FreeAddr and the bind is retried.
func startPromServer(t testing.TB, name, dir string, args func(addr string) []string) (*promServer, error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := tryStartPromServer(t, name, dir, args(FreeAddr(t)))
		if err == nil {
			return s, nil
		}
		if attempt < 3 && strings.Contains(s.buf.String(), "address already in use") {
			continue
		}
		return nil, err
	}
}

func tryStartPromServer(t testing.TB, name, dir string, args []string) (*promServer, error) {
	t.Helper()
	addr := ""
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--web.listen-address="); ok {
			addr = v
		}
	}
	s := &promServer{name: name, url: "http://" + addr, buf: &promBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Dir = dir // nothing lands in the package directory
	s.cmd.Stdout, s.cmd.Stderr = s.buf, s.buf
	if err := s.cmd.Start(); err != nil {
		return s, fmt.Errorf("start %s: %w", args[0], err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("output of %s:\n%s", strings.Join(args, " "), promTail(s.buf.String(), 8000))
		}
	})
	// Startup on a loaded machine: generous, and cut short if the process dies.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			return s, fmt.Errorf("%s exited during startup (%s):\n%s", name, s.cmd.ProcessState, promErrors(s.buf.String()))
		default:
		}
		if HTTPStatus(s.url+"/-/ready") == http.StatusOK {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return s, fmt.Errorf("%s did not answer %s/-/ready within 60s", name, s.url)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, then SIGKILL if the process has not exited after 10s.
func (s *promServer) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// output is the tail of the process' log, for failure messages.
func (s *promServer) output() string {
	return fmt.Sprintf("\n%s output (tail):\n%s", s.name, promTail(s.buf.String(), 4000))
}

type promBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *promBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *promBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// promGetJSON decodes the body of GET u into v, for Alertmanager's v2 API
// (client_golang covers Prometheus' v1 API only); a status other than 200 is
// an error with the body.
func promGetJSON(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, promAPITimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, promTail(string(body), 500))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// reload posts /-/reload; the reply to a refused reload is generic, so the
// error carries the error lines the server logged about it. The server logs
// them before it replies, but the log reaches the buffer through a pipe
// copied by another goroutine, so the reply can arrive first: the error waits
// (with a deadline) for the line the server logs last on a refused reload.
func (s *promServer) reload(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/-/reload", nil)
	if err != nil {
		return err
	}
	logged := len(s.buf.String())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload %s: %w", s.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("reload %s: %s: %s\n%s", s.name, resp.Status, strings.TrimSpace(string(body)),
			s.reloadErrors(logged, 10*time.Second))
	}
	return nil
}

// reloadFailed is the message each server logs last when it refuses a reload
// (Prometheus: main.go after every reloader's own error line; Alertmanager:
// the coordinator's only line).
var reloadFailed = map[string]string{
	"prometheus":   `msg="Error reloading config"`,
	"alertmanager": `msg="Loading configuration file failed"`,
}

// reloadErrors waits up to timeout for the complete reloadFailed line logged
// after offset since, then returns the error lines since; at the deadline or
// when the process has exited, what promErrors makes of the log since.
func (s *promServer) reloadErrors(since int, timeout time.Duration) string {
	last := reloadFailed[s.name]
	deadline := time.Now().Add(timeout)
	for {
		out := s.buf.String()[since:]
		for line := range strings.Lines(out) {
			if strings.HasSuffix(line, "\n") && strings.Contains(line, last) {
				return promErrors(out)
			}
		}
		select {
		case <-s.done:
			return promErrors(s.buf.String()[since:])
		default:
		}
		if time.Now().After(deadline) {
			return promErrors(out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// promErrors picks the error lines of a Prometheus or Alertmanager log (the
// last lines when there are none).
func promErrors(out string) string {
	var errs []string
	for line := range strings.Lines(out) {
		if strings.Contains(line, "level=error") || strings.Contains(line, "level=fatal") {
			errs = append(errs, line)
		}
	}
	if len(errs) == 0 {
		return promTail(out, 1500)
	}
	return strings.Join(errs, "")
}

func promUnavailable(t testing.TB, what string, err error) {
	t.Helper()
	if RequireServers() {
		t.Fatalf("%s is required (REFERRALOPS_REQUIRE_SERVERS=1) but missing: %v; run `deploy/local/prometheus.sh install`", what, err)
	}
	t.Skipf("%s missing (%v); run `deploy/local/prometheus.sh install`, or set REFERRALOPS_REQUIRE_SERVERS=1 to fail instead", what, err)
}

func promTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

package deploytest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/schema"
)

func report(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		t.Error(err)
	}
}

// TestComposeStartsWithoutEnv: every variable but Grafana's admin password
// has a default, so `docker compose up` needs only that in .env; without it
// compose fails with a message saying where to set it. .env.example lists
// every variable the compose file reads.
func TestComposeStartsWithoutEnv(t *testing.T) {
	cf := loadCompose(t, nil)
	if cf.Name != "referralops" {
		t.Errorf("project name %q, want referralops", cf.Name)
	}
	text := readRepoFile(t, composePath)
	_, err := parseCompose(text, map[string]string{})
	if err == nil || !strings.Contains(err.Error(), "variable GRAFANA_ADMIN_PASSWORD is required: set GRAFANA_ADMIN_PASSWORD in .env (see .env.example)") {
		t.Errorf("without .env: %v, want an error requiring GRAFANA_ADMIN_PASSWORD", err)
	}
	if _, err := parseCompose(text, map[string]string{"GRAFANA_ADMIN_PASSWORD": ""}); err == nil {
		t.Error("an empty GRAFANA_ADMIN_PASSWORD was accepted")
	}
	example := map[string]bool{}
	for _, line := range strings.Split(readRepoFile(t, ".env.example"), "\n") {
		if name, _, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			example[name] = true
		}
	}
	for _, name := range composeVars(text) {
		if !example[name] {
			t.Errorf(".env.example does not list %s, which %s reads", name, composePath)
		}
		delete(example, name)
	}
	for name := range example {
		t.Errorf(".env.example lists %s, which %s does not read", name, composePath)
	}
}

// checkComposeImages: every service's image is pinned to a version, except
// the referralops services, which build the repository's Dockerfile under a
// local name that is not latest.
func checkComposeImages(cf *composeFile) []error {
	var errs []error
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if s.Build != nil {
			if s.Build.Context != "." || (s.Build.Dockerfile != "" && s.Build.Dockerfile != "Dockerfile") {
				errs = append(errs, fmt.Errorf("service %s: builds %s/%s, want the repository's Dockerfile", name, s.Build.Context, s.Build.Dockerfile))
			}
			if _, tag, _ := imageRef(s.Image); s.Image == "" || tag == "" || tag == "latest" {
				errs = append(errs, fmt.Errorf("service %s: the built image needs a name with a tag other than latest, got %q", name, s.Image))
			}
			continue
		}
		if err := checkPinned(s.Image); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
		}
	}
	return errs
}

func TestComposeImagesPinned(t *testing.T) {
	cf := loadCompose(t, nil)
	report(t, checkComposeImages(cf))
	var built []string
	for name, s := range cf.Services {
		if s.Build != nil {
			built = append(built, name)
		}
	}
	slices.Sort(built)
	if want := []string{"access", "export", "generator", "ingest", "migrate", "report"}; !slices.Equal(built, want) {
		t.Errorf("services built from the Dockerfile: %v, want %v", built, want)
	}
}

// checkComposeHealth: a long-running service has a health check; a one-shot
// (restart: "no") is waited for with service_completed_successfully, a
// long-running one with service_healthy. An opt-in service (in a profile)
// that nothing depends on and that publishes nothing, the report writer, has
// no readiness for anyone to wait on.
func checkComposeHealth(cf *composeFile) []error {
	var errs []error
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if s.oneShot() {
			continue
		}
		if s.Restart == "" {
			errs = append(errs, fmt.Errorf("service %s: no restart policy (one-shots say \"no\")", name))
		}
		if len(s.Profiles) > 0 && len(s.Ports) == 0 && !cf.dependedOn(name) {
			continue
		}
		hc := s.Healthcheck
		if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
			errs = append(errs, fmt.Errorf("service %s: long-running without a health check", name))
		} else if hc.Test[0] != "CMD" && hc.Test[0] != "CMD-SHELL" {
			errs = append(errs, fmt.Errorf("service %s: health check test %v must start with CMD or CMD-SHELL", name, hc.Test))
		}
	}
	for _, name := range sortedKeys(cf.Services) {
		for dep, cond := range cf.Services[name].DependsOn {
			d, ok := cf.Services[dep]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("service %s depends on %s, which does not exist", name, dep))
			case d.oneShot() && cond != "service_completed_successfully":
				errs = append(errs, fmt.Errorf("service %s: depends on the one-shot %s with %s, want service_completed_successfully", name, dep, cond))
			case !d.oneShot() && cond != "service_healthy":
				errs = append(errs, fmt.Errorf("service %s: depends on %s with %s, want service_healthy", name, dep, cond))
			}
		}
	}
	return errs
}

func TestComposeHealthChecks(t *testing.T) {
	cf := loadCompose(t, nil)
	report(t, checkComposeHealth(cf))
	var oneShots []string
	for name, s := range cf.Services {
		if s.oneShot() {
			oneShots = append(oneShots, name)
		}
	}
	slices.Sort(oneShots)
	if want := []string{"access", "generator", "kafka-topics", "migrate"}; !slices.Equal(oneShots, want) {
		t.Errorf("one-shot services %v, want %v", oneShots, want)
	}
	// The referralops health checks run the probe the Dockerfile builds
	// against the service's own --listen port.
	bin, err := dockerfileBinaries(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ingest", "export"} {
		s := cf.Services[name]
		if s == nil || s.Healthcheck == nil {
			t.Errorf("service %s: no health check", name)
			continue
		}
		test := s.Healthcheck.Test
		if len(test) != 3 || test[0] != "CMD" || !bin[test[1]] {
			t.Errorf("service %s: health check %v, want [CMD <a binary of the image> URL]; the image has %v", name, test, sortedKeys(bin))
			continue
		}
		listen := composeListen(s, name)
		_, port, _ := net.SplitHostPort(listen)
		if u, err := url.Parse(test[2]); err != nil || u.Port() != port || u.Path != "/readyz" {
			t.Errorf("service %s: health check URL %s, want /readyz on its --listen %q", name, test[2], listen)
		}
	}
}

// checkComposePorts: a published port is bound to the loopback interface,
// and no service shares the host's network.
func checkComposePorts(cf *composeFile) []error {
	var errs []error
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if s.NetworkMode == "host" {
			errs = append(errs, fmt.Errorf("service %s: network_mode host listens on every interface", name))
		}
		for _, p := range s.Ports {
			var hostIP string
			if p.Kind == yaml.ScalarNode {
				spec, _, _ := strings.Cut(p.Value, "/")
				if strings.HasPrefix(spec, "[") { // [::1]:9090:9090
					end := strings.Index(spec, "]")
					if end > 0 && strings.Count(spec[end+1:], ":") == 2 {
						hostIP = spec[1:end]
					}
				} else if parts := strings.Split(spec, ":"); len(parts) == 3 {
					hostIP = parts[0]
				}
				if hostIP == "" {
					errs = append(errs, fmt.Errorf("service %s: port %q is published on every interface; write 127.0.0.1:%s", name, p.Value, spec))
					continue
				}
			} else {
				var long struct {
					HostIP    string `yaml:"host_ip"`
					Published any    `yaml:"published"`
				}
				if err := p.Decode(&long); err != nil {
					errs = append(errs, fmt.Errorf("service %s: port: %w", name, err))
					continue
				}
				hostIP = long.HostIP
			}
			if ip := net.ParseIP(hostIP); ip == nil || !ip.IsLoopback() {
				errs = append(errs, fmt.Errorf("service %s: port published on %q, want 127.0.0.1", name, hostIP))
			}
		}
	}
	return errs
}

func TestComposePortsLocalhostOnly(t *testing.T) {
	cf := loadCompose(t, nil)
	report(t, checkComposePorts(cf))
	published := 0
	for _, s := range cf.Services {
		published += len(s.Ports)
	}
	if published < 5 { // grafana, prometheus, alertmanager, export, clickhouse, kafka
		t.Errorf("only %d ports published; the stack is meant to be reachable from the host", published)
	}
}

// checkComposeVolumes: data lives in declared named volumes; bind mounts
// are read-only and name files of the repository.
func checkComposeVolumes(cf *composeFile, root string) []error {
	var errs []error
	used := map[string]bool{}
	for _, name := range sortedKeys(cf.Services) {
		ms, err := cf.Services[name].mounts()
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w", name, err))
			continue
		}
		for _, m := range ms {
			switch m.Type {
			case "volume":
				used[m.Source] = true
				if _, ok := cf.Volumes[m.Source]; !ok {
					errs = append(errs, fmt.Errorf("service %s: volume %q is not declared under volumes (anonymous or misspelt)", name, m.Source))
				}
			case "bind":
				if !strings.HasPrefix(m.Source, "./") {
					errs = append(errs, fmt.Errorf("service %s: bind mount %s is outside the repository", name, m.Source))
				} else if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(m.Source))); err != nil {
					errs = append(errs, fmt.Errorf("service %s: bind mount: %w", name, err))
				}
				if !m.ReadOnly {
					errs = append(errs, fmt.Errorf("service %s: bind mount %s is writable; mount configuration :ro", name, m.Source))
				}
			default:
				errs = append(errs, fmt.Errorf("service %s: mount type %q", name, m.Type))
			}
		}
	}
	for v := range cf.Volumes {
		if !used[v] {
			errs = append(errs, fmt.Errorf("volume %s is declared but no service mounts it", v))
		}
	}
	return errs
}

func TestComposeVolumes(t *testing.T) {
	cf := loadCompose(t, nil)
	report(t, checkComposeVolumes(cf, testenv.RepoRoot()))
	for _, name := range []string{"clickhouse", "kafka", "prometheus", "alertmanager", "grafana"} {
		ms, _ := cf.Services[name].mounts()
		named := false
		for _, m := range ms {
			named = named || m.Type == "volume"
		}
		if !named {
			t.Errorf("service %s keeps its data in no named volume", name)
		}
	}
}

// TestComposeReferralopsFlags: every referralops service's command and
// REFERRALOPS_* variables are flags of its command, with values the binary
// accepts.
func TestComposeReferralopsFlags(t *testing.T) {
	c := referralops(t)
	cf := loadCompose(t, nil)
	n := 0
	for _, name := range sortedKeys(cf.Services) {
		s := cf.Services[name]
		if !s.isReferralops() {
			continue
		}
		n++
		report(t, c.check(s.invocation(name)))
		// The image runs as non-root with a read-only root: nothing of
		// referralops writes to its filesystem.
		if !s.ReadOnly {
			t.Errorf("service %s: read_only is not set", name)
		}
		if s.User == "0" || strings.HasPrefix(s.User, "root") || strings.HasPrefix(s.User, "0:") {
			t.Errorf("service %s runs as root", name)
		}
	}
	if n != 6 {
		t.Errorf("%d referralops services, want 6 (migrate, access, ingest, export, generator, report)", n)
	}
}

// TestComposeDeadLetterRetention: the topics one-shot creates the dead-letter
// topic, which holds raw messages (PHI), with a retention of 7 days unless
// .env sets DLQ_RETENTION_MS.
func TestComposeDeadLetterRetention(t *testing.T) {
	topics := loadCompose(t, nil).Services["kafka-topics"]
	if topics == nil {
		t.Fatal("no kafka-topics service")
	}
	env := topics.Environment
	if want := broker.DefaultConfig().Topics.DeadLetters; env["DLQ_TOPIC"] != want || !slices.Contains(strings.Fields(env["TOPICS"]), want) {
		t.Errorf("kafka-topics: DLQ_TOPIC=%q TOPICS=%q, want %s in both", env["DLQ_TOPIC"], env["TOPICS"], want)
	}
	if ms, err := strconv.ParseInt(env["DLQ_RETENTION_MS"], 10, 64); err != nil || ms != (7*24*time.Hour).Milliseconds() {
		t.Errorf("kafka-topics: DLQ_RETENTION_MS=%q, want 7 days by default", env["DLQ_RETENTION_MS"])
	}
	script, err := topics.hostPath(topics.Entrypoint[len(topics.Entrypoint)-1])
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), script)); err != nil || !strings.Contains(string(b), "retention.ms=$DLQ_RETENTION_MS") {
		t.Errorf("kafka-topics: %s does not create the dead-letter topic with retention.ms=$DLQ_RETENTION_MS (%v)", script, err)
	}
}

// TestComposeWiring: the settings that must agree between services do.
// Variables are given values naming them, so equal values mean one source.
func TestComposeWiring(t *testing.T) {
	cf := loadCompose(t, identityEnv(t))
	svc := func(name string) *composeService {
		t.Helper()
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		return s
	}
	dsn := func(name string) (user, password, host string) {
		t.Helper()
		v, ok := flagValue(svc(name).invocation(name), "clickhouse-dsn")
		if !ok {
			t.Fatalf("service %s sets no ClickHouse DSN", name)
		}
		if err := (clickhouse.Config{DSN: v, RetentionDays: 1}).Validate(); err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		u, err := url.Parse(v)
		if err != nil {
			t.Fatal(err)
		}
		if db := strings.TrimPrefix(u.Path, "/"); db != clickhouse.DefaultDatabase {
			t.Errorf("service %s: database %q, want %q (the provisioned Grafana datasource reads it)", name, db, clickhouse.DefaultDatabase)
		}
		p, _ := u.User.Password()
		return u.User.Username(), p, u.Hostname()
	}

	// ClickHouse: the admin user of the image's entrypoint only runs
	// `access`, which creates the users the others run as: the migrator
	// migrates, the writer ingests, the exporter reads.
	ch := svc("clickhouse").Environment
	if ch["CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"] != "1" {
		t.Error("clickhouse: CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT is not 1; `referralops access` cannot create users")
	}
	if user, pw, host := dsn("access"); user != ch["CLICKHOUSE_USER"] || pw != ch["CLICKHOUSE_PASSWORD"] || host != "clickhouse" {
		t.Errorf("service access: DSN user %q password %q host %q, want the clickhouse service's admin %q / %q",
			user, pw, host, ch["CLICKHOUSE_USER"], ch["CLICKHOUSE_PASSWORD"])
	}
	access := svc("access").invocation("access")
	exporterPW, _ := flagValue(access, "exporter-password")
	grafanaPW, _ := flagValue(access, "grafana-password")
	analystPW, _ := flagValue(access, "analyst-password")
	writerPW, _ := flagValue(access, "writer-password")
	migratorPW, _ := flagValue(access, "migrator-password")
	if exporterPW == "" || grafanaPW == "" || analystPW == "" || writerPW == "" || migratorPW == "" {
		t.Errorf("access: passwords exporter %q grafana %q analyst %q writer %q migrator %q; all are required", exporterPW, grafanaPW, analystPW, writerPW, migratorPW)
	}
	for _, u := range []struct{ service, user, password string }{
		{"migrate", schema.MigratorUser, migratorPW}, {"ingest", schema.WriterUser, writerPW},
	} {
		if user, pw, host := dsn(u.service); user != u.user || pw != u.password || host != "clickhouse" {
			t.Errorf("%s: DSN user %q password %q host %q, want %s with access's password %q", u.service, user, pw, host, u.user, u.password)
		}
	}
	if user, pw, host := dsn("export"); user != schema.ExporterUser || pw != exporterPW || host != "clickhouse" {
		t.Errorf("export: DSN user %q password %q host %q, want %s with access's exporter password %q", user, pw, host, schema.ExporterUser, exporterPW)
	}
	if got := svc("grafana").Environment[dashboards.ClickHousePasswordEnv]; got != grafanaPW {
		t.Errorf("grafana: %s=%q, want access's grafana password %q", dashboards.ClickHousePasswordEnv, got, grafanaPW)
	}

	// Kafka: the referralops services reach the broker on a listener it
	// advertises; the topics one-shot creates exactly the default topics.
	advertised := svc("kafka").Environment["KAFKA_ADVERTISED_LISTENERS"]
	for _, name := range []string{"ingest", "generator"} {
		brokers, ok := flagValue(svc(name).invocation(name), "kafka-brokers")
		if !ok {
			t.Errorf("service %s sets no --kafka-brokers (the default 127.0.0.1:9092 is itself inside a container)", name)
			continue
		}
		for _, b := range strings.Split(brokers, ",") {
			if !strings.Contains(advertised, "//"+b) {
				t.Errorf("service %s: broker %s is not an advertised listener of kafka (%s)", name, b, advertised)
			}
		}
	}
	topics := svc("kafka-topics").Environment
	want := broker.DefaultConfig().Topics
	wantTopics := append(want.Inputs(), want.DeadLetters)
	if got := strings.Fields(topics["TOPICS"]); !slices.Equal(got, wantTopics) {
		t.Errorf("kafka-topics creates %v, want %v", got, wantTopics)
	}
	if !strings.Contains(advertised, "//"+topics["BOOTSTRAP"]) {
		t.Errorf("kafka-topics bootstraps from %s, not an advertised listener (%s)", topics["BOOTSTRAP"], advertised)
	}
	if auto := svc("kafka").Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; auto != "false" {
		t.Errorf("kafka: auto-creation %q; a misspelt topic must fail, not appear", auto)
	}
	if p, err := strconv.Atoi(topics["PARTITIONS"]); err != nil || p < 2 {
		t.Errorf("kafka-topics: PARTITIONS=%q; the ingest replicas need partitions to share", topics["PARTITIONS"])
	}
	script, err := svc("kafka-topics").hostPath(svc("kafka-topics").Entrypoint[len(svc("kafka-topics").Entrypoint)-1])
	if err != nil || script == "" {
		t.Errorf("kafka-topics: its script is not mounted from the repository (%v)", err)
	}

	// Ingest is scaled out in one consumer group.
	ingest := svc("ingest")
	if r := ingest.Deploy.Replicas; r == nil || *r < 2 {
		t.Error("ingest: want deploy.replicas >= 2 (replicas share the consumer group)")
	}
	if g, ok := flagValue(ingest.invocation("ingest"), "group"); !ok || g == "" {
		t.Error("ingest: no explicit --group")
	}
}

// checkComposeReport: the report service is opt-in (profile report), writes
// one report a week (--every 168h) into a named volume mounted writable at
// --out, which the image creates owned by its runtime user (a new named
// volume takes the owner of the image's directory), and reads ClickHouse as
// the analyst user with the password access gives it.
func checkComposeReport(cf *composeFile, dockerfile string) []error {
	s, ok := cf.Services["report"]
	if !ok {
		return []error{fmt.Errorf("no service report")}
	}
	var errs []error
	inv := s.invocation("report")
	if !slices.Equal(s.Profiles, []string{"report"}) {
		errs = append(errs, fmt.Errorf("service report: profiles %v, want [report] (opt-in)", s.Profiles))
	}
	if inv.args[0] != "report" {
		errs = append(errs, fmt.Errorf("service report runs %q", inv.args[0]))
	}
	if every, _ := flagValue(inv, "every"); every != "168h" {
		errs = append(errs, fmt.Errorf("service report: --every %q, want 168h", every))
	}
	out, ok := flagValue(inv, "out")
	if !ok {
		out = "reports" // relative to the image's working directory, /, read-only
	}
	ms, err := s.mounts()
	if err != nil {
		return append(errs, err)
	}
	if !slices.ContainsFunc(ms, func(m mount) bool { return m.Type == "volume" && path.Clean(m.Target) == out && !m.ReadOnly }) {
		errs = append(errs, fmt.Errorf("service report: --out %s is not a writable named volume", out))
	}
	stages, err := parseDockerfile(dockerfile)
	if err != nil {
		return append(errs, err)
	}
	final := stages[len(stages)-1].Instructions
	user, owned := "", false
	for _, in := range final {
		if in.Cmd == "USER" {
			user = in.Args
		}
	}
	for _, in := range final {
		f := strings.Fields(in.Args)
		owned = owned || in.Cmd == "COPY" && f[len(f)-1] == out && slices.Contains(f, "--chown="+user)
	}
	if !owned {
		errs = append(errs, fmt.Errorf("the image has no %s owned by its USER %q: the report cannot write into a new volume there", out, user))
	}
	v, _ := flagValue(inv, "clickhouse-dsn")
	u, err := url.Parse(v)
	if err != nil {
		return append(errs, fmt.Errorf("service report: DSN: %w", err))
	}
	analystPW, _ := flagValue(cf.Services["access"].invocation("access"), "analyst-password")
	if pw, _ := u.User.Password(); u.User.Username() != schema.AnalystUser || pw != analystPW || u.Hostname() != "clickhouse" {
		errs = append(errs, fmt.Errorf("service report: DSN user %q password %q host %q, want %s with access's analyst password %q",
			u.User.Username(), pw, u.Hostname(), schema.AnalystUser, analystPW))
	}
	return errs
}

func TestComposeReport(t *testing.T) {
	cf, dockerfile := loadCompose(t, identityEnv(t)), readRepoFile(t, "Dockerfile")
	report(t, checkComposeReport(cf, dockerfile))
	// A directory the image leaves to root is caught.
	rootOwned := strings.Replace(dockerfile, "--chown=65532:65532 /out/reports /reports", "/out/reports /reports", 1)
	if rootOwned == dockerfile {
		t.Fatal("the Dockerfile no longer creates /reports as the test expects")
	}
	wantError(t, checkComposeReport(cf, rootOwned), "the image has no /reports owned by its USER")
}

// composePrometheus reads the Prometheus config the compose prometheus
// service mounts.
type promConfig struct {
	RuleFiles []string `yaml:"rule_files"`
	Alerting  struct {
		Alertmanagers []struct {
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"alertmanagers"`
	} `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// TestComposePrometheus: compose's Prometheus loads the committed generated
// rules (the file `referralops rules` writes, mounted as is), scrapes every
// referralops service under the job names the rules expect on the port it
// listens on, alerts to the compose Alertmanager, and promtool accepts the
// config with the rules in place.
func TestComposePrometheus(t *testing.T) {
	root := testenv.RepoRoot()
	cf := loadCompose(t, nil)
	prom := cf.Services["prometheus"]
	if prom == nil {
		t.Fatal("no prometheus service")
	}
	configPath := "/etc/prometheus/prometheus.yml"
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configPath = v
		}
	}
	hostConfig, err := prom.hostPath(configPath)
	if err != nil || hostConfig == "" {
		t.Fatalf("prometheus: %s is not mounted from the repository (%v)", configPath, err)
	}
	b, err := os.ReadFile(filepath.Join(root, hostConfig))
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", hostConfig, err)
	}

	// The rules: resolved as Prometheus does (relative to the config file)
	// inside the container, then back to the repository through the mounts.
	committed := filepath.Join("deploy", "prometheus", "rules", rules.FileName)
	tmp := t.TempDir()
	if len(cfg.RuleFiles) != 1 {
		t.Errorf("%s: rule_files %v, want exactly the generated file", hostConfig, cfg.RuleFiles)
	}
	for _, rf := range cfg.RuleFiles {
		inContainer := rf
		if !path.IsAbs(rf) {
			inContainer = path.Join(path.Dir(configPath), rf)
		}
		host, err := prom.hostPath(inContainer)
		if err != nil || filepath.Clean(host) != committed {
			t.Errorf("prometheus: rule file %s is %q on the host, want the committed %s", rf, host, committed)
			continue
		}
		if !path.IsAbs(rf) { // lay it out beside the config for promtool
			copyFile(t, filepath.Join(root, host), filepath.Join(tmp, filepath.FromSlash(rf)))
		}
	}
	generated, err := rules.Generate(rules.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if onDisk, err := os.ReadFile(filepath.Join(root, committed)); err != nil || string(onDisk) != string(generated) {
		t.Errorf("%s is not what `referralops rules` generates now (%v); regenerate it", committed, err)
	}

	// Jobs and targets.
	listen := map[string]string{} // service → --listen port
	for _, name := range []string{"ingest", "export"} {
		_, listen[name], _ = net.SplitHostPort(composeListen(cf.Services[name], name))
	}
	wantJob := map[string]string{rules.JobIngest: "ingest", rules.JobExport: "export"}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
		svcName, ok := wantJob[sc.JobName]
		if !ok {
			continue
		}
		var targets []string
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				targets = append(targets, net.JoinHostPort(n, strconv.Itoa(d.Port)))
			}
		}
		if len(targets) == 0 {
			t.Errorf("job %s has no targets", sc.JobName)
		}
		for _, tg := range targets {
			if host, port, _ := net.SplitHostPort(tg); host != svcName || port != listen[svcName] {
				t.Errorf("job %s scrapes %s, want service %s on its --listen port %s", sc.JobName, tg, svcName, listen[svcName])
			}
		}
	}
	slices.Sort(jobs)
	if want := []string{rules.JobExport, rules.JobIngest}; !slices.Equal(jobs, want) {
		t.Errorf("scrape jobs %v, want %v (the rules' job names)", jobs, want)
	}
	var am []string
	for _, a := range cfg.Alerting.Alertmanagers {
		for _, s := range a.StaticConfigs {
			am = append(am, s.Targets...)
		}
	}
	if !slices.Equal(am, []string{"alertmanager:9093"}) {
		t.Errorf("alerting targets %v, want [alertmanager:9093]", am)
	}
	amCfg, err := cf.Services["alertmanager"].hostPath("/etc/alertmanager/alertmanager.yml")
	if err != nil || filepath.Clean(amCfg) != filepath.Join("deploy", "alertmanager", "alertmanager.yml") {
		t.Errorf("alertmanager mounts %q, want the committed deploy/alertmanager/alertmanager.yml (%v)", amCfg, err)
	}

	copyFile(t, filepath.Join(root, hostConfig), filepath.Join(tmp, path.Base(configPath)))
	out, err := runTool(t, tmp, "promtool", "check", "config", path.Base(configPath))
	if err != nil || !strings.Contains(out, "SUCCESS: 1 rule files found") || !strings.Contains(out, rules.FileName) {
		t.Errorf("promtool check config: %v\n%s", err, out)
	}
}

// TestComposeGrafana: Grafana gets the committed provisioning and dashboards
// where the provisioning says they are, reaches the compose services it
// names, has the pinned ClickHouse plugin, and opens on a dashboard.
func TestComposeGrafana(t *testing.T) {
	root := testenv.RepoRoot()
	cf := loadCompose(t, nil)
	g := cf.Services["grafana"]
	if g == nil {
		t.Fatal("no grafana service")
	}
	if g.Environment["GF_AUTH_ANONYMOUS_ENABLED"] != "false" {
		t.Errorf("grafana: GF_AUTH_ANONYMOUS_ENABLED=%q, want false: dashboards show referral ids", g.Environment["GF_AUTH_ANONYMOUS_ENABLED"])
	}
	if p := g.Environment["GF_SECURITY_ADMIN_PASSWORD"]; p != requiredEnv["GRAFANA_ADMIN_PASSWORD"] {
		t.Errorf("grafana: admin password %q, want GRAFANA_ADMIN_PASSWORD from .env", p)
	}
	provDir := filepath.Join("deploy", "grafana", "provisioning")
	for _, f := range []string{dashboards.DatasourcesFile, dashboards.ProviderFile} {
		host, err := g.hostPath("/etc/grafana/provisioning/" + f)
		if err != nil || filepath.Clean(host) != filepath.Join(provDir, filepath.FromSlash(f)) {
			t.Errorf("grafana: /etc/grafana/provisioning/%s is %q, want %s (%v)", f, host, filepath.Join(provDir, f), err)
		}
	}
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(root, provDir, filepath.FromSlash(dashboards.ProviderFile)), &provider)
	if len(provider.Providers) != 1 {
		t.Fatalf("dashboard providers: %d, want 1", len(provider.Providers))
	}
	dashPath := provider.Providers[0].Options.Path
	host, err := g.hostPath(dashPath + "/x.json")
	if err != nil || filepath.Dir(filepath.Clean(host)) != filepath.Join("deploy", "grafana", "dashboards") {
		t.Errorf("grafana: the provider's %s is %q on the host, want deploy/grafana/dashboards (%v)", dashPath, filepath.Dir(host), err)
	}
	home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if hp, err := g.hostPath(home); err != nil || hp == "" {
		t.Errorf("grafana: home dashboard %q is not a mounted file (%v)", home, err)
	} else if _, err := os.Stat(filepath.Join(root, hp)); err != nil {
		t.Errorf("grafana: home dashboard: %v", err)
	}

	var ds struct {
		Datasources []struct {
			Type     string         `yaml:"type"`
			URL      string         `yaml:"url"`
			JSONData map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(root, provDir, filepath.FromSlash(dashboards.DatasourcesFile)), &ds)
	for _, d := range ds.Datasources {
		var hostName string
		switch d.Type {
		case "prometheus":
			u, err := url.Parse(d.URL)
			if err != nil {
				t.Fatal(err)
			}
			hostName = u.Hostname()
		case dashboards.ClickHousePluginID:
			hostName, _ = d.JSONData["host"].(string)
			if u, _ := d.JSONData["username"].(string); u != schema.GrafanaUser {
				t.Errorf("ClickHouse datasource user %q, want %s (created by access)", u, schema.GrafanaUser)
			}
		default:
			continue
		}
		if _, ok := cf.Services[hostName]; !ok {
			t.Errorf("datasource %s reaches %q, which is no compose service", d.Type, hostName)
		}
	}

	plugins := g.Environment["GF_PLUGINS_PREINSTALL_SYNC"] + "," + g.Environment["GF_PLUGINS_PREINSTALL"]
	wantMajor, _, _ := strings.Cut(dashboards.ClickHousePluginVersion, ".")
	found := false
	for _, p := range strings.Split(plugins, ",") {
		id, version, _ := strings.Cut(strings.TrimSpace(p), "@")
		if id != dashboards.ClickHousePluginID {
			continue
		}
		found = true
		major, _, _ := strings.Cut(version, ".")
		if !pinnedTag.MatchString(version) || major != wantMajor {
			t.Errorf("grafana: %s@%q, want a full %s.x.y version (the dashboards are written for %s)", id, version, wantMajor, dashboards.ClickHousePluginVersion)
		}
	}
	if !found {
		t.Errorf("grafana installs no %s (GF_PLUGINS_PREINSTALL_SYNC)", dashboards.ClickHousePluginID)
	}
}

// defaultListen is each server command's default --listen.
var defaultListen = map[string]string{"ingest": ingest.DefaultConfig().Listen, "export": metrics.DefaultConfig().Listen}

// composeListen is the address the referralops service listens on.
func composeListen(s *composeService, name string) string {
	if v, ok := flagValue(s.invocation(name), "listen"); ok {
		return v
	}
	if len(s.Command) > 0 {
		return defaultListen[s.Command[0]]
	}
	return ""
}

func readYAML(t *testing.T, file string, into any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runTool runs a command-line tool of Debian's prometheus packages; missing,
// the test is skipped, or fails under REFERRALOPS_REQUIRE_SERVERS=1.
func runTool(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if testenv.RequireServers() {
			t.Fatalf("%s is required (REFERRALOPS_REQUIRE_SERVERS=1) but not found: %v", name, err)
		}
		t.Skipf("%s not found (%v); set REFERRALOPS_REQUIRE_SERVERS=1 to fail instead", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

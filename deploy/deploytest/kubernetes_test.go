package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/config"
	"github.com/referralops/referralops/internal/generated"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

const namespace = "referralops"

// TestKubernetesManifests: every file parses as Kubernetes objects in the
// referralops namespace, the kustomization lists exactly these files, and
// kubectl's kustomize renders all of their objects.
func TestKubernetesManifests(t *testing.T) {
	m := loadManifests(t)
	seen := map[string]bool{}
	for _, o := range m.objects {
		key := o.Kind + "/" + o.Metadata.Name
		if seen[key] {
			t.Errorf("%s is defined twice", o)
		}
		seen[key] = true
		if o.Kind == "Namespace" {
			if o.Metadata.Name != namespace {
				t.Errorf("%s: want namespace %s", o, namespace)
			}
			continue
		}
		if o.Metadata.Namespace != namespace {
			t.Errorf("%s: namespace %q, want %s", o, o.Metadata.Namespace, namespace)
		}
	}
	for _, kind := range []string{"Deployment", "Service", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Job", "CronJob", "PersistentVolumeClaim"} {
		if len(m.byKind(kind)) == 0 {
			t.Errorf("no %s", kind)
		}
	}

	var kust struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	dir := filepath.Join(testenv.RepoRoot(), filepath.FromSlash(k8sDir))
	readYAML(t, filepath.Join(dir, "kustomization.yaml"), &kust)
	res := slices.Clone(kust.Resources)
	slices.Sort(res)
	if !slices.Equal(res, m.files) || kust.Namespace != namespace {
		t.Errorf("kustomization: namespace %q resources %v, want %s and the directory's files %v", kust.Namespace, res, namespace, m.files)
	}

	t.Run("kustomize", func(t *testing.T) {
		// kubectl comes with the machine image (google-cloud-sdk), not from a
		// registry these machines reach, so its absence skips this render
		// even under REFERRALOPS_REQUIRE_SERVERS=1; the checks above parse
		// every file the kustomization lists on their own.
		if _, err := exec.LookPath("kubectl"); err != nil {
			t.Skipf("kubectl not installed (%v): kustomize render not checked", err)
		}
		out, err := runTool(t, dir, "kubectl", "kustomize", ".")
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, firstLines(out, 20))
		}
		rendered, err := parseObjects("kubectl kustomize", []byte(out))
		if err != nil {
			t.Fatal(err)
		}
		if len(rendered) != len(m.objects) {
			t.Errorf("kustomize rendered %d objects, the files hold %d", len(rendered), len(m.objects))
		}
	})
}

// checkK8sImages: every container's image is pinned.
func checkK8sImages(m *manifests) []error {
	ws, err := m.workloads()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range ws {
		for _, c := range append(slices.Clone(w.spec.Template.Spec.InitContainers), w.spec.Template.Spec.Containers...) {
			if err := checkPinned(c.Image); err != nil {
				errs = append(errs, fmt.Errorf("%s container %s: %w", w.obj, c.Name, err))
			}
		}
	}
	return errs
}

// checkK8sHardened: pods run as non-root; every container has a read-only
// root filesystem, no privilege escalation, no capabilities, and CPU and
// memory requests and limits.
func checkK8sHardened(m *manifests) []error {
	ws, err := m.workloads()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, w := range ws {
		ps := w.spec.Template.Spec
		podNonRoot := ps.SecurityContext != nil && ps.SecurityContext.RunAsNonRoot != nil && *ps.SecurityContext.RunAsNonRoot
		podUID := int64(-1)
		if ps.SecurityContext != nil && ps.SecurityContext.RunAsUser != nil {
			podUID = *ps.SecurityContext.RunAsUser
		}
		for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
			fail := func(format string, args ...any) {
				errs = append(errs, fmt.Errorf("%s container %s: %s", w.obj, c.Name, fmt.Sprintf(format, args...)))
			}
			sc := c.SecurityContext
			nonRoot, uid := podNonRoot, podUID
			if sc != nil && sc.RunAsNonRoot != nil {
				nonRoot = *sc.RunAsNonRoot
			}
			if sc != nil && sc.RunAsUser != nil {
				uid = *sc.RunAsUser
			}
			if !nonRoot || uid == 0 {
				fail("may run as root (runAsNonRoot %v, runAsUser %d)", nonRoot, uid)
			}
			switch {
			case sc == nil:
				fail("no securityContext")
			default:
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					fail("root filesystem is writable (readOnlyRootFilesystem)")
				}
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					fail("allowPrivilegeEscalation is not false")
				}
				if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
					fail("capabilities are not dropped (drop: [ALL])")
				}
			}
			for _, r := range []string{"cpu", "memory"} {
				req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
				if req == "" || (r == "memory" && lim == "") {
					fail("no %s request and limit", r)
					continue
				}
				rq, err1 := quantity(req)
				lq, err2 := quantity(lim)
				if err1 != nil || (lim != "" && (err2 != nil || lq < rq)) {
					fail("%s request %q and limit %q", r, req, lim)
				}
			}
		}
	}
	return errs
}

func TestKubernetesHardened(t *testing.T) {
	m := loadManifests(t)
	report(t, checkK8sImages(m))
	report(t, checkK8sHardened(m))
}

// k8sInvocation is a referralops container with everything it is given.
type k8sInvocation struct {
	w    workload
	c    container
	inv  invocation
	file map[string]map[string]any // the --config file's sections, nil if none
	raw  string                    // the --config file
}

// setting is what the container's command uses for a setting: its flag or
// variable, else the config file's section.key, else def.
func (k k8sInvocation) setting(flag, section, key, def string) string {
	if v, ok := flagValue(k.inv, flag); ok {
		return v
	}
	if v, ok := k.file[section][key]; ok {
		return fmt.Sprint(v)
	}
	return def
}

// clickHouseUser is the user of the container's ClickHouse DSN.
func (k k8sInvocation) clickHouseUser() string {
	dsn := k.setting("clickhouse-dsn", "clickhouse", "dsn", "")
	return strings.SplitN(strings.TrimPrefix(dsn, "clickhouse://"), ":", 2)[0]
}

// referralopsContainers lists the containers of the referralops image with
// their invocation, the config file they read resolved from its ConfigMap.
func referralopsContainers(m *manifests) ([]k8sInvocation, []error) {
	ws, err := m.workloads()
	if err != nil {
		return nil, []error{err}
	}
	var out []k8sInvocation
	var errs []error
	for _, w := range ws {
		ps := w.spec.Template.Spec
		for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
			if !isReferralopsImage(c.Image) {
				continue
			}
			where := fmt.Sprintf("%s container %s", w.obj, c.Name)
			if len(c.Command) > 0 {
				errs = append(errs, fmt.Errorf("%s: command overrides the image's referralops entrypoint; give args", where))
				continue
			}
			env, err := m.environment(c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
			k := k8sInvocation{w: w, c: c, inv: invocation{where: where, args: c.Args, env: env}}
			if p, ok := flagValue(k.inv, config.FileFlag); ok {
				raw, err := m.mountedFile(ps, c, p)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: --config: %w", where, err))
				} else if err := yaml.Unmarshal([]byte(raw), &k.file); err != nil {
					errs = append(errs, fmt.Errorf("%s: --config %s: %w", where, p, err))
				}
				k.raw = raw
			}
			out = append(out, k)
		}
	}
	return out, errs
}

// TestKubernetesReferralopsFlags: every referralops container's args and
// REFERRALOPS_* variables are flags of its command with values the binary
// accepts, and its ClickHouse DSN, once the kubelet expanded it, is valid.
func TestKubernetesReferralopsFlags(t *testing.T) {
	c := referralops(t)
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	var cmds []string
	for _, k := range ks {
		report(t, c.check(k.inv))
		cmds = append(cmds, k.inv.args[0])
		dsn := k.setting("clickhouse-dsn", "clickhouse", "dsn", "")
		if err := (clickhouse.Config{DSN: dsn, RetentionDays: 1}).Validate(); err != nil {
			t.Errorf("%s: ClickHouse DSN %q: %v", k.inv.where, dsn, err)
		}
	}
	slices.Sort(cmds)
	if want := []string{"access", "export", "ingest", "migrate", "prune", "report"}; !slices.Equal(cmds, want) {
		t.Errorf("referralops commands run: %v, want %v", cmds, want)
	}
}

// TestKubernetesConfigFile: the YAML file of referralops-config is one the
// binary loads (unknown keys are an error there) and each of its sections
// is valid for the package that owns it.
func TestKubernetesConfigFile(t *testing.T) {
	c := referralops(t)
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	checked := map[string]bool{}
	for _, k := range ks {
		if k.raw == "" {
			t.Errorf("%s reads no --config file", k.inv.where)
			continue
		}
		if checked[k.raw] {
			continue
		}
		checked[k.raw] = true
		file := filepath.Join(t.TempDir(), "referralops.yaml")
		if err := os.WriteFile(file, []byte(k.raw), 0o644); err != nil {
			t.Fatal(err)
		}
		// migrate --print loads the whole file and connects to nothing.
		if out, code := runCLI(c.bin, "migrate", "--config="+file, "--print"); code != 0 {
			t.Errorf("%s: referralops does not load its config file (exit %d):\n%s", k.inv.where, code, firstLines(out, 5))
		}
		report(t, validateConfigFile(k.raw))
	}
}

// validateConfigFile decodes each section into its package's Config over
// the defaults, as the binary does, and validates it.
func validateConfigFile(raw string) []error {
	ch, kc, ev, in, kp, ex := clickhouse.DefaultConfig(), broker.DefaultConfig(), event.DefaultConfig(), ingest.DefaultConfig(), kpi.DefaultConfig(), metrics.DefaultConfig()
	f := struct {
		Log *struct {
			Format string `yaml:"format"`
			Level  string `yaml:"level"`
		} `yaml:"log"`
		ClickHouse *clickhouse.Config `yaml:"clickhouse"`
		Kafka      *broker.Config     `yaml:"kafka"`
		Event      *event.Config      `yaml:"event"`
		Ingest     *ingest.Config     `yaml:"ingest"`
		KPI        *kpi.Config        `yaml:"kpi"`
		Export     *metrics.Config    `yaml:"export"`
	}{ClickHouse: &ch, Kafka: &kc, Event: &ev, Ingest: &in, KPI: &kp, Export: &ex}
	dec := yaml.NewDecoder(strings.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return []error{fmt.Errorf("config file: %w", err)}
	}
	var errs []error
	for name, err := range map[string]error{
		"clickhouse": ch.Validate(), "kafka": kc.Validate(), "event": ev.Validate(),
		"ingest": in.Validate(), "kpi": kp.Validate(), "export": ex.Validate(),
	} {
		if err != nil {
			errs = append(errs, fmt.Errorf("config file: %s: %w", name, err))
		}
	}
	if strings.Contains(ch.DSN, "@") {
		errs = append(errs, fmt.Errorf("config file: clickhouse.dsn holds credentials; they belong in the Secret"))
	}
	return errs
}

// listenPort is the port of a host:port listen address.
func listenPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// containerPort resolves a probe's or Service's port (number or name).
func containerPort(c container, port yaml.Node) int {
	if n, err := strconv.Atoi(port.Value); err == nil {
		return n
	}
	for _, p := range c.Ports {
		if p.Name == port.Value {
			return p.ContainerPort
		}
	}
	return 0
}

// servers: the long-running commands and the section of their --listen.
var servers = map[string]string{"ingest": "ingest", "export": "export"}

// checkK8sProbes: the long-running referralops containers probe liveness on
// /healthz and readiness on /readyz, on the port they listen on.
func checkK8sProbes(ks []k8sInvocation) []error {
	var errs []error
	for _, k := range ks {
		section, ok := servers[k.inv.args[0]]
		if !ok {
			continue
		}
		if k.w.obj.Kind != "Deployment" {
			errs = append(errs, fmt.Errorf("%s: %s is long-running but not in a Deployment", k.inv.where, k.inv.args[0]))
		}
		listen := listenPort(k.setting("listen", section, "listen", defaultListen[k.inv.args[0]]))
		for _, p := range []struct {
			name string
			pr   *probe
			path string
		}{{"liveness", k.c.LivenessProbe, "/healthz"}, {"readiness", k.c.ReadinessProbe, "/readyz"}} {
			switch {
			case p.pr == nil || p.pr.HTTPGet == nil:
				errs = append(errs, fmt.Errorf("%s: no %s probe (httpGet %s)", k.inv.where, p.name, p.path))
			case p.pr.HTTPGet.Path != p.path:
				errs = append(errs, fmt.Errorf("%s: %s probe on %s, want %s", k.inv.where, p.name, p.pr.HTTPGet.Path, p.path))
			case listen == 0 || containerPort(k.c, p.pr.HTTPGet.Port) != listen:
				errs = append(errs, fmt.Errorf("%s: %s probe on port %q, but it listens on %d", k.inv.where, p.name, p.pr.HTTPGet.Port.Value, listen))
			}
		}
	}
	return errs
}

func TestKubernetesProbes(t *testing.T) {
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	report(t, checkK8sProbes(ks))
}

// checkK8sIngest: the ingester Deployment runs more than one replica, all in
// one consumer group named by a constant (a per-pod value would give each
// replica a group of its own, each reading every partition), and its Go
// memory limit is under the container's.
func checkK8sIngest(ks []k8sInvocation) []error {
	var errs []error
	n := 0
	for _, k := range ks {
		if k.inv.args[0] != "ingest" {
			continue
		}
		n++
		if r := k.w.spec.Replicas; k.w.obj.Kind != "Deployment" || r == nil || *r < 2 {
			errs = append(errs, fmt.Errorf("%s: want a Deployment with replicas >= 2 sharing the consumer group", k.inv.where))
		}
		group := k.setting("group", "ingest", "group", ingest.DefaultConfig().Group)
		if group == "" || strings.HasPrefix(group, "field-") || strings.HasPrefix(group, "secret-") || strings.Contains(group, "$(") {
			errs = append(errs, fmt.Errorf("%s: consumer group %q is not one constant name for every replica", k.inv.where, group))
		}
		limit, err := quantity(k.c.Resources.Limits["memory"])
		soft, err2 := strconv.ParseFloat(k.setting("memory-limit-bytes", "ingest", "memory_limit_bytes", strconv.FormatInt(ingest.DefaultConfig().MemoryLimit, 10)), 64)
		if err != nil || err2 != nil || soft <= 0 || soft >= limit {
			errs = append(errs, fmt.Errorf("%s: Go memory limit %.0f bytes, container limit %q: want 0 < soft < container limit", k.inv.where, soft, k.c.Resources.Limits["memory"]))
		}
		grace := int64(30)
		if g := k.w.spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		shutdown := k.setting("shutdown-grace", "ingest", "shutdown_grace", ingest.DefaultConfig().ShutdownGrace.String())
		if d, err := time.ParseDuration(shutdown); err != nil || float64(grace) <= d.Seconds() {
			errs = append(errs, fmt.Errorf("%s: terminationGracePeriodSeconds %d does not exceed the shutdown grace %s", k.inv.where, grace, shutdown))
		}
	}
	if n != 1 {
		errs = append(errs, fmt.Errorf("%d ingest containers, want 1 (in one Deployment)", n))
	}
	return errs
}

func TestKubernetesIngestScaledOut(t *testing.T) {
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	report(t, checkK8sIngest(ks))
	// The exporter is a single replica: two would each serve every KPI
	// series and the rules' sums would double.
	for _, k := range ks {
		if k.inv.args[0] == "export" && (k.w.spec.Replicas == nil || *k.w.spec.Replicas != 1) {
			t.Errorf("%s: want exactly 1 replica", k.inv.where)
		}
	}
}

// checkK8sServiceMonitor: the ServiceMonitors select Services that select
// the referralops pods, on ports those pods listen on, and the job labels
// they give are the ones the rules expect.
func checkK8sServiceMonitor(m *manifests) []error {
	var errs []error
	ws, err := m.workloads()
	if err != nil {
		return []error{err}
	}
	var jobs []string
	for _, o := range m.byKind("ServiceMonitor") {
		var sm struct {
			Spec struct {
				JobLabel string `yaml:"jobLabel"`
				Selector struct {
					MatchLabels map[string]string `yaml:"matchLabels"`
				} `yaml:"selector"`
				NamespaceSelector struct {
					MatchNames []string `yaml:"matchNames"`
					Any        bool     `yaml:"any"`
				} `yaml:"namespaceSelector"`
				Endpoints []struct {
					Port string `yaml:"port"`
					Path string `yaml:"path"`
				} `yaml:"endpoints"`
			} `yaml:"spec"`
		}
		if err := o.decode(&sm); err != nil {
			return []error{err}
		}
		if len(sm.Spec.Selector.MatchLabels) == 0 {
			errs = append(errs, fmt.Errorf("%s: empty selector", o))
		}
		for _, svcObj := range m.byKind("Service") {
			if !subset(sm.Spec.Selector.MatchLabels, svcObj.Metadata.Labels) {
				continue
			}
			inNS := svcObj.Metadata.Namespace == o.Metadata.Namespace || sm.Spec.NamespaceSelector.Any ||
				slices.Contains(sm.Spec.NamespaceSelector.MatchNames, svcObj.Metadata.Namespace)
			if !inNS {
				continue
			}
			var svc struct {
				Spec struct {
					Selector map[string]string `yaml:"selector"`
					Ports    []struct {
						Name       string    `yaml:"name"`
						Port       int       `yaml:"port"`
						TargetPort yaml.Node `yaml:"targetPort"`
					} `yaml:"ports"`
				} `yaml:"spec"`
			}
			if err := svcObj.decode(&svc); err != nil {
				return []error{err}
			}
			job := svcObj.Metadata.Name
			if sm.Spec.JobLabel != "" {
				job = svcObj.Metadata.Labels[sm.Spec.JobLabel]
			}
			jobs = append(jobs, job)
			// The pods behind the Service and the port they listen on.
			var pods []workload
			for _, w := range ws {
				if len(svc.Spec.Selector) > 0 && subset(svc.Spec.Selector, w.spec.Template.Metadata.Labels) {
					pods = append(pods, w)
				}
			}
			if len(pods) == 0 {
				errs = append(errs, fmt.Errorf("%s selects no pods", svcObj))
			}
			for _, ep := range sm.Spec.Endpoints {
				if ep.Path != "" && ep.Path != "/metrics" {
					errs = append(errs, fmt.Errorf("%s: endpoint path %s, want /metrics", o, ep.Path))
				}
				found := false
				for _, p := range svc.Spec.Ports {
					if p.Name != ep.Port {
						continue
					}
					found = true
					for _, w := range pods {
						served := false
						for _, c := range w.spec.Template.Spec.Containers {
							served = served || containerPort(c, p.TargetPort) != 0
						}
						if !served {
							errs = append(errs, fmt.Errorf("%s port %s: target port %q is no container port of %s", svcObj, p.Name, p.TargetPort.Value, w.obj))
						}
					}
				}
				if !found {
					errs = append(errs, fmt.Errorf("%s: endpoint port %q is no port of %s", o, ep.Port, svcObj))
				}
			}
		}
	}
	slices.Sort(jobs)
	if want := []string{rules.JobExport, rules.JobIngest}; !slices.Equal(jobs, want) {
		errs = append(errs, fmt.Errorf("scrape jobs %v, want %v (the rules' job names)", jobs, want))
	}
	return errs
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesServiceMonitor(t *testing.T) {
	report(t, checkK8sServiceMonitor(loadManifests(t)))
}

// The committed generated files the Kubernetes copies hold, and the command
// that regenerates them all (package generated).
var (
	rulesFile   = filepath.Join(filepath.FromSlash(generated.RulesDir), rules.FileName)
	generatedBy = generated.Command
)

// dashboardFiles are the committed dashboard JSON files by name.
func dashboardFiles(root string) (map[string]string, error) {
	dir := filepath.Join(root, filepath.FromSlash(generated.DashboardsDir))
	matches, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	files := map[string]string{}
	for _, f := range matches {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(f)] = string(b)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", generated.DashboardsDir)
	}
	return files, nil
}

// TestKubernetesPrometheusRule: the PrometheusRule's groups are the
// committed generated rules file's, rule for rule.
func TestKubernetesPrometheusRule(t *testing.T) {
	m := loadManifests(t)
	prs := m.byKind("PrometheusRule")
	if len(prs) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(prs))
	}
	var pr struct {
		Spec struct {
			Groups []any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := prs[0].decode(&pr); err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []any `yaml:"groups"`
	}
	readYAML(t, filepath.Join(testenv.RepoRoot(), rulesFile), &file)
	if len(file.Groups) == 0 || !reflect.DeepEqual(pr.Spec.Groups, file.Groups) {
		t.Errorf("the PrometheusRule's groups differ from %s; run %s", rulesFile, generatedBy)
	}
	if prs[0].Metadata.Labels["release"] == "" {
		t.Errorf("%s: no release label for the Prometheus's ruleSelector", prs[0])
	}
}

// TestKubernetesDashboards: the dashboard ConfigMaps hold exactly the
// committed dashboard files, and the provisioned datasources have every uid
// the dashboards refer to.
func TestKubernetesDashboards(t *testing.T) {
	m := loadManifests(t)
	files, err := dashboardFiles(testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var sources string
	for _, o := range m.byKind("ConfigMap") {
		data, err := m.configMapData(o.Metadata.Name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case o.Metadata.Labels["grafana_dashboard"] == "1":
			for k, v := range data {
				if _, dup := got[k]; dup {
					t.Errorf("dashboard %s is in two ConfigMaps", k)
				}
				got[k] = v
			}
		case o.Metadata.Labels["grafana_datasource"] == "1":
			for _, v := range data {
				sources += v
			}
		}
	}
	if !reflect.DeepEqual(sortedKeys(got), sortedKeys(files)) {
		t.Errorf("dashboard ConfigMaps hold %v, the repository %v; run %s", sortedKeys(got), sortedKeys(files), generatedBy)
	}
	for name, content := range files {
		if got[name] != content {
			t.Errorf("ConfigMap copy of %s differs from the committed file; run %s", name, generatedBy)
		}
	}
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal([]byte(sources), &ds); err != nil || len(ds.Datasources) == 0 {
		t.Fatalf("no provisioned datasources (%v)", err)
	}
	have := map[string]string{}
	for _, d := range ds.Datasources {
		have[d.UID] = d.Type
	}
	for name, content := range files {
		for uid, typ := range datasourceUIDs(t, content) {
			if got, ok := have[uid]; !ok || (typ != "" && got != typ) {
				t.Errorf("%s uses datasource %q of type %q; provisioned: %v", name, uid, typ, have)
			}
		}
	}
}

// datasourceUIDs collects the datasources a dashboard needs, uid → plugin
// type: the defaults of its datasource variables and any literal uid of a
// panel or query.
func datasourceUIDs(t *testing.T, dashboard string) map[string]string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(dashboard), &v); err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ds, ok := x["datasource"].(map[string]any); ok {
				uid, _ := ds["uid"].(string)
				typ, _ := ds["type"].(string)
				if uid != "" && !strings.HasPrefix(uid, "$") && !strings.HasPrefix(uid, "-- ") {
					uids[uid] = typ
				}
			}
			if x["type"] == "datasource" {
				cur, _ := x["current"].(map[string]any)
				uid, _ := cur["value"].(string)
				typ, _ := x["query"].(string)
				if uid != "" {
					uids[uid] = typ
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	if len(uids) == 0 {
		t.Fatalf("a dashboard refers to no datasource")
	}
	return uids
}

var (
	// credentialsInURL: a URL's user:password@ with a literal password.
	credentialsInURL = regexp.MustCompile(`://[^/\s:@]+:([^/\s@]+)@`)
	secretish        = regexp.MustCompile(`(?i)password|secret|token|dsn`)
)

// weeklySchedule is a cron schedule that runs once a week: a minute, an hour,
// any day of the month and month, one weekday.
var weeklySchedule = regexp.MustCompile(`^[0-5]?[0-9] (1?[0-9]|2[0-3]) \* \* [0-6]$`)

// checkK8sReport: the report runs weekly from a CronJob, as a read-only
// ClickHouse user, and writes --out into a mount of a PersistentVolumeClaim of
// the manifests (not the read-only root filesystem, not a volume that goes
// with the pod).
func checkK8sReport(m *manifests, ks []k8sInvocation) []error {
	reports, errs := scheduled(ks, "report", weeklySchedule, "weekly")
	for _, k := range reports {
		where := k.inv.where
		if every := k.setting("every", "report", "every", ""); every != "" && every != "0s" && every != "0" {
			errs = append(errs, fmt.Errorf("%s: --every %s keeps a Job running; the CronJob is the schedule", where, every))
		}
		if user := k.clickHouseUser(); user != schema.AnalystUser && user != schema.ExporterUser {
			errs = append(errs, fmt.Errorf("%s: reads ClickHouse as %q, want a read-only user (%s or %s)", where, user, schema.AnalystUser, schema.ExporterUser))
		}
		out := k.setting("out", "report", "out", "reports")
		claim := ""
		for _, vm := range k.c.VolumeMounts {
			if vm.MountPath != out || vm.ReadOnly {
				continue
			}
			for _, v := range k.w.spec.Template.Spec.Volumes {
				if v.Name == vm.Name && v.PersistentVolumeClaim != nil {
					claim = v.PersistentVolumeClaim.ClaimName
				}
			}
		}
		switch {
		case claim == "":
			errs = append(errs, fmt.Errorf("%s: --out %s is not a writable mount of a PersistentVolumeClaim", where, out))
		case m.get("PersistentVolumeClaim", claim) == nil:
			errs = append(errs, fmt.Errorf("%s: PersistentVolumeClaim %s is not in the manifests", where, claim))
		}
	}
	return errs
}

// TestKubernetesReport: the weekly report's CronJob; its flags, hardening
// and secrets are checked with the other workloads.
func TestKubernetesReport(t *testing.T) {
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	report(t, checkK8sReport(m, ks))
}

// TestKubernetesPrune: the nightly prune of the KPI state's touch log.
func TestKubernetesPrune(t *testing.T) {
	m := loadManifests(t)
	ks, errs := referralopsContainers(m)
	report(t, errs)
	report(t, checkK8sPrune(m, ks))
}

// dailySchedule is a cron schedule that runs once a day.
var dailySchedule = regexp.MustCompile(`^[0-5]?[0-9] (1?[0-9]|2[0-3]) \* \* \*$`)

// checkK8sPrune: `referralops prune` runs daily from a CronJob as the
// migrator: dropping partitions is DDL, which the writer may not run (and
// the log grows by a row per event until it is pruned).
func checkK8sPrune(_ *manifests, ks []k8sInvocation) []error {
	prunes, errs := scheduled(ks, "prune", dailySchedule, "daily")
	for _, k := range prunes {
		if user := k.clickHouseUser(); user != schema.MigratorUser {
			errs = append(errs, fmt.Errorf("%s: prunes as %q, want %s (it is DDL)", k.inv.where, user, schema.MigratorUser))
		}
	}
	return errs
}

// scheduled returns the containers that run referralops command, with an
// error unless there is one and each runs from a CronJob whose schedule
// matches every (how says how often, for the message).
func scheduled(ks []k8sInvocation, command string, every *regexp.Regexp, how string) ([]k8sInvocation, []error) {
	var found []k8sInvocation
	var errs []error
	for _, k := range ks {
		if k.inv.args[0] != command {
			continue
		}
		found = append(found, k)
		if k.w.obj.Kind != "CronJob" || !every.MatchString(k.w.schedule) {
			errs = append(errs, fmt.Errorf("%s: a %s with schedule %q, want a CronJob running %s", k.inv.where, k.w.obj.Kind, k.w.schedule, how))
		}
	}
	if len(found) != 1 {
		errs = append(errs, fmt.Errorf("%d containers run referralops %s, want one", len(found), command))
	}
	return found, errs
}

// checkK8sSecrets: no Secret is committed; credentials come from Secret
// references (directly, or through $(VAR) expansion), never from literal
// values or ConfigMaps; every referenced Secret key is documented in
// README.md's kubectl create secret command.
func checkK8sSecrets(m *manifests, readme string) []error {
	var errs []error
	for _, o := range m.byKind("Secret") {
		errs = append(errs, fmt.Errorf("%s: a Secret is committed; create it from README.md instead", o))
	}
	for _, o := range m.byKind("ConfigMap") {
		data, _ := m.configMapData(o.Metadata.Name)
		for k, v := range data {
			if credentialsInURL.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s: %s holds a URL with credentials", o, k))
			}
		}
	}
	ws, err := m.workloads()
	if err != nil {
		return []error{err}
	}
	keys := map[string]bool{}
	for _, w := range ws {
		for _, c := range append(slices.Clone(w.spec.Template.Spec.InitContainers), w.spec.Template.Spec.Containers...) {
			fromSecret := map[string]bool{}
			for _, e := range c.Env {
				where := fmt.Sprintf("%s container %s: %s", w.obj, c.Name, e.Name)
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					fromSecret[e.Name] = true
					keys[e.ValueFrom.SecretKeyRef.Name+"/"+e.ValueFrom.SecretKeyRef.Key] = true
					continue
				}
				if e.ValueFrom != nil {
					continue
				}
				if m := credentialsInURL.FindStringSubmatch(e.Value); m != nil {
					ref := k8sVarRef.FindStringSubmatch(m[1])
					if ref == nil || ref[0] != m[1] || !fromSecret[ref[1]] {
						errs = append(errs, fmt.Errorf("%s: the URL's password %q is not a $(VAR) taken from a Secret", where, m[1]))
					}
				} else if secretish.MatchString(e.Name) && e.Value != "" && !strings.Contains(e.Value, "$(") {
					errs = append(errs, fmt.Errorf("%s: a literal value; take it from a Secret", where))
				}
			}
		}
	}
	for k := range keys {
		name, key, _ := strings.Cut(k, "/")
		if !strings.Contains(readme, "create secret generic "+name) || !strings.Contains(readme, "--from-literal="+key+"=") {
			errs = append(errs, fmt.Errorf("Secret %s key %s is used but README.md's kubectl create secret command does not set it", name, key))
		}
	}
	if len(keys) == 0 {
		errs = append(errs, fmt.Errorf("no Secret is referenced at all"))
	}
	return errs
}

func TestKubernetesSecretsReferenced(t *testing.T) {
	report(t, checkK8sSecrets(loadManifests(t), readRepoFile(t, k8sDir+"/README.md")))
}

// loadManifestsWith is the manifests with one edit to one file.
func loadManifestsWith(t *testing.T, file, old, new string) *manifests {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), filepath.FromSlash(k8sDir))
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == file {
			if !bytes.Contains(b, []byte(old)) {
				t.Fatalf("%s has no %q to replace", file, old)
			}
			b = bytes.Replace(b, []byte(old), []byte(new), 1)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := readManifests(dst)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

package deploytest

import (
	"errors"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

func repoRoot() string { return testenv.RepoRoot() }

// The checks above pass on the committed files; these prove each one fails
// on the mistake it is there for, by breaking a copy of a file.

func wantError(t *testing.T, errs []error, substr string) {
	t.Helper()
	err := errors.Join(errs...)
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("errors do not mention %q:\n%v", substr, err)
	}
}

// composeWith is docker-compose.yml with the first old replaced by new.
func composeWith(t *testing.T, old, new string) *composeFile {
	t.Helper()
	text := readRepoFile(t, composePath)
	if !strings.Contains(text, old) {
		t.Fatalf("%s has no %q", composePath, old)
	}
	cf, err := parseCompose(strings.Replace(text, old, new, 1), requiredEnv)
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

// reportCheck is checkComposeReport with the committed Dockerfile.
func reportCheck(t *testing.T) func(*composeFile) []error {
	dockerfile := readRepoFile(t, "Dockerfile")
	return func(cf *composeFile) []error { return checkComposeReport(cf, dockerfile) }
}

func TestComposeChecksCatch(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
		check                func(*composeFile) []error
	}{
		{"latest image", "prom/prometheus:v3.5.0", "prom/prometheus:latest", "latest is not a version", checkComposeImages},
		{"untagged image", "prom/prometheus:v3.5.0", "prom/prometheus", "no tag", checkComposeImages},
		{"series tag", "clickhouse/clickhouse-server:26.8.10.6", "clickhouse/clickhouse-server:26.8", "not a full version", checkComposeImages},
		{"built image latest", "image: referralops:local", "image: referralops:latest", "tag other than latest", checkComposeImages},
		{"port on every interface", `"127.0.0.1:9090:9090"`, `"9090:9090"`, "every interface", checkComposePorts},
		{"port on 0.0.0.0", `"127.0.0.1:9090:9090"`, `"0.0.0.0:9090:9090"`, `published on "0.0.0.0"`, checkComposePorts},
		{"host network", "image: prom/alertmanager:v0.28.1", "image: prom/alertmanager:v0.28.1\n    network_mode: host", "network_mode host", checkComposePorts},
		{"no health check", `test: ["CMD", "/usr/local/bin/healthprobe", "http://127.0.0.1:9465/readyz"]`, "disable: true", "service ingest: long-running without a health check", checkComposeHealth},
		{"one-shot waited for as started", "migrate: {condition: service_completed_successfully}", "migrate: {condition: service_started}", "want service_completed_successfully", checkComposeHealth},
		{"server waited for as started", "clickhouse: {condition: service_healthy}", "clickhouse: {condition: service_started}", "want service_healthy", checkComposeHealth},
		{"missing dependency", "clickhouse: {condition: service_healthy}", "clickhous: {condition: service_healthy}", "does not exist", checkComposeHealth},
		{"writable bind mount", "prometheus.yml:/etc/prometheus/prometheus.yml:ro", "prometheus.yml:/etc/prometheus/prometheus.yml", "writable", func(cf *composeFile) []error { return checkComposeVolumes(cf, repoRoot()) }},
		{"undeclared volume", "prometheus-data:/prometheus", "prom-data:/prometheus", "not declared", func(cf *composeFile) []error { return checkComposeVolumes(cf, repoRoot()) }},
		{"report without a health check, waited for", "migrate: {condition: service_completed_successfully}\n    restart: unless-stopped\n\n  generator:", "migrate: {condition: service_completed_successfully}\n    restart: unless-stopped\n    ports: [\"127.0.0.1:9999:9999\"]\n\n  generator:", "service report: long-running without a health check", checkComposeHealth},
		{"report on by default", "profiles: [report]", "profiles: []", "want [report]", reportCheck(t)},
		{"report once", `"--every=168h"`, `"--every=0s"`, "--every \"0s\", want 168h", reportCheck(t)},
		{"report into the root filesystem", `"--out=/reports"`, `"--out=/tmp/reports"`, "--out /tmp/reports is not a writable named volume", reportCheck(t)},
		{"report as the exporter", "clickhouse://referralops_analyst:${REFERRALOPS_ANALYST_PASSWORD:-analyst-dev}@", "clickhouse://referralops_exporter:${REFERRALOPS_EXPORTER_PASSWORD:-exporter-dev}@", `DSN user "referralops_exporter"`, reportCheck(t)},
		{"missing bind source", "./deploy/compose/prometheus/prometheus.yml:", "./deploy/compose/prometheus/prometheus.yaml:", "no such file", func(cf *composeFile) []error { return checkComposeVolumes(cf, repoRoot()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.check(composeWith(t, tc.old, tc.new)), tc.want)
		})
	}
	t.Run("variable without default", func(t *testing.T) {
		text := strings.Replace(readRepoFile(t, composePath), "${DLQ_RETENTION_MS:-604800000}", "${DLQ_RETENTION_MS}", 1)
		if _, err := parseCompose(text, requiredEnv); err == nil || !strings.Contains(err.Error(), "no default") {
			t.Fatalf("got %v, want an error about a variable without default", err)
		}
	})
}

func TestFlagChecksCatch(t *testing.T) {
	c := referralops(t)
	for _, tc := range []struct{ name, service, old, new, want string }{
		{"misspelt flag", "ingest", "--group=referralops-ingest", "--groups=referralops-ingest", "has no flag --groups"},
		{"flag of another command", "migrate", `command: ["migrate"]`, `command: ["migrate", "--kafka-brokers=kafka:19092"]`, "referralops migrate has no flag --kafka-brokers"},
		{"misspelt variable", "ingest", "REFERRALOPS_KAFKA_BROKERS: kafka:19092", "REFERRALOPS_KAFKA_BROKER: kafka:19092", "REFERRALOPS_KAFKA_BROKER sets no flag"},
		{"variable of another command", "export", "REFERRALOPS_LOG_FORMAT: json\n    ports:", "REFERRALOPS_GROUP: g\n      REFERRALOPS_LOG_FORMAT: json\n    ports:", "REFERRALOPS_GROUP sets no flag of referralops export"},
		{"bad value", "export", "--refresh-interval=30s", "--refresh-interval=soon", "rejects the invocation"},
		{"bad variable value", "access", "REFERRALOPS_LOG_FORMAT: json\n    depends_on:\n      clickhouse:", "REFERRALOPS_GRAFANA_MAX_RESULT_ROWS: many\n      REFERRALOPS_LOG_FORMAT: json\n    depends_on:\n      clickhouse:", "rejects the invocation"},
		{"unknown command", "migrate", `command: ["migrate"]`, `command: ["migrations"]`, "is not a referralops command"},
		{"positional argument", "generator", `"--days=90"`, `"--days", "90", "extra"`, `argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cf := composeWith(t, tc.old, tc.new)
			s := cf.Services[tc.service]
			wantError(t, c.check(s.invocation(tc.service)), tc.want)
		})
	}
}

func TestDockerfileChecksCatch(t *testing.T) {
	goMod := readRepoFile(t, "go.mod")
	for _, tc := range []struct{ name, old, new, want string }{
		{"builder Go differs from go.mod", "FROM golang:1.26.8 AS build", "FROM golang:1.25.0 AS build", "go.mod says go 1.26.8"},
		{"builder unpinned", "FROM golang:1.26.8 AS build", "FROM golang AS build", "no tag"},
		{"runtime not minimal", "FROM scratch", "FROM debian:12.11.0", "want scratch or gcr.io/distroless/static"},
		{"runs as root", "USER 65532:65532", "USER 0:0", "non-root USER"},
		{"no user", "USER 65532:65532", "", "non-root USER"},
		{"cgo", "CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags=\"-s -w\" -o /out/referralops", "GOOS=linux go build -trimpath -o /out/referralops", "without CGO_ENABLED=0"},
		{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/referralops"]`, "ENTRYPOINT /usr/local/bin/referralops", "exec (JSON) form"},
		{"entrypoint not copied", `ENTRYPOINT ["/usr/local/bin/referralops"]`, `ENTRYPOINT ["/bin/referralops"]`, "copied into the runtime stage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := readRepoFile(t, "Dockerfile")
			if !strings.Contains(text, tc.old) {
				t.Fatalf("Dockerfile has no %q", tc.old)
			}
			wantError(t, checkDockerfile(strings.Replace(text, tc.old, tc.new, 1), goMod), tc.want)
		})
	}
	t.Run("single stage", func(t *testing.T) {
		wantError(t, checkDockerfile("FROM golang:1.26.8\nRUN CGO_ENABLED=0 go build ./cmd/referralops\n", goMod), "stage(s)")
	})
}

func TestKubernetesChecksCatch(t *testing.T) {
	c := referralops(t)
	withContainers := func(check func([]k8sInvocation) []error) func(*manifests) []error {
		return func(m *manifests) []error {
			ks, errs := referralopsContainers(m)
			return append(errs, check(ks)...)
		}
	}
	flags := withContainers(func(ks []k8sInvocation) []error {
		var errs []error
		for _, k := range ks {
			errs = append(errs, c.check(k.inv)...)
		}
		return errs
	})
	configFile := withContainers(func(ks []k8sInvocation) []error {
		var errs []error
		for _, k := range ks {
			errs = append(errs, validateConfigFile(k.raw)...)
		}
		return errs
	})
	withInvocations := func(check func(*manifests, []k8sInvocation) []error) func(*manifests) []error {
		return func(m *manifests) []error {
			ks, errs := referralopsContainers(m)
			return append(errs, check(m, ks)...)
		}
	}
	readme := readRepoFile(t, k8sDir+"/README.md")
	secrets := func(m *manifests) []error { return checkK8sSecrets(m, readme) }
	const passwordFromSecret = "            - name: REFERRALOPS_EXPORTER_PASSWORD\n              valueFrom: {secretKeyRef: {name: referralops-clickhouse, key: exporter-password}}"
	const configEnv = "            - {name: REFERRALOPS_CONFIG, value: /etc/referralops/referralops.yaml}"
	for _, tc := range []struct {
		name, file, old, new, want string
		check                      func(*manifests) []error
	}{
		{"one ingester", "ingest.yaml", "replicas: 3", "replicas: 1", "replicas >= 2", withContainers(checkK8sIngest)},
		{"a group per pod", "ingest.yaml", configEnv, configEnv + "\n            - name: REFERRALOPS_GROUP\n              valueFrom: {fieldRef: {fieldPath: metadata.name}}", "not one constant name", withContainers(checkK8sIngest)},
		{"Go memory over the limit", "config.yaml", "memory_limit_bytes: 402653184", "memory_limit_bytes: 1073741824", "want 0 < soft < container limit", withContainers(checkK8sIngest)},
		{"grace shorter than shutdown", "ingest.yaml", "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 10", "does not exceed the shutdown grace", withContainers(checkK8sIngest)},
		{"writable root", "export.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "root filesystem is writable", checkK8sHardened},
		{"root user", "export.yaml", "runAsNonRoot: true", "runAsNonRoot: false", "may run as root", checkK8sHardened},
		{"no memory limit", "export.yaml", "limits: {cpu: 500m, memory: 256Mi}", "limits: {cpu: 500m}", "no memory request and limit", checkK8sHardened},
		{"capabilities kept", "schema-job.yaml", "capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}", "capabilities are not dropped", checkK8sHardened},
		{"unpinned image", "export.yaml", "ghcr.io/referralops/referralops:0.1.0", "ghcr.io/referralops/referralops:latest", "latest is not a version", checkK8sImages},
		{"readiness on healthz", "ingest.yaml", "httpGet: {path: /readyz, port: metrics}", "httpGet: {path: /healthz, port: metrics}", "readiness probe on /healthz", withContainers(checkK8sProbes)},
		{"no liveness probe", "export.yaml", "livenessProbe:", "startupProbe:", "no liveness probe", withContainers(checkK8sProbes)},
		{"probe on the wrong port", "export.yaml", "- {name: metrics, containerPort: 9464}", "- {name: metrics, containerPort: 8080}", "but it listens on 9464", withContainers(checkK8sProbes)},
		{"misspelt arg", "export.yaml", "args: [export]", "args: [export, --windows=30d]", "has no flag --windows", flags},
		{"misspelt variable", "ingest.yaml", configEnv, configEnv + "\n            - {name: REFERRALOPS_BATCH_ROW, value: \"5\"}", "REFERRALOPS_BATCH_ROW sets no flag", flags},
		{"unknown config key", "config.yaml", "batch_rows: 50000", "batch_row: 50000", "field batch_row not found", configFile},
		{"invalid config value", "config.yaml", "refresh_interval: 30s", "refresh_interval: 0s", "export: refresh-interval: must be > 0", configFile},
		{"password in a DSN", "export.yaml", "referralops_exporter:$(CLICKHOUSE_PASSWORD)@", "referralops_exporter:hunter2@", `password "hunter2"`, secrets},
		{"literal password", "schema-job.yaml", passwordFromSecret, "            - {name: REFERRALOPS_EXPORTER_PASSWORD, value: hunter2}", "a literal value", secrets},
		{"undocumented secret key", "ingest.yaml", "key: writer-password", "key: writer-pass", "key writer-pass is used", secrets},
		{"report not weekly", "report.yaml", `schedule: "0 6 * * 1"`, `schedule: "0 6 * * *"`, "want a CronJob running weekly", withInvocations(checkK8sReport)},
		{"report as the admin", "report.yaml", "clickhouse://referralops_analyst:", "clickhouse://default:", `as "default", want a read-only user`, withInvocations(checkK8sReport)},
		{"report on the root filesystem", "report.yaml", "args: [report, --out=/reports]", "args: [report, --out=/tmp/reports]", "--out /tmp/reports is not a writable mount", withInvocations(checkK8sReport)},
		{"report volume read-only", "report.yaml", "- {name: reports, mountPath: /reports}", "- {name: reports, mountPath: /reports, readOnly: true}", "is not a writable mount", withInvocations(checkK8sReport)},
		{"report claim missing", "report.yaml", "claimName: referralops-reports}", "claimName: reports}", "PersistentVolumeClaim reports is not in the manifests", withInvocations(checkK8sReport)},
		{"prune weekly", "prune.yaml", `schedule: "15 3 * * *"`, `schedule: "15 3 * * 0"`, "want a CronJob running daily", withInvocations(checkK8sPrune)},
		{"prune as the writer", "prune.yaml", "clickhouse://referralops_migrator:", "clickhouse://referralops_writer:", `prunes as "referralops_writer"`, withInvocations(checkK8sPrune)},
		{"job label not the rules'", "servicemonitor.yaml", "jobLabel: app.kubernetes.io/name", "jobLabel: app.kubernetes.io/component", "the rules' job names", checkK8sServiceMonitor},
		{"endpoint port missing", "servicemonitor.yaml", "- port: metrics", "- port: http", `endpoint port "http"`, checkK8sServiceMonitor},
		{"service selects no pods", "export.yaml", "  selector:\n    app.kubernetes.io/name: referralops-export", "  selector:\n    app.kubernetes.io/name: referralops-exporter", "selects no pods", checkK8sServiceMonitor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, tc.check(loadManifestsWith(t, tc.file, tc.old, tc.new)), tc.want)
		})
	}
}

package generated

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// TestCommittedFilesAreCurrent: every committed generated file is what the
// code makes now, so a changed catalog, target, panel or rule cannot be
// committed without its dashboards, rules, Kubernetes copies and README.
func TestCommittedFilesAreCurrent(t *testing.T) {
	root := testenv.RepoRoot()
	set, err := Render(root)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := set.Stale(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stale {
		t.Errorf("%s; run `%s`", s, Command)
	}
	for _, want := range []string{
		"deploy/grafana/dashboards/referralops-executive.json",
		"deploy/grafana/provisioning/datasources/referralops.yaml",
		"deploy/prometheus/rules/referralops.rules.yml",
		"deploy/kubernetes/prometheusrule.yaml",
		"deploy/kubernetes/grafana-dashboards.yaml",
		"deploy/kubernetes/grafana-datasources.yaml",
		"README.md",
	} {
		if !slices.ContainsFunc(set.Files, func(f File) bool { return f.Path == want }) {
			t.Errorf("%s is not generated", want)
		}
	}
}

// inputs copies the hand-written files Render reads into a new root.
func inputs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, p := range []string{"README.md", KubernetesDir + "/" + k8sConfigFile} {
		b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, root, p, string(b))
	}
	return root
}

func writeFile(t *testing.T, root, p, content string) {
	t.Helper()
	file := filepath.Join(root, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func stale(t *testing.T, s *Set, root string) []string {
	t.Helper()
	out, err := s.Stale(root)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStaleAndWrite: Stale names a changed, a missing and a no-longer
// generated file; Write fixes all three and changes nothing on a second run.
func TestStaleAndWrite(t *testing.T) {
	root := inputs(t)
	set, err := Render(root)
	if err != nil {
		t.Fatal(err)
	}
	changed, err := set.Write(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != len(set.Files)-1 { // all but the README, whose region is current
		t.Errorf("first write changed %v, want every file but README.md", changed)
	}
	if got := stale(t, set, root); len(got) != 0 {
		t.Fatalf("stale right after Write: %v", got)
	}

	const (
		edited  = "deploy/kubernetes/prometheusrule.yaml"
		removed = "deploy/grafana/provisioning/dashboards/referralops.yaml"
		extra   = "deploy/grafana/dashboards/referralops-retired.json"
		foreign = "deploy/grafana/dashboards/someone-elses.json" // not owned: left alone
	)
	writeFile(t, root, edited, "# edited by hand\n")
	if err := os.Remove(filepath.Join(root, filepath.FromSlash(removed))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, root, extra, "{}")
	writeFile(t, root, foreign, "{}")
	want := []string{
		removed + ": missing",
		edited + ": differs from what the code makes now",
		extra + ": no longer generated",
	}
	if got := stale(t, set, root); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
		t.Errorf("Stale = %q\nwant %q", got, want)
	}

	changed, err = set.Write(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{removed, edited, extra}; !slices.Equal(slices.Sorted(slices.Values(changed)), slices.Sorted(slices.Values(want))) {
		t.Errorf("Write changed %v, want %v", changed, want)
	}
	if got := stale(t, set, root); len(got) != 0 {
		t.Errorf("stale after the second Write: %v", got)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(foreign))); err != nil {
		t.Errorf("a file no glob owns was touched: %v", err)
	}
	if changed, err := set.Write(root); err != nil || len(changed) != 0 {
		t.Errorf("a third Write changed %v (%v), want nothing", changed, err)
	}
}

// TestREADMERegion: the region is replaced and the text around it kept; a
// README without the markers is an error naming them.
func TestREADMERegion(t *testing.T) {
	root := inputs(t)
	writeFile(t, root, "README.md", "# Title\n\n<!-- kpi-metrics:begin -->\nold\n<!-- kpi-metrics:end -->\n\nafter\n")
	files, err := renderRegions(root)
	if err != nil {
		t.Fatal(err)
	}
	got := string(files[0].Data)
	if !strings.HasPrefix(got, "# Title\n\n<!-- kpi-metrics:begin -->\n<!-- Generated from metrics.Catalog") ||
		!strings.HasSuffix(got, "\n<!-- kpi-metrics:end -->\n\nafter\n") || strings.Contains(got, "\nold\n") {
		t.Errorf("README region not replaced in place:\n%s", got)
	}

	writeFile(t, root, "README.md", "# Title\n<!-- kpi-metrics:end -->\n<!-- kpi-metrics:begin -->\n")
	if _, err := Render(root); err == nil || !strings.Contains(err.Error(), "kpi-metrics:begin") {
		t.Errorf("README without an ordered region: error = %v, want one naming the markers", err)
	}
}

// TestKubernetesConfigErrors: the datasources need the ClickHouse address of
// the hand-written config ConfigMap; each way of not having it is an error
// naming the file.
func TestKubernetesConfigErrors(t *testing.T) {
	for name, content := range map[string]string{
		"no ConfigMap":         "apiVersion: v1\nkind: Namespace\nmetadata: {name: referralops}\n",
		"no clickhouse-addr":   "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: referralops-config}\ndata: {other: x}\n",
		"not YAML":             "data: [unclosed\n",
		"other ConfigMap only": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\ndata: {clickhouse-addr: a:9000}\n",
	} {
		t.Run(name, func(t *testing.T) {
			root := inputs(t)
			writeFile(t, root, KubernetesDir+"/"+k8sConfigFile, content)
			if _, err := Render(root); err == nil || !strings.Contains(err.Error(), k8sConfigFile) {
				t.Errorf("error = %v, want one naming %s", err, k8sConfigFile)
			}
		})
	}
	if _, err := Render(t.TempDir()); err == nil {
		t.Error("a root without the hand-written inputs rendered")
	}
}

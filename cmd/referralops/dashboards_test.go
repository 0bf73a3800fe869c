package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// TestDashboardsCommand: `referralops dashboards --out DIR --provisioning DIR`
// writes exactly the committed deploy/grafana files, removes a stale generated
// dashboard, and leaves other files alone.
func TestDashboardsCommand(t *testing.T) {
	dir := t.TempDir()
	out, prov := filepath.Join(dir, "dashboards"), filepath.Join(dir, "provisioning")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(out, "referralops-retired.json")
	mine := filepath.Join(out, "my-own.json")
	for _, f := range []string{stale, mine} {
		if err := os.WriteFile(f, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"dashboards", "--out", out, "--provisioning", prov, "--log-format", "text"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	grafana := filepath.Join(testenv.RepoRoot(), "deploy", "grafana")
	for _, sub := range []string{"dashboards", "provisioning"} {
		want := files(t, filepath.Join(grafana, sub))
		got := files(t, filepath.Join(dir, sub))
		delete(got, "my-own.json")
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("%s: wrote %d files, deploy/grafana has %d", sub, len(got), len(want))
		}
		for name, b := range want {
			if !bytes.Equal(got[name], b) {
				t.Errorf("%s/%s differs from deploy/grafana/%s/%s", sub, name, sub, name)
			}
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale generated dashboard kept: %v", err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("a file the command did not generate was removed: %v", err)
	}
}

func files(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDashboardsCommandBadConfigExits2(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"dashboards", "--out", t.TempDir(), "--provisioning", t.TempDir(), "--grafana-clickhouse-addr", "nohost"}, &stderr, &stderr)
	if code != exitBadConfig || !strings.Contains(stderr.String(), "clickhouse address") {
		t.Errorf("exit %d, want %d naming the clickhouse address: %s", code, exitBadConfig, stderr.String())
	}
}

// TestDashboardsCommandTargets: --targets moves the thresholds, so a panel
// and its alert (`referralops rules --targets`) agree.
func TestDashboardsCommandTargets(t *testing.T) {
	out := t.TempDir()
	targets := filepath.Join(testenv.RepoRoot(), "metrics", "testdata", "targets", "targets.yaml") // cardiology 40d
	var stdout, stderr bytes.Buffer
	if code := run([]string{"dashboards", "--out", out, "--targets", targets, "--log-format", "text"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(out, "referralops-executive.json"))
	if err != nil {
		t.Fatal(err)
	}
	const want, def = `label_replace(vector(40), \"service_line\", \"cardiology\"`, `label_replace(vector(66), \"service_line\", \"cardiology\"`
	if !strings.Contains(string(b), want) || strings.Contains(string(b), def) {
		t.Errorf("the executive dashboard does not carry cardiology's 40-day target from %s", targets)
	}
	if code := run([]string{"dashboards", "--out", out, "--targets", "no-such-file.yaml"}, &stdout, &stderr); code != exitBadConfig {
		t.Errorf("missing targets file: exit %d, want %d", code, exitBadConfig)
	}
}

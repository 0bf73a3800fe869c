package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/dashboards/rules"
)

// TestRulesCommandWritesTheRules: `referralops rules --out DIR` writes what
// the generator makes of the defaults; --targets and --for change it.
func TestRulesCommandWritesTheRules(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rules")
	var stderr bytes.Buffer
	if code := run([]string{"rules", "--out", dir}, &stderr, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, rules.FileName))
	if err != nil {
		t.Fatal(err)
	}
	want, err := rules.Generate(rules.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("referralops rules wrote other rules than the defaults generate")
	}

	targets := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(targets, []byte("time_to_appointment_p90: {cardiology: 10d}\nleakage_rate_max: 0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	t.Setenv("REFERRALOPS_FOR", "1s")
	if code := run([]string{"rules", "--out", dir, "--targets", targets, "--evaluation-interval", "1s"}, &stderr, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err = os.ReadFile(filepath.Join(dir, rules.FileName))
	if err != nil {
		t.Fatal(err)
	}
	o := rules.DefaultOptions()
	o.Targets.TimeToAppointmentP90 = map[string]time.Duration{"cardiology": 10 * 24 * time.Hour}
	o.Targets.LeakageRateMax = 0.2
	o.ForOverride, o.Interval = time.Second, time.Second
	if want, _ = rules.Generate(o); !bytes.Equal(got, want) {
		t.Errorf("with --targets, REFERRALOPS_FOR and --evaluation-interval the rules differ from the generator's:\n%s", got)
	}
}

func TestRulesCommandBadConfigExits2(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	invalid := filepath.Join(dir, "invalid.yaml")
	for path, content := range map[string]string{unknown: "leakage_rate: 0.2\n", invalid: "closed_loop_rate_min: 1.5\n"} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown targets key", []string{"--targets", unknown}, "field leakage_rate not found"},
		{"invalid target", []string{"--targets", invalid}, "closed_loop_rate_min: must be a ratio"},
		{"missing targets file", []string{"--targets", filepath.Join(dir, "nope.yaml")}, "targets: targets file"},
		{"bad window", []string{"--alert-window", "0d"}, "alert-window"},
		{"negative for", []string{"--for", "-1s"}, "for: must be >= 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tc.name, " ", "-"))
			code := run(append([]string{"rules", "--out", out}, tc.args...), &stderr, &stderr)
			if code != exitBadConfig {
				t.Errorf("exit %d, want %d", code, exitBadConfig)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("rules written despite invalid configuration (%v)", err)
			}
		})
	}
}

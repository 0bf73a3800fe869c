package metrics_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/config"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// exportFile is the part of the command's YAML file the exporter reads.
type exportFile struct {
	ClickHouse *clickhouse.Config `yaml:"clickhouse"`
	KPI        *kpi.Config        `yaml:"kpi"`
	Export     *metrics.Config    `yaml:"export"`
}

// loadConfig applies the layers as `referralops export` does.
func loadConfig(t *testing.T, args ...string) metrics.Config {
	t.Helper()
	ch, kc, ec := clickhouse.DefaultConfig(), kpi.DefaultConfig(), metrics.DefaultConfig()
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.String(config.FileFlag, "", "")
	ch.RegisterFlags("", fs)
	kc.RegisterFlags("", fs)
	ec.RegisterFlags("", fs)
	if err := config.Load(fs, args, &exportFile{ClickHouse: &ch, KPI: &kc, Export: &ec}); err != nil {
		t.Fatal(err)
	}
	if err := ec.Validate(); err != nil {
		t.Fatal(err)
	}
	return ec
}

func TestConfigLayers(t *testing.T) {
	if got := loadConfig(t); got.Listen != ":9464" || got.RefreshInterval != 30*time.Second ||
		got.LocationsTop != 5 || got.MaxSeriesPerFamily != 2000 || !got.AsOf.IsZero() || len(got.Locations) != 0 {
		t.Errorf("defaults: %+v", got)
	}
	file := filepath.Join("testdata", "config", "export.yaml")
	got := loadConfig(t, "--config", file)
	want := metrics.Config{Listen: "127.0.0.1:9464", RefreshInterval: 15 * time.Second, AsOf: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC),
		Locations: []string{"site-01", "site-02"}, LocationsTop: 5, MaxSeriesPerFamily: 500}
	if !got.AsOf.Equal(want.AsOf) || got.Listen != want.Listen || got.RefreshInterval != want.RefreshInterval ||
		!slices.Equal(got.Locations, want.Locations) || got.LocationsTop != 5 || got.MaxSeriesPerFamily != 500 {
		t.Errorf("from %s: %+v, want %+v", file, got, want)
	}
	t.Setenv("REFERRALOPS_REFRESH_INTERVAL", "1m")
	got = loadConfig(t, "--config", file, "--as-of", "2025-01-02T03:04:05Z", "--locations", "a, b")
	if got.RefreshInterval != time.Minute || !got.AsOf.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || !slices.Equal(got.Locations, []string{"a", "b"}) {
		t.Errorf("env and flags over the file: %+v", got)
	}
}

// TestBadConfig: `referralops export` reports every bad setting of
// testdata/config/bad-export.yaml, exactly as bad-export.err says, and exits
// 2 before starting anything.
func TestBadConfig(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "config", "bad-export.err"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t), "export", "--config", filepath.Join("testdata", "config", "bad-export.yaml"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit code %d (%v), want 2", code, err)
	}
	if stderr.String() != string(want) {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr.String(), want)
	}

	cmd = exec.Command(testenv.Binary(t), "export", "--as-of", "yesterday")
	stderr.Reset()
	cmd.Stderr = &stderr
	_ = cmd.Run()
	const msg = `invalid value "yesterday" for flag -as-of: want RFC 3339 like 2026-03-31T00:00:00Z, got "yesterday"`
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(stderr.String(), msg) {
		t.Errorf("--as-of yesterday: %s, stderr:\n%s", cmd.ProcessState, stderr.String())
	}
}

package kpi_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/referralops/referralops/metrics/kpi"
)

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		name string
		err  string
	}{
		{in: "30d", want: 30 * 24 * time.Hour, name: "30d"},
		{in: " 90d ", want: 90 * 24 * time.Hour, name: "90d"},
		{in: "36h", want: 36 * time.Hour, name: "36h0m0s"},
		{in: "48h", want: 48 * time.Hour, name: "2d"},
		{in: "0d", err: "must be positive"},
		{in: "-3d", err: "must be positive"},
		{in: "1.5s", err: "whole seconds"},
		{in: "3661d", err: "at most 3660d"},
		{in: "30 days", err: "want whole days like 30d"},
		{in: "", err: "want whole days like 30d"},
	} {
		w, err := kpi.ParseWindow(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseWindow(%q) = %v, %v; want error containing %q", tc.in, w, err, tc.err)
			}
			continue
		}
		if err != nil || w.Duration() != tc.want || w.String() != tc.name {
			t.Errorf("ParseWindow(%q) = %v (%s), %v; want %v (%s)", tc.in, w.Duration(), w, err, tc.want, tc.name)
		}
	}
}

func TestConfigLayers(t *testing.T) {
	c := kpi.DefaultConfig()
	if got := (&c.Windows).String(); got != "30d,90d" {
		t.Errorf("default windows %q, want 30d,90d", got)
	}
	if err := yaml.Unmarshal([]byte("windows: [7d, 30d]\ntimeout: 10s\n"), &c); err != nil {
		t.Fatal(err)
	}
	if got := (&c.Windows).String(); got != "7d,30d" || c.Timeout != 10*time.Second {
		t.Errorf("from YAML: windows %q, timeout %s", got, c.Timeout)
	}
	fs := flag.NewFlagSet("kpi", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags("", fs)
	if err := fs.Parse([]string{"--window", "30d"}); err != nil {
		t.Fatal(err)
	}
	if got := (&c.Windows).String(); got != "30d" || c.Validate() != nil {
		t.Errorf("after --window 30d: %q, %v", got, c.Validate())
	}
	if err := fs.Parse([]string{"--window", "30d,x"}); err == nil {
		t.Error("--window 30d,x accepted")
	}
	bad := kpi.Config{Windows: kpi.Windows{kpi.Window(24 * time.Hour), kpi.Window(24 * time.Hour)}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "listed twice") || !strings.Contains(err.Error(), "kpi-timeout") {
		t.Errorf("Validate of a repeated window and no timeout: %v", err)
	}
	if err := (kpi.Config{Timeout: time.Second}).Validate(); err == nil || !strings.Contains(err.Error(), "at least one window") {
		t.Errorf("Validate without windows: %v", err)
	}
}

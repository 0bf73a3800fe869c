package demo

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// newTestConfig is the demo's configuration over default sections, parsed
// from args.
func newTestConfig(t *testing.T, args ...string) *Config {
	t.Helper()
	chc, kc, ec, ic, kp, xc := clickhouse.DefaultConfig(), broker.DefaultConfig(), event.DefaultConfig(), ingest.DefaultConfig(), kpi.DefaultConfig(), metrics.DefaultConfig()
	hc := httpserver.DefaultConfig()
	c := NewConfig(Sections{ClickHouse: &chc, Kafka: &kc, Event: &ec, Ingest: &ic, KPI: &kp, Export: &xc, HTTP: &hc})
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestConfigDefaults: the demo's own defaults of the shared sections, and the
// daily rate derived from --referrals and --days.
func TestConfigDefaults(t *testing.T) {
	c := newTestConfig(t, "--referrals", "900", "--days", "30")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Ingest.Group != "referralops-demo" || c.Ingest.MemoryLimit != 0 || c.Export.RefreshInterval.String() != "10s" {
		t.Errorf("group %q, memory limit %d, refresh %s; want referralops-demo, 0, 10s", c.Ingest.Group, c.Ingest.MemoryLimit, c.Export.RefreshInterval)
	}
	if !c.Embedded() || c.Kafka.Brokers.String() != "127.0.0.1:9092" {
		t.Errorf("embedded %v, brokers %s; want the embedded broker on 127.0.0.1:9092", c.Embedded(), c.Kafka.Brokers.String())
	}
	if c.stream.PerDay != 30 {
		t.Errorf("per day %v, want 30", c.stream.PerDay)
	}
}

// TestConfigInvalid: each invalid flag of the demo's own is named.
func TestConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--days", "0"}, "days: must be between 1 and 365, got 0"},
		{[]string{"--days", "366"}, "days: must be between 1 and 365, got 366"},
		{[]string{"--referrals", "0"}, "referrals: must be > 0, got 0"},
		{[]string{"--live-speed", "0.5"}, "live-speed: must be >= 1, got 0.5"},
		{[]string{"--live-catchup", "-1s"}, "live-catchup: must be >= 0, got -1s"},
		{[]string{"--timeout", "0s"}, "timeout: must be > 0, got 0s"},
		{[]string{"--view-interval", "0s"}, "view-interval: must be > 0, got 0s"},
		{[]string{"--embedded-kafka-listen", "nohost"}, `kafka-brokers: "nohost" is not host:port`},
		{[]string{"--refresh-interval", "0s"}, "refresh-interval: must be > 0, got 0s"},
		{[]string{"--site-config", "testdata/nope.yaml"}, "site-config: open testdata/nope.yaml"},
		{[]string{"--topic-fhir", ""}, "topic-hl7v2, topic-fhir: required with --standard-feeds"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := newTestConfig(t, tc.args...).Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestConfigSite: the standard feeds' site config is the embedded example
// unless --site-config names one; without REFERRALOPS_PATIENT_TOKEN_KEY the
// run has a random key, a short one is an error; --standard-feeds=false
// needs neither.
func TestConfigSite(t *testing.T) {
	t.Setenv(mapping.KeyEnv, "")
	c := newTestConfig(t)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.site.TimeZone != "America/Chicago" || !c.randomKey || len(c.key) != 32 {
		t.Errorf("time zone %q, random key %v (%d bytes); want the example's, a random 32-byte key", c.site.TimeZone, c.randomKey, len(c.key))
	}
	t.Setenv(mapping.KeyEnv, "short")
	if err := newTestConfig(t).Validate(); err == nil || !strings.Contains(err.Error(), "at least 32 bytes") {
		t.Errorf("short key: %v", err)
	}
	if err := newTestConfig(t, "--standard-feeds=false", "--site-config", "testdata/nope.yaml").Validate(); err != nil {
		t.Errorf("--standard-feeds=false: %v", err)
	}
	t.Setenv(mapping.KeyEnv, strings.Repeat("k", 32))
	c = newTestConfig(t, "--site-config", "../../docs/examples/site-config.yaml")
	if err := c.Validate(); err != nil || c.randomKey || string(c.key) != strings.Repeat("k", 32) {
		t.Errorf("--site-config with a key: %v, random key %v", err, c.randomKey)
	}
}

// TestConfigRoles: a DSN without a user gives each part its user with its
// password (the dev defaults of deploy/local/clickhouse.sh unless set) on
// the DSN's server, database and options; a DSN with a user is every part's.
func TestConfigRoles(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want [3]string
	}{
		{nil, [3]string{
			"clickhouse://referralops_migrator:migrator-dev@127.0.0.1:9000/referralops",
			"clickhouse://referralops_writer:writer-dev@127.0.0.1:9000/referralops",
			"clickhouse://referralops_exporter:exporter-dev@127.0.0.1:9000/referralops",
		}},
		{[]string{"--clickhouse-dsn", "clickhouse://ch:9000/demo?dial_timeout=2s", "--writer-password", "w", "--migrator-password", "m", "--exporter-password", "x"}, [3]string{
			"clickhouse://referralops_migrator:m@ch:9000/demo?dial_timeout=2s",
			"clickhouse://referralops_writer:w@ch:9000/demo?dial_timeout=2s",
			"clickhouse://referralops_exporter:x@ch:9000/demo?dial_timeout=2s",
		}},
		{[]string{"--clickhouse-dsn", "clickhouse://default@127.0.0.1:9000/mydb", "--writer-password", "ignored"}, [3]string{
			"clickhouse://default@127.0.0.1:9000/mydb", "clickhouse://default@127.0.0.1:9000/mydb", "clickhouse://default@127.0.0.1:9000/mydb",
		}},
	} {
		c := newTestConfig(t, tc.args...)
		m, w, x, err := c.roles()
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]string{m.cfg.DSN, w.cfg.DSN, x.cfg.DSN}; got != tc.want {
			t.Errorf("%v: DSNs %q, want %q", tc.args, got, tc.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"strings"
	"testing"
)

// loadIngest runs the config layering of `referralops ingest` and returns the
// resulting settings, without running the command.
func loadIngest(t *testing.T, env map[string]string, args ...string) (*fileConfig, int, string) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var stderr bytes.Buffer
	var got *fileConfig
	commands["probe"] = command{summary: "test", setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		validate, _ := ingestCommand.setup(fs, file)
		got = file
		return validate, func(context.Context, *slog.Logger) error { return nil }
	}}
	t.Cleanup(func() { delete(commands, "probe") })
	code := run(append([]string{"probe"}, args...), &stderr, &stderr)
	return got, code, stderr.String()
}

func TestConfigPrecedence(t *testing.T) {
	// defaults → file → environment → flags
	cfg, code, out := loadIngest(t, map[string]string{
		"REFERRALOPS_KAFKA_BROKERS": "env-broker:9092",
		"REFERRALOPS_GROUP":         "env-group",
	}, "--config", "testdata/ingest.yaml", "--group", "flag-group")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	checks := []struct{ name, got, want string }{
		{"dsn from file", cfg.ClickHouse.DSN, "clickhouse://file-host:9000/fromfile"},
		{"brokers from env over file", cfg.Kafka.Brokers.String(), "env-broker:9092"},
		{"group from flag over env and file", cfg.Ingest.Group, "flag-group"},
		{"topic from file", cfg.Kafka.Topics.Referrals, "file-referrals"},
		{"default kept", cfg.Kafka.Topics.Scheduling, "scheduling-events"},
		{"batch age from file", cfg.Ingest.BatchMaxAge.String(), "3s"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Ingest.BatchRows != 1234 {
		t.Errorf("batch rows from file: got %d", cfg.Ingest.BatchRows)
	}
}

func TestInvalidConfigExits2NamingTheSetting(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad flag value", nil, []string{"--batch-rows", "0"}, "batch-rows: must be > 0"},
		{"bad offset policy", nil, []string{"--offset-out-of-range", "latest"}, `offset-out-of-range: must be earliest or fail, got "latest"`},
		{"negative buffer", nil, []string{"--max-buffered-bytes", "-1"}, "max-buffered-bytes: must be >= 0"},
		{"bad env value", map[string]string{"REFERRALOPS_BATCH_MAX_AGE": "soon"}, nil, "REFERRALOPS_BATCH_MAX_AGE"},
		{"bad broker", map[string]string{"REFERRALOPS_KAFKA_BROKERS": "nohost"}, nil, "kafka-brokers: \"nohost\" is not host:port"},
		{"bad dsn", nil, []string{"--clickhouse-dsn", "clickhouse://h:9000/bad-name!"}, "clickhouse-dsn"},
		{"same topic twice", nil, []string{"--topic-dlq", "referral-events"}, "topic-dlq: \"referral-events\" is already used by topic-referrals"},
		{"unknown yaml key", nil, []string{"--config", "testdata/unknown-key.yaml"}, "field batch_rowz not found"},
		{"missing file", nil, []string{"--config", "testdata/nope.yaml"}, "config file"},
		{"unknown flag", nil, []string{"--batch-rowz", "1"}, "flag provided but not defined"},
		{"bad log level", nil, []string{"--log-level", "loud"}, "log-level"},
		// The HL7 v2 and FHIR topics need the patient token key: no key, no start.
		{"site config without key", map[string]string{"REFERRALOPS_PATIENT_TOKEN_KEY": ""},
			[]string{"--site-config", "../../docs/examples/site-config.yaml"}, "REFERRALOPS_PATIENT_TOKEN_KEY is not set"},
		{"bad site config", map[string]string{"REFERRALOPS_PATIENT_TOKEN_KEY": strings.Repeat("k", 32)},
			[]string{"--site-config", "testdata/nope.yaml"}, "site-config"},
		{"standard topic taken", nil, []string{"--topic-hl7v2", "referral-events"}, "topic-hl7v2: \"referral-events\" is already used by topic-referrals"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, code, out := loadIngest(t, tc.env, tc.args...)
			if code != exitBadConfig {
				t.Errorf("exit %d, want %d", code, exitBadConfig)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not name the setting (%q):\n%s", tc.want, out)
			}
		})
	}
}

func TestUnknownCommandExits2(t *testing.T) {
	var out bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &out); code != exitBadConfig {
		t.Errorf("exit %d, want %d", code, exitBadConfig)
	}
	if !strings.Contains(out.String(), `unknown command "frobnicate"`) {
		t.Errorf("output: %s", out.String())
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	var names []string
	for name, cmd := range commands {
		if cmd.actions == nil {
			names = append(names, name)
		}
		for action := range cmd.actions {
			names = append(names, name+" "+action)
		}
	}
	for _, name := range names {
		var out bytes.Buffer
		if code := run(append(strings.Fields(name), "--help"), &out, &out); code != exitOK {
			t.Errorf("%s --help: exit %d", name, code)
		}
		if !strings.Contains(out.String(), "Usage: referralops "+name) || !strings.Contains(out.String(), "REFERRALOPS_") {
			t.Errorf("%s --help lacks usage or the environment note:\n%s", name, out.String())
		}
	}
}

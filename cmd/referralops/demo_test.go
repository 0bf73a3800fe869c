package main

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/demo"
	"github.com/referralops/referralops/internal/testenv"
)

// TestDemoAddressInUse: when the embedded broker's address is taken (a real
// Kafka on 9092), the demo exits 1 and says what to pass instead.
func TestDemoAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := testenv.Start(t, nil, "demo", "--embedded-kafka-listen", ln.Addr().String())
	testenv.Eventually(t, time.Minute, p.Exited, func() string { return "demo did not exit\n" + p.Output() })
	if code := p.Stop(time.Second); code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	for _, want := range []string{ln.Addr().String(), "already in use", "--kafka-brokers", "--embedded-kafka-listen"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("output lacks %q:\n%s", want, p.Output())
		}
	}
}

// TestDemoKafkaBrokersSet: the broker is embedded only when no layer names
// one; a broker named by flag, environment or file is used instead.
func TestDemoKafkaBrokersSet(t *testing.T) {
	dir := t.TempDir()
	withBrokers := filepath.Join(dir, "brokers.yaml")
	withTopics := filepath.Join(dir, "topics.yaml")
	for path, text := range map[string]string{
		withBrokers: "kafka: {brokers: [file-broker:9092]}\n",
		withTopics:  "kafka: {topics: {referrals: file-referrals}}\n",
	} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name     string
		env      string
		args     []string
		embedded bool
		brokers  string
	}{
		{"nothing", "", nil, true, "127.0.0.1:9092"},
		{"listen", "", []string{"--embedded-kafka-listen", "127.0.0.1:19092"}, true, "127.0.0.1:19092"},
		{"flag", "", []string{"--kafka-brokers", "flag-broker:9092"}, false, "flag-broker:9092"},
		{"env", "env-broker:9092", nil, false, "env-broker:9092"},
		{"file", "", []string{"--config", withBrokers}, false, "file-broker:9092"},
		{"file without brokers", "", []string{"--config", withTopics}, true, "127.0.0.1:9092"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("REFERRALOPS_KAFKA_BROKERS", tc.env)
			}
			var cfg *demo.Config
			var file *fileConfig
			commands["probe"] = command{summary: "test", setup: func(fs *flag.FlagSet, f *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
				cfg, file = setupDemo(fs, f), f
				return cfg.Validate, func(context.Context, *slog.Logger) error { return nil }
			}}
			t.Cleanup(func() { delete(commands, "probe") })
			var stderr bytes.Buffer
			if code := run(append([]string{"probe"}, tc.args...), &stderr, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if cfg.Embedded() != tc.embedded || file.Kafka.Brokers.String() != tc.brokers {
				t.Errorf("embedded %v, brokers %s; want %v, %s", cfg.Embedded(), file.Kafka.Brokers.String(), tc.embedded, tc.brokers)
			}
		})
	}
}

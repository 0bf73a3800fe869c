package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
)

// TestDemo runs `referralops demo --exit` on the real servers, with the real
// Kafka broker named by --kafka-brokers (so no broker is embedded), on its
// own topics and database, and checks that it prints the stored events, the
// dead letters and the KPI table.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the servers")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	file := newFileConfig()
	*file.Kafka = kc
	file.ClickHouse.DSN = ch.DSN
	file.Ingest.Group = testenv.UniqueName("demo")
	file.Ingest.Listen = testenv.FreeAddr(t)
	file.Export.Listen = testenv.FreeAddr(t)
	opts := defaultDemoOptions()
	opts.referrals, opts.days = 1500, 30
	opts.stream.InvalidRatio = 0.01 // enough for every dead-letter reason
	opts.exit = true
	opts.timeout = 4 * time.Minute
	opts.prometheusURL = "http://" + testenv.FreeAddr(t) // nobody there
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer // the logger writes from other goroutines
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runDemo(ctx, file.Log.Logger(&out), file, opts, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"Kafka " + kc.Brokers.String(), "replaying 30 days", "events by type", "referral.created",
		"dead letters by reason", "too_large", "referrals by service line", "KPIs as of", "window 30d", "window 90d",
		"Unscheduled backlog", "Referrer activity", "not answering", "stopped cleanly"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "embedded Kafka") {
		t.Errorf("demo embedded a broker although --kafka-brokers was given:\n%s", out.String())
	}
	if n := count(t, ch, "SELECT uniqExact(referral_id) FROM "+ch.Database+".events WHERE event_type = 'referral.created'"); n < 1000 {
		t.Errorf("%d referrals stored, want about 1500", n)
	}
}

// TestDemoEmbedded is the acceptance test of `make demo`: the binary with its
// embedded broker (on a free port: the real Kafka holds 9092), a fresh
// database and a small replay serves KPIs with data on /metrics, streams
// live, and the embedded broker serves an outside client, kcat: it lists the
// topics and a message it produces is stored. SIGTERM stops it with exit 0.
// A second run resumes instead of replaying again.
func TestDemoEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse")
	}
	ch := testenv.ClickHouse(t)
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if testenv.RequireServers() {
			t.Fatalf("kcat is required (REFERRALOPS_REQUIRE_SERVERS=1): %v; apt-get install kcat", err)
		}
		t.Skipf("kcat unavailable: %v", err)
	}
	kafkaAddr, exportAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	args := []string{"demo", "--embedded-kafka-listen", kafkaAddr, "--clickhouse-dsn", ch.DSN,
		"--referrals", "600", "--days", "3", "--listen", testenv.FreeAddr(t), "--export-listen", exportAddr,
		"--refresh-interval", "1s", "--view-interval", "1s", "--live-speed", "600",
		"--prometheus-url", "http://" + testenv.FreeAddr(t)}
	p := testenv.Start(t, nil, append(args, "--fresh")...)

	metricsURL := "http://" + exportAddr + "/metrics"
	var referrals float64
	testenv.Eventually(t, 3*time.Minute, func() bool {
		m, err := testenv.TryScrape(metricsURL)
		if err == nil {
			referrals = m.Sum("referral_referrals")
		}
		return referrals > 0 || p.Exited()
	}, func() string { return "no referral_referrals sample > 0 on " + metricsURL + "\n" + p.Output() })
	if p.Exited() {
		t.Fatalf("demo exited early:\n%s", p.Output())
	}

	// kcat lists the topics of the embedded broker.
	list, err := exec.Command(kcat, "-b", kafkaAddr, "-L", "-m", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, list)
	}
	for _, topic := range []string{"referral-events", "scheduling-events", "communication-events", "referralops-dlq"} {
		if !strings.Contains(string(list), `topic "`+topic+`" with 6 partitions`) {
			t.Errorf("kcat -L does not list %s with 6 partitions:\n%s", topic, list)
		}
	}

	// An event produced by kcat is ingested into ClickHouse.
	id := "kcat-" + testenv.UniqueName("")
	value := validEvent(t, id, "R-KCAT-"+id[5:], time.Now().Add(-time.Minute))
	produce := exec.Command(kcat, "-b", kafkaAddr, "-P", "-t", "referral-events", "-k", "R-KCAT-"+id[5:], "-m", "10")
	produce.Stdin = bytes.NewReader(append(value, '\n'))
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	query := "SELECT count() FROM " + ch.Database + ".events WHERE event_id = '" + id + "'"
	testenv.Eventually(t, time.Minute, func() bool { return count(t, ch, query) == 1 },
		func() string { return "the event produced with kcat was not stored\n" + p.Output() })

	// The live stream adds to the replay.
	testenv.Eventually(t, time.Minute, func() bool { return strings.Count(p.Output(), "\nlive: ") >= 2 },
		func() string { return "no live lines\n" + p.Output() })
	if code := p.Stop(time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.Output())
	}
	out := p.Output()
	for _, want := range []string{"--fresh: dropped ClickHouse database " + ch.Database, "embedded Kafka broker at " + kafkaAddr,
		"kcat -b " + kafkaAddr, "clickhouse-client", "referralops_analyst", "http://" + exportAddr + "/metrics",
		"deploy/grafana/dashboards", "replaying 3 days", "streaming live", "stopped cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	referralsStored := count(t, ch, "SELECT uniqExact(referral_id) FROM "+ch.Database+".events WHERE event_type = 'referral.created'")

	// A second run finds the data and resumes; nothing is doubled.
	p = testenv.Start(t, nil, append(args, "--exit")...)
	testenv.Eventually(t, 3*time.Minute, p.Exited, func() string { return "second run did not exit\n" + p.Output() })
	if code := p.Stop(time.Second); code != 0 {
		t.Fatalf("second run: exit %d:\n%s", code, p.Output())
	}
	if !strings.Contains(p.Output(), "already holds the demo's") {
		t.Errorf("second run does not say it resumes:\n%s", p.Output())
	}
	dupes := count(t, ch, "SELECT count() FROM (SELECT event_id FROM "+ch.Database+".events FINAL GROUP BY event_id HAVING count() > 1)")
	if dupes != 0 {
		t.Errorf("%d event ids stored twice after the second run", dupes)
	}
	if again := count(t, ch, "SELECT uniqExact(referral_id) FROM "+ch.Database+".events WHERE event_type = 'referral.created'"); again < referralsStored {
		t.Errorf("%d referrals after the second run, %d before", again, referralsStored)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// validEvent is ingest/event's valid referral.created with its id, subject
// and time replaced.
func validEvent(t *testing.T, id, subject string, at time.Time) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "ingest", "event", "testdata", "valid", "referral_created.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]any
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	e["id"], e["subject"], e["time"] = id, subject, at.UTC().Format(time.RFC3339)
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func count(t *testing.T, ch *testenv.ClickHouseDB, query string) int64 {
	t.Helper()
	rows, err := ch.Querier().Query(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if len(rows) == 1 {
		fmt.Sscan(rows[0][0], &n)
	}
	return n
}

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
			var opts *demoOptions
			var file *fileConfig
			commands["probe"] = command{summary: "test", setup: func(fs *flag.FlagSet, f *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
				o, validate := setupDemo(fs, f)
				opts, file = o, f
				return validate, func(context.Context, *slog.Logger) error { return nil }
			}}
			t.Cleanup(func() { delete(commands, "probe") })
			var stderr bytes.Buffer
			if code := run(append([]string{"probe"}, tc.args...), &stderr, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if opts.embedded != tc.embedded || file.Kafka.Brokers.String() != tc.brokers {
				t.Errorf("embedded %v, brokers %s; want %v, %s", opts.embedded, file.Kafka.Brokers.String(), tc.embedded, tc.brokers)
			}
		})
	}
}

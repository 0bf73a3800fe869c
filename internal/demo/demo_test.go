package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
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
	brokers := kc.Brokers
	ch := testenv.ClickHouse(t)
	chc, ec, ic, kp, xc := clickhouse.DefaultConfig(), event.DefaultConfig(), ingest.DefaultConfig(), kpi.DefaultConfig(), metrics.DefaultConfig()
	hc := httpserver.DefaultConfig()
	c := NewConfig(Sections{ClickHouse: &chc, Kafka: &kc, Event: &ec, Ingest: &ic, KPI: &kp, Export: &xc, HTTP: &hc})
	kc.Brokers = brokers // named, so none is embedded
	chc.DSN = ch.DSN
	ic.Group = testenv.UniqueName("demo")
	ic.Listen = testenv.FreeAddr(t)
	xc.Listen = testenv.FreeAddr(t)
	c.referrals, c.days = 1500, 30
	c.stream.InvalidRatio = 0.01 // enough for every dead-letter reason
	c.exit = true
	c.timeout = 4 * time.Minute
	c.prometheusURL = "http://" + testenv.FreeAddr(t) // nobody there
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer // the logger writes from other goroutines
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Run(ctx, slog.New(slog.NewJSONHandler(&out, nil)), c, &out); err != nil {
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

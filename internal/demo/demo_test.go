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
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// TestDemo runs `referralops demo --exit` on the real servers, with the real
// Kafka broker named by --kafka-brokers (so no broker is embedded), on its
// own topics and database, and checks that it prints the stored events, the
// events by input format (HL7 v2 through its MLLP receiver, FHIR and
// CloudEvents, each non-zero), the dead letters and the KPI table. The same
// run with --standard-feeds=false (all CloudEvents) stores the same
// referrals: the KPIs of both, as of the same time, are identical.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the servers")
	}
	now := time.Now().UTC().Truncate(time.Second)
	mixed, mixedKPIs, mixedFacts := runDemo(t, testenv.ClickHouse(t), true, now)
	for _, want := range []string{"replaying 30 days", "events by type", "referral.created", "by input format",
		"dead letters by reason", "too_large", "referrals by service line", "KPIs as of", "window 30d", "window 90d",
		"Unscheduled backlog", "Referrer activity", "not answering", "stopped cleanly", "through the MLLP receiver at"} {
		if !strings.Contains(mixed, want) {
			t.Errorf("demo output lacks %q:\n%s", want, mixed)
		}
	}
	if strings.Contains(mixed, "embedded Kafka") {
		t.Errorf("demo embedded a broker although --kafka-brokers was given:\n%s", mixed)
	}
	rows := formatRows(t, mixed)
	for _, f := range []string{"cloudevents", "hl7v2", "fhir"} {
		r, ok := rows[f]
		if !ok || r[0] == 0 || r[1] == 0 {
			t.Errorf("by input format: %s row %v, want messages and events > 0:\n%s", f, r, mixed)
		}
	}
	if r := rows["hl7v2"]; r[2] != 0 || r[3] != 0 {
		t.Errorf("the HL7 v2 feed had %d skipped and %d dead-lettered messages, want none", r[2], r[3])
	}

	all, allKPIs, allFacts := runDemo(t, testenv.ClickHouse(t), false, now)
	if rows := formatRows(t, all); len(rows) != 1 || rows["cloudevents"][1] == 0 {
		t.Errorf("--standard-feeds=false: by input format %v, want cloudevents only", rows)
	}
	if mixedKPIs != allKPIs {
		t.Errorf("KPIs differ between the mixed feeds and all CloudEvents:\n%s\n---\n%s", mixedKPIs, allKPIs)
	}
	if mixedFacts != allFacts {
		t.Errorf("stored referrals differ between the mixed feeds and all CloudEvents")
		for i, m := range strings.Split(mixedFacts, "\n") {
			if a := strings.Split(allFacts, "\n"); i >= len(a) || a[i] != m {
				t.Fatalf("first difference:\nmixed %s\n  all %s", m, a[min(i, len(a)-1)])
			}
		}
	}
}

// runDemo runs the demo with --exit as of now on fresh topics and ch, as
// the admin user, and returns its output, its KPIs as of now (JSON), and
// what it stored: every referral with the fields the KPIs group by, and the
// events by type.
func runDemo(t *testing.T, ch *testenv.ClickHouseDB, standardFeeds bool, now time.Time) (out, kpis, facts string) {
	t.Helper()
	c, kc, kp := demoConfig(t, adminDSN(ch), standardFeeds, now)
	var buf syncBuffer // the logger writes from other goroutines
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Run(ctx, slog.New(slog.NewJSONHandler(&buf, nil)), c, &buf); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !strings.Contains(buf.String(), "Kafka "+kc.Brokers.String()) {
		t.Errorf("demo output does not name the broker:\n%s", buf.String())
	}
	if n := count(t, ch, "SELECT uniqExact(referral_id) FROM "+schema.EventsTable(ch.Database)+" WHERE event_type = 'referral.created'"); n < 1000 {
		t.Errorf("%d referrals stored, want about 1500", n)
	}
	snap, err := kpi.Request{DB: ch.Database, AsOf: now, Windows: kp.Windows}.Evaluate(ctx, ch.Querier())
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := kpi.WriteJSON(&b, snap); err != nil {
		t.Fatal(err)
	}
	var f strings.Builder
	for _, q := range []string{
		"SELECT referral_id, toUnixTimestamp(event_time), referrer_id, referrer_org_id, referrer_type, referrer_network, service_line, location_id, " +
			"destination_network, payer_class, priority FROM " + schema.EventsTable(ch.Database) + " FINAL WHERE event_type = 'referral.created' ORDER BY referral_id",
		"SELECT event_type, uniqExact(event_id) FROM " + schema.EventsTable(ch.Database) + " GROUP BY event_type ORDER BY event_type",
	} {
		rows, err := ch.Querier().Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			f.WriteString(strings.Join(r, " ") + "\n")
		}
	}
	return buf.String(), b.String(), f.String()
}

// formatRows reads the demo's "by input format" table: format → messages,
// events, skipped, dead letters.
// demoConfig is a validated --exit configuration of a small replay on dsn
// and fresh topics of the real broker, as of now.
func demoConfig(t *testing.T, dsn string, standardFeeds bool, now time.Time) (*Config, *broker.Config, *kpi.Config) {
	t.Helper()
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	if err := testenv.CreateTopics(context.Background(), kc.Brokers, kc.Topics.HL7v2, kc.Topics.FHIR); err != nil {
		t.Fatal(err)
	}
	brokers := kc.Brokers
	chc, ec, ic, kp, xc := clickhouse.DefaultConfig(), event.DefaultConfig(), ingest.DefaultConfig(), kpi.DefaultConfig(), metrics.DefaultConfig()
	hc := httpserver.DefaultConfig()
	c := NewConfig(Sections{ClickHouse: &chc, Kafka: &kc, Event: &ec, Ingest: &ic, KPI: &kp, Export: &xc, HTTP: &hc})
	kc.Brokers = brokers // named, so none is embedded
	chc.DSN = dsn
	ic.Group = testenv.UniqueName("demo")
	ic.Listen = testenv.FreeAddr(t)
	xc.Listen = testenv.FreeAddr(t)
	c.referrals, c.days = 1500, 30
	c.stream.InvalidRatio = 0.01 // enough for every dead-letter reason
	c.exit = true
	c.timeout = 4 * time.Minute
	c.prometheusURL = "http://" + testenv.FreeAddr(t) // nobody there
	c.standardFeeds = standardFeeds
	c.now = func() time.Time { return now }
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c, &kc, &kp
}

// adminDSN is ch's DSN naming the admin user: the demo then runs every part
// as it, on a database the referralops_* users of the shared server are not
// allowed.
func adminDSN(ch *testenv.ClickHouseDB) string {
	return strings.Replace(ch.DSN, "clickhouse://", "clickhouse://default@", 1)
}

// TestDemoUsers runs the demo as `make demo` does, with a DSN that names no
// user, on a ClickHouse server of its own with deploy/local's users.xml: it
// connects as the least-privilege users with their dev passwords, and
// system.query_log shows --fresh's DROP and the migrations run as
// referralops_migrator, the inserts as referralops_writer, the exporter's
// queries as referralops_exporter, and nothing as the admin user. With a
// wrong writer password it fails naming the user and its flag, before
// --fresh drops anything.
func TestDemoUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the servers")
	}
	ch := testenv.ReaderClickHouse(t)
	now := time.Now().UTC().Truncate(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	c, _, _ := demoConfig(t, ch.DSN, false, now)
	c.referrals, c.days, c.fresh = 300, 3, true
	c.users.writer = "not-the-writer-password"
	var buf syncBuffer
	err := Run(ctx, slog.New(slog.NewJSONHandler(&buf, nil)), c, &buf)
	if err == nil || !strings.Contains(err.Error(), "connect as "+schema.WriterUser+" (its password: --writer-password or REFERRALOPS_WRITER_PASSWORD") {
		t.Fatalf("with a wrong writer password: %v, want an error naming %s and its flag\n%s", err, schema.WriterUser, buf.String())
	}
	if n := count(t, ch, "SELECT count() FROM system.databases WHERE name = '"+ch.Database+"'"); n != 1 {
		t.Fatalf("the demo dropped %s although it could not connect as the writer", ch.Database)
	}

	// The log is kept per second: from the first second after the admin set
	// the server up, what runs is the demo's (and the clock's polls below).
	const clock = "SELECT toUnixTimestamp(now())"
	serverNow := func() string {
		rows, err := ch.Querier().Query(ctx, clock)
		if err != nil {
			t.Fatal(err)
		}
		return rows[0][0]
	}
	setUp := serverNow()
	var since string
	testenv.Eventually(t, 10*time.Second, func() bool { since = serverNow(); return since > setUp },
		func() string { return "the server's clock stays at " + setUp })
	c, _, _ = demoConfig(t, ch.DSN, false, now)
	c.referrals, c.days, c.fresh = 300, 3, true
	var out syncBuffer
	if err := Run(ctx, slog.New(slog.NewJSONHandler(&out, nil)), c, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if err := ch.Conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	rows, err := ch.Querier().Query(ctx, "SELECT user, countIf(query LIKE 'DROP DATABASE%'), countIf(query LIKE 'CREATE%'), "+
		"countIf(query LIKE 'INSERT INTO "+schema.EventsTable(ch.Database)+"%'), count() FROM system.query_log "+
		"WHERE type = 2 AND event_time >= toDateTime("+since+") AND query NOT LIKE '%system.query_log%' AND query != '"+clock+"' AND query NOT LIKE 'SYSTEM FLUSH%' "+
		"GROUP BY user ORDER BY user")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r[0]] = strings.Join(r[1:], " ")
	}
	check := func(user, what string, ok func(drops, creates, inserts, all int64) bool) {
		var drops, creates, inserts, all int64
		fmt.Sscan(got[user], &drops, &creates, &inserts, &all)
		if !ok(drops, creates, inserts, all) {
			t.Errorf("%s: %s; per user DROP DATABASE, CREATE, INSERT INTO events, all queries: %v", user, what, got)
		}
	}
	check(schema.MigratorUser, "want both DROP DATABASEs, CREATEs, no INSERT", func(d, c, i, _ int64) bool { return d == 2 && c > 0 && i == 0 })
	check(schema.WriterUser, "want INSERTs, no DDL", func(d, c, i, _ int64) bool { return d == 0 && c == 0 && i > 0 })
	check(schema.ExporterUser, "want queries, no DDL or INSERT", func(d, c, i, a int64) bool { return d == 0 && c == 0 && i == 0 && a > 0 })
	if len(got) != 3 {
		t.Errorf("queries by users other than the demo's three: %v", got)
	}
	if n := count(t, ch, "SELECT uniqExact(referral_id) FROM "+schema.EventsTable(ch.Database)+" WHERE event_type = 'referral.created'"); n == 0 {
		t.Errorf("the demo stored no referrals:\n%s", out.String())
	}
}

func formatRows(t *testing.T, out string) map[string][4]int64 {
	t.Helper()
	_, table, ok := strings.Cut(out, "\nby input format")
	if !ok {
		t.Fatalf("no by input format table:\n%s", out)
	}
	rows := map[string][4]int64{}
	for _, line := range strings.Split(table, "\n")[1:] {
		var name string
		var r [4]int64
		if n, _ := fmt.Sscan(line, &name, &r[0], &r[1], &r[2], &r[3]); n != 5 {
			break
		}
		rows[name] = r
	}
	return rows
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
	args := []string{"demo", "--embedded-kafka-listen", kafkaAddr, "--clickhouse-dsn", adminDSN(ch),
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
	for _, topic := range []string{"referral-events", "scheduling-events", "communication-events", "referralops-dlq", "hl7v2-messages", "fhir-resources"} {
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
	query := "SELECT count() FROM " + schema.EventsTable(ch.Database) + " WHERE event_id = '" + id + "'"
	testenv.Eventually(t, time.Minute, func() bool { return count(t, ch, query) == 1 },
		func() string { return "the event produced with kcat was not stored\n" + p.Output() })

	// The live stream adds to the replay.
	testenv.Eventually(t, time.Minute, func() bool { return strings.Count(p.Output(), "\nlive: ") >= 2 },
		func() string { return "no live lines\n" + p.Output() })
	if code := p.Stop(time.Minute); code != 0 {
		t.Fatalf("exit %d after SIGTERM, want 0:\n%s", code, p.Output())
	}
	out := p.Output()
	for _, want := range []string{"--fresh: dropped ClickHouse databases " + ch.Database + " and " + schema.PHIDatabase(ch.Database), "embedded Kafka broker at " + kafkaAddr,
		"kcat -b " + kafkaAddr, "clickhouse-client", "referralops_analyst", "http://" + exportAddr + "/metrics",
		"deploy/grafana/dashboards", "replaying 3 days", "streaming live", "stopped cleanly"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	referralsStored := count(t, ch, "SELECT uniqExact(referral_id) FROM "+schema.EventsTable(ch.Database)+" WHERE event_type = 'referral.created'")

	// A second run finds the data and resumes; nothing is doubled.
	p = testenv.Start(t, nil, append(args, "--exit")...)
	testenv.Eventually(t, 3*time.Minute, p.Exited, func() string { return "second run did not exit\n" + p.Output() })
	if code := p.Stop(time.Second); code != 0 {
		t.Fatalf("second run: exit %d:\n%s", code, p.Output())
	}
	if !strings.Contains(p.Output(), "already holds the demo's") {
		t.Errorf("second run does not say it resumes:\n%s", p.Output())
	}
	dupes := count(t, ch, "SELECT count() FROM (SELECT event_id FROM "+schema.EventsTable(ch.Database)+" FINAL GROUP BY event_id HAVING count() > 1)")
	if dupes != 0 {
		t.Errorf("%d event ids stored twice after the second run", dupes)
	}
	if again := count(t, ch, "SELECT uniqExact(referral_id) FROM "+schema.EventsTable(ch.Database)+" WHERE event_type = 'referral.created'"); again < referralsStored {
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

package ingest_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// The fault suite's outages and membership changes: a dependency or a group
// member goes away while batches are in flight, and the end is exact sets,
// as the end-to-end tests check them.

// faultDataset is a few thousand referrals' messages with duplicates, shuffled
// order and invalid messages: enough to be mid-stream when a fault strikes,
// few enough to keep a test short.
func faultDataset(t *testing.T, kc broker.Config, seed int64) *dataset {
	t.Helper()
	d, _ := collect(t, kc, e2eConfig(3000, seed, 30))
	return d
}

// part is d's messages from i to j, with d's expectations.
func (d *dataset) part(i, j int) *dataset {
	p := *d
	p.messages = d.messages[i:j]
	return &p
}

// storedCount is how many distinct event ids db.events holds (-1 while it
// cannot be read).
func storedCount(ch *testenv.ClickHouseDB) int {
	var n uint64
	if err := ch.Conn.QueryRow(context.Background(), "SELECT uniqExact(event_id) FROM "+schema.EventsTable(ch.Database)).Scan(&n); err != nil {
		return -1
	}
	return int(n)
}

// checkFactsAsUninterrupted ingests kc's topics again with a group and
// database of their own, with nothing going wrong, and asserts that db's
// per-referral facts are identical to that run's.
func checkFactsAsUninterrupted(t *testing.T, kc broker.Config, d *dataset, db *testenv.ClickHouseDB) {
	t.Helper()
	clean := testenv.ClickHouse(t)
	group := testenv.UniqueName("g")
	ingester(t, kc, clean.DSN, group)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	asOf := d.cfg.End.Add(24 * time.Hour)
	want, got := referralFacts(t, clean, asOf), referralFacts(t, db, asOf)
	if len(want) < d.cfg.Referrals {
		t.Fatalf("uninterrupted run has facts for %d referrals, want >= %d", len(want), d.cfg.Referrals)
	}
	if !slices.EqualFunc(got, want, func(a, b schema.ReferralFact) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("per-referral facts differ from an uninterrupted run: %d vs %d referrals; first difference %s", len(got), len(want), firstDiff(got, want))
	}
}

// TestFaultKafkaBrokerKilled SIGKILLs the only broker of a test's own Kafka
// while the ingester is part-way through the stream, keeps it down for 10 s
// and restarts it on the same data: the ingester rides it out (not exiting),
// and ends with the exact stored ids, the exact dead letters, and the facts of
// an uninterrupted run.
func TestFaultKafkaBrokerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	step := testenv.Stopwatch(t)
	k := testenv.StartKafka(t, testenv.KafkaOptions{})
	kc := testenv.Topics(t, []string{k.Plain})
	ch := testenv.ClickHouse(t)
	d := faultDataset(t, kc, 11)
	step(fmt.Sprintf("broker up, %d messages generated", len(d.messages)))

	// Two thirds before the kill, the rest once the broker is back: the kill
	// comes after the first commit, with records still arriving.
	cut := 2 * len(d.messages) / 3
	d.part(0, cut).produce(t, kc, nil)
	group := testenv.UniqueName("g")
	p, _ := ingester(t, kc, ch.DSN, group, "--batch-rows", "500")
	var stored int
	testenv.Eventually(t, 2*time.Minute, func() bool {
		stored = storedCount(ch)
		return stored > 0
	}, func() string { return "nothing stored before the kill:\n" + p.Output() })
	k.Kill(t)
	step(fmt.Sprintf("broker killed with %d of %d valid events stored", stored, len(d.validIDs)))

	// The outage: 10 s of a dead broker (a duration to survive, not a wait
	// for anything).
	time.Sleep(10 * time.Second)
	if p.Exited() {
		t.Fatalf("the ingester exited while the broker was down:\n%s", p.Output())
	}
	k.Start(t)
	step("broker restarted")
	d.part(cut, len(d.messages)).produce(t, kc, nil)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	step("all committed")
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
	if p.Exited() {
		t.Fatalf("the ingester exited:\n%s", p.Output())
	}
	checkFactsAsUninterrupted(t, kc, d, ch)
	step("facts equal an uninterrupted run")
}

// TestFaultIngesterJoinsAndLeaves runs one ingester, starts a second in the
// same group part-way through the stream, and later stops the first with
// SIGTERM: the two end with the exact sets. The stream comes in chunks, each
// produced once the one before it is stored, so records are waiting for the
// group at both moments, however fast the machine.
func TestFaultIngesterJoinsAndLeaves(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	step := testenv.Stopwatch(t)
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d := faultDataset(t, kc, 12)
	const chunks, join, leave = 10, 2, 7
	n := len(d.messages)
	chunk := func(c int) *dataset { return d.part(c*n/chunks, (c+1)*n/chunks) }
	// storedBefore[c] is the distinct valid events of the chunks before c.
	storedBefore := make([]int, chunks)
	seen := map[string]bool{}
	for c := range chunks - 1 {
		for _, m := range chunk(c).messages {
			if m.Invalid == "" {
				seen[m.EventID] = true
			}
		}
		storedBefore[c+1] = len(seen)
	}
	metric := func(base, name string) float64 {
		m, err := testenv.TryScrape(base + "/metrics")
		if err != nil {
			return -1
		}
		return m.Sum(name)
	}

	group := testenv.UniqueName("g")
	args := []string{"--batch-rows", "500"}
	first, firstBase := ingester(t, kc, ch.DSN, group, args...)
	var second *testenv.Process
	var secondBase string
	for c := range chunks {
		if c == join+1 { // chunks from here on are shared by both members
			testenv.Eventually(t, 2*time.Minute, func() bool {
				return metric(secondBase, "referralops_ingest_assigned_partitions") > 0
			}, func() string { return "the second ingester got no partitions:\n" + second.Output() })
		}
		chunk(c).produce(t, kc, nil)
		testenv.Eventually(t, 2*time.Minute, func() bool { return storedCount(ch) >= storedBefore[c] },
			func() string {
				return fmt.Sprintf("chunk %d: %d events stored, want %d", c, storedCount(ch), storedBefore[c])
			})
		switch c {
		case join:
			second, secondBase = ingester(t, kc, ch.DSN, group, args...)
			step(fmt.Sprintf("second ingester started with %d of %d valid events stored", storedCount(ch), len(d.validIDs)))
		case leave:
			testenv.Eventually(t, 2*time.Minute, func() bool {
				return metric(secondBase, "referralops_ingest_records_total") > 0
			}, func() string { return "the second ingester consumed nothing:\n" + second.Output() })
			if metric(firstBase, "referralops_ingest_records_total") <= 0 {
				t.Errorf("the first ingester consumed nothing")
			}
			step(fmt.Sprintf("first ingester stopped with %d of %d valid events stored", storedCount(ch), len(d.validIDs)))
			if code := first.Stop(time.Minute); code != 0 {
				t.Fatalf("the first ingester exited %d after SIGTERM, want 0:\n%s", code, first.Output())
			}
		}
	}
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	step("all committed")
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
	if second.Exited() {
		t.Fatalf("the second ingester exited:\n%s", second.Output())
	}
}

// unstoredBatch is how the ingester names a batch it could not store at
// shutdown: "topic/partition first-last", comma-separated.
var unstoredBatch = regexp.MustCompile(`([A-Za-z0-9._-]+)/(\d+) (\d+)-(\d+)`)

// TestFaultSIGTERMDuringClickHouseOutage stops a ClickHouse server of the
// test's own while a batch waits for it, then sends the ingester SIGTERM: it
// exits with status 1 within its shutdown grace, naming the unstored batch by
// topic, partition and offsets (never an id), and commits none of it. Once
// ClickHouse is back, a new ingester in the same group ends with the exact
// sets.
func TestFaultSIGTERMDuringClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	step := testenv.Stopwatch(t)
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	server := testenv.StartClickHouseServer(t)
	ch := server.Database(t)
	d := faultDataset(t, kc, 13)
	step("ClickHouse up")

	const grace = 5 * time.Second
	group := testenv.UniqueName("g")
	args := []string{"--batch-rows", "500", "--shutdown-grace", grace.String()}
	p, base := ingester(t, kc, ch.DSN, group, args...)
	half := len(d.messages) / 2
	d.part(0, half).produce(t, kc, nil)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	server.Stop(t)
	step("first half committed, ClickHouse stopped")
	d.part(half, len(d.messages)).produce(t, kc, nil)
	testenv.Eventually(t, time.Minute, func() bool {
		m, err := testenv.TryScrape(base + "/metrics")
		return err == nil && m.Sum("referralops_ingest_insert_errors_total") > 0
	}, func() string { return "no insert failed while ClickHouse was down:\n" + p.Output() })

	// Within the grace, plus what a process needs to close its connections.
	if code := p.Stop(grace + 10*time.Second); code != 1 {
		t.Fatalf("ingest exited %d after SIGTERM during the outage, want 1:\n%s", code, p.Output())
	}
	step("ingester stopped")
	log := p.Output()
	var named []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "shutdown grace period expired") {
			named = append(named, unstoredBatch.FindAllString(line, -1)...)
			for _, m := range unstoredBatch.FindAllStringSubmatch(line, -1) {
				checkNotCommitted(t, kc, group, m)
			}
		}
	}
	if len(named) == 0 {
		t.Fatalf("the log does not name the unstored batch by topic/partition offsets:\n%s", log)
	}
	t.Logf("unstored batch named in the log: %s", strings.Join(named, ", "))
	checkNoIDsLogged(t, log, d)

	server.Start(t)
	ingester(t, kc, ch.DSN, group, args...)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	step("ClickHouse back, all committed")
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
}

// checkNotCommitted asserts that group's committed offset of the partition
// of a named range (topic, partition, first, last) is not past its first
// offset: what the log says was not stored was not committed either.
func checkNotCommitted(t *testing.T, kc broker.Config, group string, m []string) {
	t.Helper()
	partition, _ := strconv.Atoi(m[2])
	first, _ := strconv.ParseInt(m[3], 10, 64)
	offsets, err := broker.CommittedOffsets(context.Background(), kc, group, m[1])
	if err != nil {
		t.Fatalf("%s: %v", m[0], err)
	}
	if off, ok := offsets[partition]; ok && off > first {
		t.Errorf("the log says %s was not stored, but the group committed offset %d", m[0], off)
	}
}

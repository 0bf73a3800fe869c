package ingest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// The end-to-end tests run the real binary against the real ClickHouse server and
// Apache Kafka broker of `make services-up`, on generated data with duplicates,
// out-of-order delivery and invalid messages of every dead-letter reason, and
// check exact sets: every valid event id stored, every invalid message
// dead-lettered with its reason, every partition committed to its end.

// maxMessageBytes is the ingester's size limit in these tests: small enough that
// a too_large message still fits the broker's default 1 MB limit.
const maxMessageBytes = 256 << 10

// dataset is generated messages and what ingesting them must produce.
type dataset struct {
	cfg      generator.Config
	messages []generator.Message
	validIDs map[string]bool
	// invalid counts the expected dead letters by (source topic, reason, value hash).
	invalid map[deadLetterKey]int
}

type deadLetterKey struct {
	topic, reason string
	sum           [32]byte
}

func generate(t *testing.T, kc broker.Config, referrals int, seed int64) *dataset {
	t.Helper()
	d, stats := collect(t, kc, e2eConfig(referrals, seed, 30))
	if stats.Events < 100_000 {
		t.Fatalf("dataset has %d events, want >= 100000", stats.Events)
	}
	reasons := map[event.Reason]bool{}
	for _, m := range d.messages {
		reasons[m.Invalid] = true
	}
	for _, r := range event.Reasons() {
		if !reasons[r] {
			t.Fatalf("dataset has no invalid message of reason %s", r)
		}
	}
	return d
}

// e2eConfig is the generator settings of the end-to-end tests: duplicates,
// shuffled order and invalid messages of every reason.
func e2eConfig(referrals int, seed int64, days int) generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Seed = seed
	cfg.Referrals = referrals
	cfg.Days = days
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.05
	cfg.InvalidRatio = 0.01
	cfg.Shuffle = true
	cfg.MaxMessageBytes = maxMessageBytes
	return cfg
}

// collect generates cfg's messages and what ingesting them from kc's topics
// must produce.
func collect(t *testing.T, kc broker.Config, cfg generator.Config) (*dataset, generator.Stats) {
	t.Helper()
	d := &dataset{cfg: cfg, validIDs: map[string]bool{}, invalid: map[deadLetterKey]int{}}
	stats, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		d.messages = append(d.messages, m)
		if m.Invalid != "" {
			d.invalid[deadLetterKey{kc.Topics.For(m.Stream), string(m.Invalid), sha256.Sum256(m.Value)}]++
		} else {
			d.validIDs[m.EventID] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, stats
}

// produce writes the messages to their topics; progress, if not nil, is called
// with the count acknowledged so far after each chunk.
func (d *dataset) produce(t *testing.T, kc broker.Config, progress func(done int)) {
	t.Helper()
	ctx := context.Background()
	p, err := broker.NewProducer(kc, 2000)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range d.messages {
		var hs []kafka.Header
		for _, h := range m.Headers {
			hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if err := p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, hs); err != nil {
			t.Error(err)
			return
		}
		if progress != nil && (i+1)%2000 == 0 {
			progress(p.Written())
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Error(err)
	}
}

// ingester starts `referralops ingest` on kc's topics into db.
func ingester(t *testing.T, kc broker.Config, dsn, group string, extra ...string) (*testenv.Process, string) {
	t.Helper()
	addr := testenv.FreeAddr(t)
	args := []string{"ingest",
		"--kafka-brokers", kc.Brokers.String(),
		"--topic-referrals", kc.Topics.Referrals,
		"--topic-scheduling", kc.Topics.Scheduling,
		"--topic-communications", kc.Topics.Communications,
		"--topic-dlq", kc.Topics.DeadLetters,
		"--group", group,
		"--listen", addr,
		"--batch-max-age", "200ms",
		"--max-message-bytes", strconv.Itoa(maxMessageBytes),
		"--retry-backoff-max", "2s",
		"--log-format", "json",
	}
	args = append(args, extra...)
	// The DSN goes by environment, as operators pass secrets.
	p := testenv.Start(t, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + dsn}, args...)
	return p, "http://" + addr
}

// checkStored asserts that the distinct event ids in the database's events table are exactly the
// valid generated ones.
func checkStored(t *testing.T, ch *testenv.ClickHouseDB, want map[string]bool) {
	t.Helper()
	got := map[string]bool{}
	rows, err := ch.Conn.Query(context.Background(), "SELECT DISTINCT event_id FROM "+schema.EventsTable(ch.Database)+"")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got[id] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("stored event ids differ from the valid generated ones: %d stored, %d expected, %d missing (e.g. %v), %d unexpected (e.g. %v)",
			len(got), len(want), len(missing), first(missing), len(extra), first(extra))
	}
}

// checkDeadLetters reads the whole dead-letter topic and asserts that it holds
// exactly the invalid messages, each with its reason and source headers. A
// message dead-lettered twice (redelivery after a crash) counts once, by its
// source topic, partition and offset.
func checkDeadLetters(t *testing.T, kc broker.Config, want map[deadLetterKey]int) {
	t.Helper()
	got := map[deadLetterKey]int{}
	seen := map[string]bool{}
	end, err := broker.EndOffsets(context.Background(), kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	for p, last := range end[kc.Topics.DeadLetters] {
		if last == 0 {
			continue
		}
		// A short MaxWait: Close waits for the fetch past the end, which
		// would otherwise hold each partition's reader for kafka-go's 10 s.
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: kc.Topics.DeadLetters, Partition: p, MaxBytes: 8 << 20,
			MaxWait: 250 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("read dead letters %d/%d: %v", p, last, err)
			}
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			for _, k := range []string{ingest.HeaderReason, ingest.HeaderError, ingest.HeaderTopic, ingest.HeaderPartition, ingest.HeaderOffset} {
				if h[k] == "" {
					t.Fatalf("dead letter at %d/%d lacks header %s", p, m.Offset, k)
				}
			}
			source := h[ingest.HeaderTopic] + "/" + h[ingest.HeaderPartition] + "/" + h[ingest.HeaderOffset]
			if !seen[source] {
				seen[source] = true
				got[deadLetterKey{h[ingest.HeaderTopic], h[ingest.HeaderReason], sha256.Sum256(m.Value)}]++
			}
			if m.Offset+1 >= last {
				break
			}
		}
		cancel()
		r.Close()
	}
	if !maps.Equal(got, want) {
		t.Fatalf("dead letters differ: got %s, want %s", summarize(got), summarize(want))
	}
}

func summarize(m map[deadLetterKey]int) string {
	byReason := map[string]int{}
	total := 0
	for k, n := range m {
		byReason[k.topic+":"+k.reason] += n
		total += n
	}
	keys := slices.Sorted(maps.Keys(byReason))
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages [", total)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, byReason[k])
	}
	b.WriteString(" ]")
	return b.String()
}

func first(ids []string) []string {
	slices.Sort(ids)
	return ids[:min(3, len(ids))]
}

func TestIngestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d := generate(t, kc, 24000, 1)
	d.produce(t, kc, nil)

	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group)
	testenv.Eventually(t, 60*time.Second, func() bool { return testenv.HTTPStatus(base+"/readyz") == 200 },
		func() string { return "/readyz never became 200" })
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)

	metrics := testenv.Scrape(t, base+"/metrics")
	var deadTotal float64
	for _, r := range event.Reasons() {
		n := metrics.Value(t, "referralops_ingest_dead_letters_total", "reason", string(r))
		if n == 0 {
			t.Errorf("referralops_ingest_dead_letters_total{reason=%q} = 0", r)
		}
		deadTotal += n
	}
	if want := float64(len(d.messages) - countValid(d)); deadTotal != want {
		t.Errorf("dead letters counted %v, want %v", deadTotal, want)
	}
	if code := p.Stop(30 * time.Second); code != 0 {
		t.Errorf("ingest exited %d after SIGTERM, want 0", code)
	}
	checkNoIDsLogged(t, p.Output(), d)
}

// checkNoIDsLogged asserts that no referral id or event id reached the log.
func checkNoIDsLogged(t *testing.T, log string, d *dataset) {
	t.Helper()
	for _, m := range d.messages {
		if len(m.Key) > 0 && strings.Contains(log, string(m.Key)) {
			t.Fatalf("a referral id is in the ingester's log:\n%s", log)
		}
	}
	for id := range d.validIDs {
		if strings.Contains(log, id) {
			t.Fatalf("an event id is in the ingester's log:\n%s", log)
		}
	}
}

// TestIngestWaitsForTopics starts the ingester before its topics exist: it says
// so, stays not ready, and consumes once they are created.
func TestIngestWaitsForTopics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.TopicNames(t, brokers)
	ch := testenv.ClickHouse(t)
	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group)
	testenv.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(p.Output(), "topic does not exist yet") && strings.Contains(p.Output(), kc.Topics.Referrals)
	}, func() string { return "no clear message about the missing topic:\n" + p.Output() })
	if code := testenv.HTTPStatus(base + "/readyz"); code != 503 {
		t.Errorf("/readyz = %d while topics are missing, want 503", code)
	}
	if err := testenv.CreateTopics(context.Background(), brokers, append(kc.Topics.Inputs(), kc.Topics.DeadLetters)...); err != nil {
		t.Fatal(err)
	}
	cfg := generator.DefaultConfig()
	cfg.Referrals, cfg.End, cfg.BinaryRatio = 300, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), 0.2
	d := &dataset{cfg: cfg, validIDs: map[string]bool{}}
	if _, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		d.messages = append(d.messages, m)
		d.validIDs[m.EventID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.produce(t, kc, nil)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	if p.Exited() {
		t.Fatalf("ingester exited:\n%s", p.Output())
	}
}

func countValid(d *dataset) int {
	n := 0
	for _, m := range d.messages {
		if m.Invalid == "" {
			n++
		}
	}
	return n
}

// TestIngestSurvivesSIGKILL kills the ingester twice while messages are still
// being produced; after restarts the stored sets are exact and the per-referral
// facts equal those of an uninterrupted run over the same topics.
func TestIngestSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	killed := testenv.ClickHouse(t)
	d := generate(t, kc, 24000, 2)
	total := len(d.messages)

	group := testenv.UniqueName("g")
	p, _ := ingester(t, kc, killed.DSN, group, "--batch-rows", "2000")
	// The stream in thirds. After each of the first two, once the ingester has
	// committed more than before (so it was working, with batches in flight),
	// it is killed and restarted at once. Waiting for a commit, not for the
	// producer's progress, makes both kills happen however slow the machine.
	var committed int64
	produced := 0
	for i := range 3 {
		part := &dataset{messages: d.messages[i*total/3 : (i+1)*total/3]}
		part.produce(t, kc, nil)
		produced += len(part.messages)
		if i == 2 {
			break
		}
		before := committed
		testenv.Eventually(t, 3*time.Minute, func() bool {
			committed = committedCount(kc, group, produced)
			return committed > before
		}, func() string {
			return fmt.Sprintf("the ingester committed nothing new after %d records (kill %d)", before, i+1)
		})
		p.Kill()
		p, _ = ingester(t, kc, killed.DSN, group, "--batch-rows", "2000")
	}
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, killed, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)

	// The uninterrupted run: same topics, its own group and database.
	clean := testenv.ClickHouse(t)
	cleanGroup := testenv.UniqueName("g")
	ingester(t, kc, clean.DSN, cleanGroup)
	testenv.WaitCommitted(t, kc, cleanGroup, 3*time.Minute)
	asOf := d.cfg.End.Add(24 * time.Hour)
	want := referralFacts(t, clean, asOf)
	got := referralFacts(t, killed, asOf)
	if len(want) < 24000 {
		t.Fatalf("uninterrupted run has facts for %d referrals, want >= 24000", len(want))
	}
	if !slices.EqualFunc(got, want, func(a, b schema.ReferralFact) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Fatalf("per-referral facts differ after kills: %d vs %d referrals; first difference %s", len(got), len(want), firstDiff(got, want))
	}
}

// committedCount is how many of the produced records group has committed (0
// while the lag cannot be read).
func committedCount(kc broker.Config, group string, produced int) int64 {
	lag, err := broker.GroupLag(context.Background(), kc, group, kc.Topics.Inputs()...)
	if err != nil {
		return 0
	}
	return int64(produced) - broker.TotalLag(lag)
}

func referralFacts(t *testing.T, ch *testenv.ClickHouseDB, asOf time.Time) []schema.ReferralFact {
	t.Helper()
	facts, err := schema.ReferralFacts(context.Background(), ch.Querier(), ch.Database, asOf)
	if err != nil {
		t.Fatal(err)
	}
	return facts
}

func firstDiff[T any](a, b []T) string {
	for i := range min(len(a), len(b)) {
		if fmt.Sprint(a[i]) != fmt.Sprint(b[i]) {
			return fmt.Sprintf("at %d: %v vs %v", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("lengths %d vs %d", len(a), len(b))
}

// TestIngestClickHouseOutage stops a dedicated ClickHouse server for 20 s while
// the ingester works: it must not exit, must report not-ready and ready again,
// and must end with the exact sets.
func TestIngestClickHouseOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	server := testenv.StartClickHouseServer(t)
	ch := server.Database(t)
	d := generate(t, kc, 24000, 3)

	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group, "--batch-rows", "5000")
	testenv.Eventually(t, 60*time.Second, func() bool { return testenv.HTTPStatus(base+"/readyz") == 200 },
		func() string { return "/readyz never became 200" })

	half := len(d.messages) / 2
	first, second := *d, *d
	first.messages, second.messages = d.messages[:half], d.messages[half:]
	first.produce(t, kc, nil)
	server.Stop(t)
	testenv.Eventually(t, 30*time.Second, func() bool { return testenv.HTTPStatus(base+"/readyz") == 503 },
		func() string { return "/readyz did not turn 503 while ClickHouse was down" })
	second.produce(t, kc, nil)
	// The outage lasts 20 s from the stop; the ingester keeps retrying meanwhile.
	time.Sleep(20*time.Second - server.SinceStop())
	if p.Exited() {
		t.Fatalf("ingester exited during the outage:\n%s", p.Output())
	}
	server.Start(t)
	testenv.Eventually(t, 60*time.Second, func() bool { return testenv.HTTPStatus(base+"/readyz") == 200 },
		func() string { return "/readyz did not return to 200 after ClickHouse came back" })
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
	if p.Exited() {
		t.Fatalf("ingester exited:\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), "ClickHouse answers again") {
		t.Errorf("the ingester did not log ClickHouse's recovery")
	}
}

// TestTwoIngestersSharePartitions runs two ingesters in one group: both get
// partitions, and together they store the exact sets.
func TestTwoIngestersSharePartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d := generate(t, kc, 24000, 4)

	group := testenv.UniqueName("g")
	_, a := ingester(t, kc, ch.DSN, group)
	_, b := ingester(t, kc, ch.DSN, group)
	assigned := func(base string) float64 {
		m, err := testenv.TryScrape(base + "/metrics")
		if err != nil {
			return -1
		}
		return m.Sum("referralops_ingest_assigned_partitions")
	}
	testenv.Eventually(t, 90*time.Second, func() bool {
		pa, pb := assigned(a), assigned(b)
		return pa > 0 && pb > 0 && pa+pb == 3*testenv.Partitions
	}, func() string {
		return fmt.Sprintf("partitions not split: %v and %v of %d", assigned(a), assigned(b), 3*testenv.Partitions)
	})
	d.produce(t, kc, nil)
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
	ma, _ := testenv.TryScrape(a + "/metrics")
	mb, _ := testenv.TryScrape(b + "/metrics")
	if ma.Sum("referralops_ingest_records_total") == 0 || mb.Sum("referralops_ingest_records_total") == 0 {
		t.Errorf("one ingester consumed nothing: %v and %v records", ma.Sum("referralops_ingest_records_total"), mb.Sum("referralops_ingest_records_total"))
	}
}

package ingest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// The fault suite: one permanent fault at a time, on the real servers through
// the real binary. Each ends with exact sets, as the end-to-end tests do.

// smallDataset is a few hundred referrals' valid events.
func smallDataset(t *testing.T, referrals int) *dataset {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Referrals, cfg.End = referrals, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	d := &dataset{cfg: cfg, validIDs: map[string]bool{}}
	if _, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		d.messages = append(d.messages, m)
		d.validIDs[m.EventID] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFaultPoisonRecord produces a record of about 1 MB (a 600 KB value and a
// 420 KB header: a default broker accepts it) and valid events behind it. The
// dead letter would be over the writer's limit with the header; the ingester
// drops the header, dead-letters the value as too_large, stores the valid
// events and commits past the poison.
func TestFaultPoisonRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	poison := kafka.Message{
		Key:     []byte("poison"),
		Value:   bytes.Repeat([]byte("v"), 600<<10),
		Headers: []kafka.Header{{Key: "ce_big", Value: bytes.Repeat([]byte("h"), 420<<10)}},
	}
	w := &kafka.Writer{Addr: kafka.TCP(kc.Brokers...), Topic: kc.Topics.Referrals, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 << 20}
	if err := w.WriteMessages(ctx, poison); err != nil {
		t.Fatalf("produce the poison record: %v", err)
	}
	w.Close()
	d := smallDataset(t, 300)
	d.produce(t, kc, nil)

	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, map[deadLetterKey]int{{kc.Topics.Referrals, "too_large", sha256.Sum256(poison.Value)}: 1})
	m := testenv.Scrape(t, base+"/metrics")
	if got := m.Value(t, "referralops_ingest_dead_letters_reduced_total", "how", "headers_dropped"); got != 1 {
		t.Errorf("dead_letters_reduced_total{how=headers_dropped} = %v, want 1", got)
	}
	if got := m.Value(t, "referralops_ingest_dead_letters_total", "reason", "too_large"); got != 1 {
		t.Errorf("dead_letters_total{reason=too_large} = %v, want 1", got)
	}
	if p.Exited() {
		t.Fatalf("ingester exited:\n%s", p.Output())
	}
}

// TestFaultDeadLetterTopicRefusesLetter gives the dead-letter topic a
// max.message.bytes below the dead letter of a too_large record: the broker
// refuses it for good, and the ingester writes a stub instead (source
// headers, the original value's length and hash, no value) and moves on.
func TestFaultDeadLetterTopicRefusesLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.TopicNames(t, brokers)
	if err := testenv.CreateTopics(context.Background(), brokers, kc.Topics.Inputs()...); err != nil {
		t.Fatal(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	resp, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: kc.Topics.DeadLetters, NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "max.message.bytes", ConfigValue: "100000"}},
	}}})
	if err == nil {
		err = resp.Errors[kc.Topics.DeadLetters]
	}
	if err != nil {
		t.Fatal(err)
	}
	ch := testenv.ClickHouse(t)
	big := bytes.Repeat([]byte("v"), 300<<10)
	p, err := broker.NewProducer(kc, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), kc.Topics.Referrals, []byte("big"), big, nil); err != nil {
		t.Fatal(err)
	}
	d := smallDataset(t, 100)
	d.produce(t, kc, nil)

	group := testenv.UniqueName("g")
	_, base := ingester(t, kc, ch.DSN, group)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: kc.Topics.DeadLetters, Partition: 0})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	sum := sha256.Sum256(big)
	if len(m.Value) != 0 || len(m.Key) != 0 || h[ingest.HeaderReason] != "too_large" || h[ingest.HeaderTopic] != kc.Topics.Referrals ||
		h[ingest.HeaderOffset] == "" || h[ingest.HeaderTruncated] != "307200" || h[ingest.HeaderValueSHA256] != hex.EncodeToString(sum[:]) {
		t.Errorf("dead letter is not a stub of the record: key %d bytes, value %d bytes, headers %v", len(m.Key), len(m.Value), h)
	}
	if got := testenv.Scrape(t, base+"/metrics").Value(t, "referralops_ingest_dead_letters_reduced_total", "how", "stub"); got != 1 {
		t.Errorf("dead_letters_reduced_total{how=stub} = %v, want 1", got)
	}
}

// TestFaultDeadLetterTopicMissing starts the ingester with its input topics
// but no dead-letter topic: it is not ready, names the topic in /readyz and
// the log, and commits nothing; once the topic is created, everything settles.
func TestFaultDeadLetterTopicMissing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.TopicNames(t, brokers)
	if err := testenv.CreateTopics(context.Background(), brokers, kc.Topics.Inputs()...); err != nil {
		t.Fatal(err)
	}
	ch := testenv.ClickHouse(t)
	d := smallDataset(t, 100)
	d.produce(t, kc, nil)
	p, err := broker.NewProducer(kc, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(context.Background(), kc.Topics.Referrals, []byte("bad"), []byte("{"), nil); err != nil {
		t.Fatal(err)
	}
	p.Close(context.Background())

	group := testenv.UniqueName("g")
	in, base := ingester(t, kc, ch.DSN, group)
	var code int
	var body string
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body = readyz(base)
		return code == 503 && strings.Contains(body, "dead-letter topic "+kc.Topics.DeadLetters) &&
			strings.Contains(in.Output(), "topic does not exist yet") && strings.Contains(in.Output(), kc.Topics.DeadLetters)
	}, func() string {
		return fmt.Sprintf("/readyz = %d %q, want 503 naming %s; log:\n%s", code, body, kc.Topics.DeadLetters, in.Output())
	})
	if lag, err := broker.GroupLag(context.Background(), kc, group, kc.Topics.Inputs()...); err != nil {
		t.Fatal(err)
	} else if total := broker.TotalLag(lag); total != int64(len(d.messages)+1) {
		t.Fatalf("lag %d of %d records while the dead-letter topic is missing: offsets were committed", total, len(d.messages)+1)
	}
	if err := testenv.CreateTopics(context.Background(), brokers, kc.Topics.DeadLetters); err != nil {
		t.Fatal(err)
	}
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, map[deadLetterKey]int{{kc.Topics.Referrals, "not_json", sha256.Sum256([]byte("{"))}: 1})
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body = readyz(base)
		return code == 200
	}, func() string { return fmt.Sprintf("/readyz = %d %q after the topic was created", code, body) })
}

// TestFaultStall points the ingester at a ClickHouse that does not answer:
// records wait and nothing is committed, so once the stall timeout passes
// /readyz says stalled while /healthz stays 200. A second ingester, caught
// up on its own topics, makes progress with nothing to do and stays ready past
// the same timeout.
func TestFaultStall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.Topics(t, brokers)
	smallDataset(t, 20).produce(t, kc, nil)
	dead := "clickhouse://" + testenv.FreeAddr(t) + "/nowhere"
	stuck, base := ingester(t, kc, dead, testenv.UniqueName("g"), "--stall-timeout", "2s")
	var code int
	var body string
	testenv.Eventually(t, time.Minute, func() bool {
		code, body = readyz(base)
		return code == 503 && strings.Contains(body, "stalled") && strings.Contains(body, "ClickHouse does not answer")
	}, func() string {
		return fmt.Sprintf("/readyz = %d %q, want 503 stalled naming ClickHouse; log:\n%s", code, body, stuck.Output())
	})
	if code := testenv.HTTPStatus(base + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d while stalled, want 200", code)
	}
	m := testenv.Scrape(t, base+"/metrics")
	if progress, commit := m.Sum("referralops_ingest_last_progress_timestamp_seconds"), m.Sum("referralops_ingest_last_commit_timestamp_seconds"); progress == 0 || commit != 0 {
		t.Errorf("last_progress %v, last_commit %v: want a start time and no commit", progress, commit)
	}

	idle := testenv.Topics(t, brokers)
	ch := testenv.ClickHouse(t)
	d := smallDataset(t, 20)
	d.produce(t, idle, nil)
	group := testenv.UniqueName("g")
	_, idleBase := ingester(t, idle, ch.DSN, group, "--stall-timeout", "2s")
	testenv.WaitCommitted(t, idle, group, time.Minute)
	committed := testenv.Scrape(t, idleBase+"/metrics").Sum("referralops_ingest_last_commit_timestamp_seconds")
	testenv.Eventually(t, time.Minute, func() bool {
		m, err := testenv.TryScrape(idleBase + "/metrics")
		return err == nil && m.Sum("referralops_ingest_last_progress_timestamp_seconds") > committed+3
	}, func() string { return "no progress recorded while there is nothing to do" })
	if code, body := readyz(idleBase); code != 200 {
		t.Errorf("idle ingester: /readyz = %d %q past the stall timeout, want 200", code, body)
	}
	checkStored(t, ch, d.validIDs)
}

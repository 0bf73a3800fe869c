package ingest_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// TestFaultRetentionPassesStoppedConsumer: an ingester stores and commits the
// first half of a dataset and stops; the second half is produced, and the
// broker's delete-records tool moves each partition's log start into it, as
// retention would, past the group's committed offset. Under
// --offset-out-of-range=fail the restarted ingester refuses, exits 1 naming
// the partition and the gap, and commits nothing. Under the default
// (earliest) it skips exactly the deleted records that were never consumed:
// counted per partition, logged as a warning, alerted by the committed rules
// in a real Prometheus; every record left is stored.
func TestFaultRetentionPassesStoppedConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.Topics(t, brokers)
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	step := testenv.Stopwatch(t)
	d := smallDataset(t, 200)
	half := len(d.messages) / 2
	first, second := &dataset{messages: d.messages[:half]}, &dataset{messages: d.messages[half:]}

	first.produce(t, kc, nil)
	group := testenv.UniqueName("g")
	p, _ := ingester(t, kc, ch.DSN, group)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	if code := p.Stop(time.Minute); code != 0 {
		t.Fatalf("ingester exit %d on SIGTERM:\n%s", code, p.Output())
	}
	step("first half stored and committed; ingester stopped")
	committed, err := broker.EndOffsets(ctx, kc, kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	second.produce(t, kc, nil)
	end, err := broker.EndOffsets(ctx, kc, kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}

	// In each partition, half of the new records go: the log start moves
	// from below the committed offset to the middle of the unconsumed ones.
	lost := map[string]map[int]int64{} // topic → partition → records deleted unconsumed
	logStart := map[string]map[int]int64{}
	var total int64
	for _, topic := range kc.Topics.Inputs() {
		before := map[int]int64{}
		lost[topic], logStart[topic] = map[int]int64{}, map[int]int64{}
		for part, e := range end[topic] {
			c := committed[topic][part]
			mid := c + (e-c)/2
			logStart[topic][part] = mid
			if mid > c {
				before[part] = mid
				lost[topic][part] = mid - c
				total += mid - c
			}
		}
		testenv.DeleteRecords(t, brokers, topic, before)
	}
	step("second half produced, records deleted")
	if total < 20 {
		t.Fatalf("only %d records deleted unconsumed; the dataset is too small to show a skip", total)
	}
	// What must be stored: the first half, and the second half's records
	// that are still in the log.
	want := map[string]bool{}
	for _, m := range first.messages {
		want[m.EventID] = true
	}
	ids := byContent(second)
	for _, topic := range kc.Topics.Inputs() {
		for part, e := range end[topic] {
			for _, m := range readRange(t, kc, topic, part, logStart[topic][part], e) {
				id, ok := ids[contentSum(m.Value, m.Headers)]
				if !ok {
					t.Fatalf("%s/%d@%d is no record of the dataset", topic, part, m.Offset)
				}
				want[id] = true
			}
		}
	}

	step("expected set read")
	// fail: not a record skipped, not an offset committed; the exit names the gap.
	refusing, _ := ingester(t, kc, ch.DSN, group, "--offset-out-of-range", "fail")
	testenv.Eventually(t, 2*time.Minute, refusing.Exited, func() string {
		return "the ingester under --offset-out-of-range=fail did not exit:\n" + refusing.Output()
	})
	step("the ingester under fail exited")
	if code := refusing.Stop(time.Second); code != 1 {
		t.Errorf("exit %d under --offset-out-of-range=fail, want 1", code)
	}
	out := refusing.Output()
	named := false
	for topic, parts := range lost {
		for part, n := range parts {
			named = named || strings.Contains(out, fmt.Sprintf("%s/%d: the group's offset %d is below the log start offset %d: %d records were deleted before they were consumed",
				topic, part, committed[topic][part], logStart[topic][part], n))
		}
	}
	if !named {
		t.Errorf("the exit does not name a partition and its gap:\n%s", out)
	}
	lag, err := broker.GroupLag(ctx, kc, group, kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	for topic, parts := range lag {
		for part, l := range parts {
			if w := end[topic][part] - committed[topic][part]; l != w {
				t.Errorf("%s/%d: lag %d after the refusal, want %d (committed offsets unchanged)", topic, part, l, w)
			}
		}
	}

	// earliest (the default): the skip is counted per partition, logged and alerted.
	skipping, base := ingester(t, kc, ch.DSN, group)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	step("the ingester under earliest committed everything")
	checkStored(t, ch, want)
	m := testenv.Scrape(t, base+"/metrics")
	for topic, parts := range lost {
		for part := range end[topic] {
			if got := m.Value(t, "referralops_ingest_offset_out_of_range_records_total", "topic", topic, "partition", strconv.Itoa(part)); got != float64(parts[part]) {
				t.Errorf("offset_out_of_range_records_total{%s/%d} = %v, want %d", topic, part, got, parts[part])
			}
		}
	}
	if warnings := strings.Count(skipping.Output(), "offset out of range: records deleted before they were consumed are skipped"); warnings != countPositive(lost) {
		t.Errorf("%d skip warnings logged, want one per partition that lost records (%d):\n%s", warnings, countPositive(lost), skipping.Output())
	}
	checkNoIDsLogged(t, skipping.Output(), d)

	prom := testenv.StartPrometheus(t, testenv.PrometheusConfig{
		Jobs:      map[string][]string{rules.JobIngest: {strings.TrimPrefix(base, "http://")}},
		RuleFiles: []string{testenv.RepoRoot() + "/deploy/prometheus/rules/" + rules.FileName},
	})
	firing := map[string]bool{}
	testenv.Eventually(t, time.Minute, func() bool {
		alerts, err := prom.Alerts(ctx)
		if err != nil {
			return false
		}
		clear(firing)
		for _, a := range alerts {
			if a.Labels["alertname"] == rules.AlertIngestRecordsSkipped && a.State == "firing" {
				firing[a.Labels["topic"]+"/"+a.Labels["partition"]] = true
			}
		}
		return len(firing) == countPositive(lost)
	}, func() string {
		return fmt.Sprintf("%s firing for %v, want the %d partitions that lost records", rules.AlertIngestRecordsSkipped, firing, countPositive(lost))
	})
	step("alerts firing")
	for topic, parts := range lost {
		for part, n := range parts {
			if n > 0 && !firing[topic+"/"+strconv.Itoa(part)] {
				t.Errorf("%s/%d lost %d records but its alert does not fire", topic, part, n)
			}
		}
	}
}

func countPositive(m map[string]map[int]int64) int {
	n := 0
	for _, parts := range m {
		for _, v := range parts {
			if v > 0 {
				n++
			}
		}
	}
	return n
}

// contentSum identifies a record by its value and headers.
func contentSum(value []byte, hs []kafka.Header) [32]byte {
	h := sha256.New()
	h.Write(value)
	for _, x := range hs {
		fmt.Fprintf(h, "\x00%s\x00%s", x.Key, x.Value)
	}
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// byContent maps each message's content to its event id.
func byContent(d *dataset) map[[32]byte]string {
	out := map[[32]byte]string{}
	for _, m := range d.messages {
		var hs []kafka.Header
		for _, h := range m.Headers {
			hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
		}
		out[contentSum(m.Value, hs)] = m.EventID
	}
	return out
}

// readRange reads the records [from, to) of one partition.
func readRange(t *testing.T, kc broker.Config, topic string, partition int, from, to int64) []kafka.Message {
	t.Helper()
	if from >= to {
		return nil
	}
	// A short MaxWait: Close waits for the reader's fetch in flight.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: topic, Partition: partition, MaxBytes: 8 << 20,
		MaxWait: 100 * time.Millisecond})
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []kafka.Message
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %s/%d [%d, %d): %v", topic, partition, from, to, err)
		}
		out = append(out, m)
		if m.Offset+1 >= to {
			return out
		}
	}
}

package ingest_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// TestFaultLargeMessagesBoundedInBytes streams 400-500 KB messages (valid
// events padded with an unknown 400 KB member, not_json and too_large
// records) through an ingester whose --max-buffered-bytes holds about four of
// them: everything is stored or dead-lettered exactly, and the bytes held
// between fetch and insert never exceeded the bound (the ingester's own
// high-water mark; without the bound it would reach tens of megabytes).
func TestFaultLargeMessagesBoundedInBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const (
		bound    = 2_000_000
		maxBytes = 480 << 10 // --max-message-bytes: the padded events pass, 490 KB is too_large
	)
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d := &dataset{validIDs: map[string]bool{}, invalid: map[deadLetterKey]int{}}
	padding := []byte(`{"attachment":"` + string(bytes.Repeat([]byte("a"), 400<<10)) + `",`)
	for _, m := range smallDataset(t, 40).messages {
		if len(m.Headers) > 0 || len(d.validIDs) == 40 {
			continue // binary mode: the attributes are headers; padding goes into structured events
		}
		m.Value = append(append([]byte{}, padding...), m.Value[1:]...)
		d.messages = append(d.messages, m)
		d.validIDs[m.EventID] = true
		// An invalid large record after every fourth event.
		if len(d.validIDs)%4 == 0 {
			reason, value := event.ReasonNotJSON, bytes.Repeat([]byte("{"), 450<<10)
			if len(d.validIDs)%8 == 0 {
				reason, value = event.ReasonTooLarge, append(append([]byte{}, padding...), bytes.Repeat([]byte(" "), 90<<10)...)
			}
			value = append(value, strconv.Itoa(len(d.messages))...) // each one distinct
			d.messages = append(d.messages, generator.Message{Stream: event.StreamReferral, Key: []byte("big"), Value: value, Invalid: reason})
			d.invalid[deadLetterKey{kc.Topics.Referrals, string(reason), sha256.Sum256(value)}]++
		}
	}
	if len(d.validIDs) != 40 || len(d.invalid) != 10 {
		t.Fatalf("%d valid and %d invalid large messages, want 40 and 10", len(d.validIDs), len(d.invalid))
	}
	d.produce(t, kc, nil)

	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group, "--max-buffered-bytes", strconv.Itoa(bound), "--max-message-bytes", strconv.Itoa(maxBytes))
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	checkDeadLetters(t, kc, d.invalid)
	m := testenv.Scrape(t, base+"/metrics")
	peak := m.Value(t, "referralops_ingest_buffered_peak_bytes")
	t.Logf("buffered bytes peaked at %v of %d", peak, bound)
	if peak > bound || peak < 400<<10 {
		t.Errorf("buffered_peak_bytes = %v, want a record's size at least and at most the bound %d", peak, bound)
	}
	// The last batch gives its bytes back just after its commit.
	var now float64
	testenv.Eventually(t, 30*time.Second, func() bool {
		m, err := testenv.TryScrape(base + "/metrics")
		now = -1
		if err == nil {
			now = m.Value(t, "referralops_ingest_buffered_bytes")
		}
		return now == 0
	}, func() string {
		return "buffered_bytes = " + strconv.FormatFloat(now, 'f', -1, 64) + " with everything committed, want 0"
	})
	if p.Exited() {
		t.Fatalf("ingester exited:\n%s", p.Output())
	}
}

// TestFaultStalledReadsAheadLittle: while ClickHouse does not answer, the
// fetchers stop a short way past the batches in hand (a queue of 32 runs of
// at most 128 records, and one run per partition), far below the byte
// budget: read ahead by the whole budget, they held every one of the
// topics' 30,000 records, and the bench's peak RSS passed 200 MB.
func TestFaultStalledReadsAheadLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const batchRows = 500
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	d := smallDataset(t, 6000)
	d.produce(t, kc, nil)
	records := len(d.messages)
	dead := "clickhouse://" + testenv.FreeAddr(t) + "/nowhere"
	p, base := ingester(t, kc, dead, testenv.UniqueName("g"), "--stall-timeout", "2s", "--batch-rows", strconv.Itoa(batchRows))
	var code int
	var body string
	var held float64
	testenv.Eventually(t, time.Minute, func() bool {
		code, body = readyz(base)
		m, err := testenv.TryScrape(base + "/metrics")
		held = 0
		if err == nil {
			held = m.Value(t, "referralops_ingest_buffered_bytes")
		}
		return code == 503 && strings.Contains(body, "stalled") && held > 0
	}, func() string {
		return fmt.Sprintf("/readyz = %d %q, buffered_bytes %v; want stalled with records held; log:\n%s", code, body, held, p.Output())
	})
	// Each record held costs its size (about 330 bytes) and its slot in a
	// run (152), with room for partly filled runs; each of the three topics'
	// partitions may hold a run. All the records would cost about 15 MB.
	const perRecord = 1000
	bound := float64((2*batchRows + (32+3*testenv.Partitions)*128) * perRecord)
	peak := testenv.Scrape(t, base+"/metrics").Value(t, "referralops_ingest_buffered_peak_bytes")
	t.Logf("buffered bytes peaked at %v of a bound of %v; %d records in the topics", peak, bound, records)
	if peak > bound {
		t.Errorf("buffered_peak_bytes = %v while stalled, want at most %v (two batches of %d, the queue and a run per partition)", peak, bound, batchRows)
	}
}

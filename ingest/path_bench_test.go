//go:build unix

package ingest

import (
	"context"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
)

// benchMessages are the generator's default mix (10% binary mode) as Kafka
// records, about n of them.
func benchMessages(b testing.TB, n int) []kafka.Message {
	b.Helper()
	cfg := generator.DefaultConfig()
	cfg.Referrals = n / 6
	cfg.End = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cfg.Now = cfg.End.Add(24 * time.Hour)
	topics := broker.DefaultConfig().Topics
	var msgs []kafka.Message
	offsets := map[string]int64{}
	if _, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		topic := topics.For(m.Stream)
		var hs []kafka.Header
		for _, h := range m.Headers {
			hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
		}
		msgs = append(msgs, kafka.Message{Topic: topic, Partition: 3, Offset: offsets[topic], Key: m.Key, Value: m.Value, Headers: hs})
		offsets[topic]++
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	return msgs
}

// benchBlock is a native-protocol block of the events columns, as 18.16 has
// them (String where current servers have LowCardinality(String)).
func benchBlock(b *testing.B) *proto.Block {
	b.Helper()
	types := map[string]string{"event_time": "DateTime('UTC')", "scheduled_for": "DateTime('UTC')", "ingested_at": "DateTime('UTC')",
		"missing": "Array(String)", "kafka_partition": "Int32", "kafka_offset": "Int64"}
	blk := &proto.Block{ServerContext: &column.ServerContext{Timezone: time.UTC, Revision: benchRevision}}
	for _, c := range eventColumns {
		t := types[c]
		if t == "" {
			t = "String"
		}
		if err := blk.AddColumn(c, column.Type(t)); err != nil {
			b.Fatal(err)
		}
	}
	return blk
}

// BenchmarkIngestPath measures the ingester's per-event Go work without
// servers: decoding each record into a batch and, per batch, what an INSERT
// costs the client: a fresh clickhouse-go block (PrepareBatch makes one per
// INSERT) filled and encoded in blocks of insertBlockRows (no compression, as
// the ingester connects). kafka-go's fetch is not in it. One op is one pass
// over the records; per event it reports the CPU time of the process (GC
// included, unlike ns/event, which is wall time), the bytes and objects
// allocated, and the garbage collector's CPU.
func BenchmarkIngestPath(b *testing.B) {
	msgs := benchMessages(b, 60000)
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	in := &Ingester{cfg: DefaultConfig(), decoder: event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return now })}
	bt := newBatch()
	var (
		v   blockViews
		buf chproto.Buffer
	)
	insert := func() {
		blk := benchBlock(b)
		for lo := 0; lo < bt.rows.len(); lo += insertBlockRows {
			v.fill(bt.rows, nil, lo, min(lo+insertBlockRows, bt.rows.len()), now.Unix())
			if err := appendColumns(&v, blk.Columns); err != nil {
				b.Fatal(err)
			}
			buf.Reset()
			if err := blk.EncodeHeader(&buf, benchRevision); err != nil {
				b.Fatal(err)
			}
			for i := range blk.Columns {
				if err := blk.EncodeColumn(&buf, benchRevision, i); err != nil {
					b.Fatal(err)
				}
			}
			blk.Reset()
		}
		v.reset()
		bt.reset()
	}
	warm := func() { // grows the batch's buffers, reused from then on
		for i := range msgs {
			in.add(bt, &msgs[i], 0)
		}
		insert()
	}
	warm()
	gcSample := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/gc/mark/idle:cpu-seconds"}}
	var m0, m1 runtime.MemStats
	runtime.GC()
	metrics.Read(gcSample)
	gc0 := gcSample[0].Value.Float64() - gcSample[1].Value.Float64() // idle marking uses idle CPU only
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	events := 0
	for b.Loop() {
		for i := range msgs {
			in.add(bt, &msgs[i], 0)
			if bt.count >= in.cfg.BatchRows {
				insert()
			}
		}
		insert()
		events += len(msgs)
	}
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&m1)
	metrics.Read(gcSample)
	ev := float64(events)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ev, "ns/event")
	b.ReportMetric(float64(cpu.Nanoseconds())/ev, "cpu-ns/event")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/ev, "B/event")
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/ev, "allocs/event")
	b.ReportMetric((gcSample[0].Value.Float64()-gcSample[1].Value.Float64()-gc0)*1e9/ev, "gc-ns/event")
}

// benchRevision is the native protocol revision blocks are encoded for.
const benchRevision = 54460

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// panicking is the real decoder, except that it panics on one value. No input
// is known to panic the real decoder (it is fuzzed), so the test injects one
// through the Decoder interface.
type panicking struct {
	Decoder
	on []byte
}

func (p panicking) DecodeShared(value []byte, headers []event.Header) (event.Event, error) {
	if bytes.Equal(value, p.on) {
		var m map[string]int
		m["boom"]++ // a nil map write: a runtime panic, as a decoder bug would be
	}
	return p.Decoder.DecodeShared(value, headers)
}

// syncBuffer is a log destination safe for the ingester's goroutines.
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

// TestFaultDecoderPanic runs the ingester on the real servers with a decoder
// that panics on one record among valid events: that record is dead-lettered
// as internal_error and counted, the valid events are stored, the partition is
// committed past it and Run goes on.
func TestFaultDecoderPanic(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	trigger := []byte(`{"specversion":"1.0","id":"panic"}`)
	p, err := broker.NewProducer(kc, 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(ctx, kc.Topics.Referrals, []byte("k"), trigger, nil); err != nil {
		t.Fatal(err)
	}
	gcfg := generator.DefaultConfig()
	gcfg.Referrals, gcfg.End = 100, time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	valid := 0
	if _, err := generator.Generate(ctx, gcfg, func(m generator.Message) error {
		valid++
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}

	cfg := DefaultConfig()
	cfg.Group, cfg.BatchMaxAge = testenv.UniqueName("g"), 200*time.Millisecond
	dlq, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	var log syncBuffer
	reg := prometheus.NewRegistry()
	dec := panicking{Decoder: event.NewDecoder(event.DefaultConfig()), on: trigger}
	in := New(cfg, kc, dec, NewClickHouseStore(ch.Conn, ch.Database, 1, true), dlq, slog.New(slog.NewJSONHandler(&log, nil)), reg)
	defer runInBackground(t, in)()
	testenv.WaitCommitted(t, kc, cfg.Group, 2*time.Minute)

	if got := testutil.ToFloat64(in.metrics.deadLetters.WithLabelValues(string(event.ReasonInternalError))); got != 1 {
		t.Errorf("dead_letters_total{reason=internal_error} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(in.metrics.records.WithLabelValues(kc.Topics.Referrals, outcomeStored)) +
		testutil.ToFloat64(in.metrics.records.WithLabelValues(kc.Topics.Scheduling, outcomeStored)) +
		testutil.ToFloat64(in.metrics.records.WithLabelValues(kc.Topics.Communications, outcomeStored)); got != float64(valid) {
		t.Errorf("records stored = %v, want %d", got, valid)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: kc.Topics.DeadLetters, GroupID: testenv.UniqueName("g")})
	defer r.Close()
	readCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	m, err := r.ReadMessage(readCtx)
	if err != nil {
		t.Fatal(err)
	}
	if reason, _ := header(m, HeaderReason); reason != string(event.ReasonInternalError) || !bytes.Equal(m.Value, trigger) {
		t.Errorf("dead letter reason %q value %q, want internal_error and the record", reason, m.Value)
	}
	out := log.String()
	if !strings.Contains(out, "decoder panicked") || strings.Contains(out, `\"id\":\"panic\"`) || strings.Contains(out, `"id":"panic"`) {
		t.Errorf("log does not report the panic, or shows the record:\n%s", out)
	}
	if in.Ready() != nil {
		t.Errorf("not ready after the panic: %v", in.Ready())
	}
}

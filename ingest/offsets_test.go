package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// TestOffsetOutOfRangeFailIsNotReady: under --offset-out-of-range=fail, a
// partition whose committed offset is below its log start makes Run return an
// ErrOffsetOutOfRange naming the partition and the gap, and /readyz (Ready)
// says the same from then on.
func TestOffsetOutOfRangeFailIsNotReady(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	brokers := testenv.KafkaBrokers(t)
	kc := testenv.Topics(t, brokers)
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	topic := kc.Topics.Referrals
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll}
	msgs := make([]kafka.Message, 10)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("one-partition"), Value: []byte("{}")}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	end, err := broker.EndOffsets(ctx, kc, topic)
	if err != nil {
		t.Fatal(err)
	}
	partition := -1
	for p, e := range end[topic] {
		if e == 10 {
			partition = p
		}
	}
	if partition < 0 {
		t.Fatalf("the 10 records are not in one partition: %v", end)
	}
	group := testenv.UniqueName("g")
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: partition, Offset: 2}}}})
	if err == nil && resp.Topics[topic][0].Error != nil {
		err = resp.Topics[topic][0].Error
	}
	if err != nil {
		t.Fatalf("commit offset 2 for group %s: %v", group, err)
	}
	testenv.DeleteRecords(t, brokers, topic, map[int]int64{partition: 6})

	cfg := DefaultConfig()
	cfg.Group, cfg.OffsetOutOfRange = group, OffsetOutOfRangeFail
	dlq, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		t.Fatal(err)
	}
	defer dlq.Close()
	in := New(cfg, kc, event.NewDecoder(event.DefaultConfig()), NewClickHouseStore(ch.Conn, ch.Database, 1, true), dlq,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	runCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = in.Run(runCtx)
	gap := fmt.Sprintf("%s/%d: the group's offset 2 is below the log start offset 6: 4 records were deleted before they were consumed", topic, partition)
	if !errors.Is(err, ErrOffsetOutOfRange) || !strings.Contains(err.Error(), gap) {
		t.Fatalf("Run: %v; want an ErrOffsetOutOfRange naming %q", err, gap)
	}
	if ready := in.Ready(); ready == nil || !strings.Contains(ready.Error(), gap) {
		t.Errorf("Ready: %v; want not ready naming %q", ready, gap)
	}
}

package testenv

import (
	"context"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
)

// TestOffsetsAndLag: on the real broker, broker.EndOffsets counts what was
// written to each partition, broker.GroupLag is everything for a group that
// committed nothing and what is left after a partial commit, and
// WaitCommitted returns once the group has committed to the end.
func TestOffsetsAndLag(t *testing.T) {
	kc := Topics(t, KafkaBrokers(t))
	topic := kc.Topics.Referrals
	ctx := context.Background()
	// The key names the partition; the writer retries while leaders settle.
	w := &kafka.Writer{Addr: kafka.TCP(kc.Brokers...), Topic: topic, RequiredAcks: kafka.RequireAll,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { p, _ := strconv.Atoi(string(m.Key)); return p })}
	defer w.Close()
	var msgs []kafka.Message
	for _, p := range []string{"0", "0", "2", "0"} {
		msgs = append(msgs, kafka.Message{Key: []byte(p), Value: []byte("x")})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
	written := map[int]int64{0: 3, 1: 0, 2: 1, 3: 0, 4: 0, 5: 0}

	ends, err := broker.EndOffsets(ctx, kc, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(ends[topic], written) || len(ends) != 1 {
		t.Errorf("EndOffsets = %v, want %s: %v", ends, topic, written)
	}

	group := UniqueName("g")
	lag := func() map[int]int64 {
		t.Helper()
		l, err := broker.GroupLag(ctx, kc, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		return l[topic]
	}
	if got := lag(); !maps.Equal(got, written) {
		t.Errorf("lag of a group that committed nothing = %v, want %v", got, written)
	}
	commit := func(offsets map[int]int64) {
		t.Helper()
		req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
		for p, o := range offsets {
			req.Topics[topic] = append(req.Topics[topic], kafka.OffsetCommit{Partition: p, Offset: o})
		}
		client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 10 * time.Second}
		resp, err := client.OffsetCommit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				t.Fatalf("commit %s/%d: %v", topic, p.Partition, p.Error)
			}
		}
	}
	commit(map[int]int64{0: 2})
	if got, want := lag(), map[int]int64{0: 1, 1: 0, 2: 1, 3: 0, 4: 0, 5: 0}; !maps.Equal(got, want) {
		t.Errorf("lag after committing 2 on partition 0 = %v, want %v", got, want)
	}
	commit(map[int]int64{0: 3, 2: 1})
	WaitCommitted(t, kc, group, 30*time.Second)
}

package ingest

import (
	"testing"

	"github.com/segmentio/kafka-go"
)

// A run's shares of the budget add up to what its fetcher took, also when the
// budget capped the take below the records' sizes (the batches that hold
// them give back exactly what was taken).
func TestFetchedSplitSharesAddUp(t *testing.T) {
	msgs := []kafka.Message{{Value: make([]byte, 100)}, {Value: make([]byte, 300)}, {Value: make([]byte, 50)}}
	full := int64(0)
	for i := range msgs {
		full += int64(messageBytes(&msgs[i]))
	}
	for _, took := range []int64{full, full - 1, int64(messageBytes(&msgs[0])) + 10, 1} {
		f := fetched{msgs: msgs, bytes: took}
		var sum int64
		var shares []int64
		f.split(func(m *kafka.Message, n int64) {
			if n < 0 || n > int64(messageBytes(m)) && m != &msgs[len(msgs)-1] {
				t.Errorf("took %d: share %d of a %d-byte record", took, n, messageBytes(m))
			}
			sum += n
			shares = append(shares, n)
		})
		if sum != took || len(shares) != len(msgs) {
			t.Errorf("took %d: shares %v add up to %d", took, shares, sum)
		}
	}
}

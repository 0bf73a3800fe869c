package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// commit commits the offsets after a settled batch. A failed commit is not
// fatal: the records are stored, and consuming them again is harmless.
func (in *Ingester) commit(ctx context.Context, gen *kafka.Generation, next map[string]map[int]int64, offsets *committed) {
	const attempts = 3
	retry := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for i := 1; ; i++ {
		err := gen.CommitOffsets(next)
		if err == nil {
			offsets.set(next)
			in.metrics.lastCommit.SetToCurrentTime()
			in.progressed()
			return
		}
		in.metrics.commitErrors.Inc()
		if i == attempts || !sleep(ctx, retry.next()) {
			in.logger.Warn("offset commit failed; the batch's records are stored and will be consumed again",
				"group", in.cfg.Group, "generation", gen.ID, "err", err)
			return
		}
	}
}

// committed tracks the group's committed offsets of this generation's partitions.
type committed struct {
	mu   sync.Mutex
	next map[string]map[int]int64
}

func newCommitted(assignments map[string][]kafka.PartitionAssignment) *committed {
	c := &committed{next: map[string]map[int]int64{}}
	for topic, parts := range assignments {
		c.next[topic] = map[int]int64{}
		for _, p := range parts {
			c.next[topic][p.ID] = p.Offset
		}
	}
	return c
}

func (c *committed) set(next map[string]map[int]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range next {
		for p, off := range parts {
			c.next[topic][p] = off
		}
	}
}

func (c *committed) snapshot() map[string]map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[int]int64, len(c.next))
	for topic, parts := range c.next {
		out[topic] = make(map[int]int64, len(parts))
		for p, off := range parts {
			out[topic][p] = off
		}
	}
	return out
}

// watchLag sets consumer_lag from the partitions' end offsets and the group's
// committed offsets, every few seconds, also while fetching is stalled. It
// tells stall detection whether records are waiting: when none are, having
// nothing to do is progress.
func (in *Ingester) watchLag(ctx context.Context, offsets *committed) {
	client := in.admin
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for topic, parts := range offsets.snapshot() {
			for p := range parts {
				req.Topics[topic] = append(req.Topics[topic], kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
			}
		}
		if resp, err := client.ListOffsets(ctx, req); err == nil {
			done := offsets.snapshot()
			behind := false
			for topic, parts := range resp.Topics {
				for _, po := range parts {
					if po.Error != nil {
						continue
					}
					next := done[topic][po.Partition]
					if next < 0 {
						// Nothing committed yet and nowhere to measure lag from;
						// records in the log are still waiting.
						behind = behind || po.LastOffset > po.FirstOffset
						continue
					}
					lag := max(po.LastOffset-next, 0)
					behind = behind || lag > 0
					in.metrics.lag.WithLabelValues(topic, partitionLabel(po.Partition)).Set(float64(lag))
				}
			}
			in.behind.Store(behind)
			if !behind {
				in.progressed()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

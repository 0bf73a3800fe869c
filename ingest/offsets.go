package ingest

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/segmentio/kafka-go"
)

// ErrOffsetOutOfRange means records were deleted from a partition (retention,
// or a records deletion) before the group consumed them, and
// --offset-out-of-range=fail forbids skipping them.
var ErrOffsetOutOfRange = errors.New("offset out of range")

// beforeAnyFetch is the offset "fetched" before a partition's first record:
// every record from the committed offset on is expected.
const beforeAnyFetch = math.MaxInt64

// outOfRange is called by a partition's fetcher when the offset it got is past
// the offset it expected (want, the committed offset or the one after the last
// record fetched). A fetcher below the log start moves there (on
// OFFSET_OUT_OF_RANGE, or when it dials), so a gap is where the skip shows. A gap above the log start is compaction or
// transaction markers, not a loss. It returns the records skipped under
// earliest (counted and logged), or an ErrOffsetOutOfRange under fail.
func (in *Ingester) outOfRange(ctx context.Context, topic string, partition int, want, got int64) (int64, error) {
	if want < 0 || got <= want {
		return 0, nil
	}
	start, err := in.logStart(ctx, topic, partition)
	if err != nil || start <= want {
		return 0, nil // err: ctx ended, and with it the fetcher
	}
	lost := min(start, got) - want
	if in.cfg.OffsetOutOfRange == OffsetOutOfRangeFail {
		return 0, fmt.Errorf("%w: %s/%d: the group's offset %d is below the log start offset %d: %d records were deleted before they were consumed "+
			"(--offset-out-of-range=fail; restart with --offset-out-of-range=earliest to skip them)",
			ErrOffsetOutOfRange, topic, partition, want, start, lost)
	}
	in.metrics.offsetOutOfRange.WithLabelValues(topic, partitionLabel(partition)).Add(float64(lost))
	in.logger.Warn("offset out of range: records deleted before they were consumed are skipped (neither stored nor dead-lettered)",
		"topic", topic, "partition", partition, "from_offset", want, "to_offset", want+lost, "records", lost,
		"policy", "--offset-out-of-range="+in.cfg.OffsetOutOfRange)
	return lost, nil
}

// logStart reads a partition's log start offset, retrying until the broker
// answers or ctx ends.
func (in *Ingester) logStart(ctx context.Context, topic string, partition int) (int64, error) {
	retry := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for {
		resp, err := in.admin.ListOffsets(ctx, &kafka.ListOffsetsRequest{
			Topics: map[string][]kafka.OffsetRequest{topic: {kafka.FirstOffsetOf(partition)}},
		})
		if err == nil {
			for _, po := range resp.Topics[topic] {
				if po.Partition == partition && po.Error == nil {
					return po.FirstOffset, nil
				}
				if po.Partition == partition {
					err = po.Error
				}
			}
		}
		in.logger.Debug("cannot read the log start offset", "topic", topic, "partition", partition, "err", err)
		if !sleep(ctx, retry.next()) {
			return 0, ctx.Err()
		}
	}
}

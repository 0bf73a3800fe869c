package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// PartitionOffsets returns, per partition of topic, its first offset (the
// oldest record retention kept) and its end offset.
func PartitionOffsets(ctx context.Context, c Config, topic string) (first, end map[int]int64, err error) {
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return nil, nil, err
	}
	parts, err := partitions(ctx, client, []string{topic})
	if err != nil {
		return nil, nil, err
	}
	resp, err := listOffsets(ctx, client, parts, kafka.FirstOffsetOf)
	if err != nil {
		return nil, nil, fmt.Errorf("first offsets: %w", err)
	}
	first = map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
		}
		first[p.Partition] = p.FirstOffset
	}
	ends, err := endOffsets(ctx, client, parts)
	if err != nil {
		return nil, nil, err
	}
	return first, ends[topic], nil
}

// CommittedOffsets returns group's committed offset of each partition of
// topic that has one.
func CommittedOffsets(ctx context.Context, c Config, group, topic string) (map[int]int64, error) {
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return nil, err
	}
	parts, err := partitions(ctx, client, []string{topic})
	if err != nil {
		return nil, err
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err == nil && resp.Error != nil {
		err = resp.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	out := map[int]int64{}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("committed offset of group %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// CommitOffset commits offset as group's position on one partition of topic,
// outside any group generation: for a tool's own group, which has no members
// (Kafka refuses the commit while the group has some).
func CommitOffset(ctx context.Context, c Config, group, topic string, partition int, offset int64) error {
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return err
	}
	resp, err := client.OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID:      group,
		GenerationID: -1,
		Topics:       map[string][]kafka.OffsetCommit{topic: {{Partition: partition, Offset: offset}}},
	})
	if err == nil {
		for _, p := range resp.Topics[topic] {
			if p.Error != nil {
				err = p.Error
			}
		}
	}
	if err != nil {
		return fmt.Errorf("commit offset %d of %s/%d for group %s: %w", offset, topic, partition, group, err)
	}
	return nil
}

// NewPartitionReader reads one partition of topic outside any consumer group;
// the caller sets its offset.
func NewPartitionReader(c Config, topic string, partition int) (*kafka.Reader, error) {
	d, err := c.Dialer()
	if err != nil {
		return nil, err
	}
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.Brokers,
		Dialer:    d,
		Topic:     topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  4 << 20, // several dead letters of up to 1 MB each
		// Close waits for the fetch in flight, which waits this long for
		// records past the end: a reader that stops at the end would
		// otherwise take kafka-go's default 10 s per partition to close.
		MaxWait: 250 * time.Millisecond,
	}), nil
}

package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// EndOffsets returns, per topic and partition, the end offset: the offset the
// next record written there will get.
func EndOffsets(ctx context.Context, c Config, topics ...string) (map[string]map[int]int64, error) {
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return nil, err
	}
	parts, err := partitions(ctx, client, topics)
	if err != nil {
		return nil, err
	}
	return endOffsets(ctx, client, parts)
}

// GroupLag returns, per topic and partition, how many records group has not
// committed yet: the end offset minus the committed offset (the whole partition
// when nothing is committed).
func GroupLag(ctx context.Context, c Config, group string, topics ...string) (map[string]map[int]int64, error) {
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return nil, err
	}
	parts, err := partitions(ctx, client, topics)
	if err != nil {
		return nil, err
	}
	ends, err := endOffsets(ctx, client, parts)
	if err != nil {
		return nil, err
	}
	startResp, err := listOffsets(ctx, client, parts, kafka.FirstOffsetOf)
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err == nil && committed.Error != nil {
		err = committed.Error
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	done := map[string]map[int]int64{}
	for topic, parts := range committed.Topics {
		done[topic] = map[int]int64{}
		for _, p := range parts {
			done[topic][p.Partition] = p.CommittedOffset
		}
	}
	first := map[string]map[int]int64{}
	for topic, parts := range startResp.Topics {
		first[topic] = map[int]int64{}
		for _, p := range parts {
			first[topic][p.Partition] = p.FirstOffset
		}
	}
	lag := map[string]map[int]int64{}
	for topic, parts := range ends {
		lag[topic] = map[int]int64{}
		for partition, end := range parts {
			from := done[topic][partition]
			if from < 0 {
				from = first[topic][partition]
			}
			lag[topic][partition] = max(end-from, 0)
		}
	}
	return lag, nil
}

// TotalLag sums a GroupLag result.
func TotalLag(lag map[string]map[int]int64) int64 {
	var n int64
	for _, parts := range lag {
		for _, l := range parts {
			n += l
		}
	}
	return n
}

// partitions lists the partition ids of each topic.
func partitions(ctx context.Context, client *kafka.Client, topics []string) (map[string][]int, error) {
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	parts := map[string][]int{}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			parts[t.Name] = append(parts[t.Name], p.ID)
		}
	}
	return parts, nil
}

func endOffsets(ctx context.Context, client *kafka.Client, parts map[string][]int) (map[string]map[int]int64, error) {
	resp, err := listOffsets(ctx, client, parts, kafka.LastOffsetOf)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	ends := map[string]map[int]int64{}
	for topic, ps := range resp.Topics {
		ends[topic] = map[int]int64{}
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
			ends[topic][p.Partition] = p.LastOffset
		}
	}
	return ends, nil
}

// listOffsets asks for one offset of every partition: kafka.FirstOffsetOf or
// kafka.LastOffsetOf.
func listOffsets(ctx context.Context, client *kafka.Client, parts map[string][]int, which func(partition int) kafka.OffsetRequest) (*kafka.ListOffsetsResponse, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for topic, ids := range parts {
		for _, id := range ids {
			req.Topics[topic] = append(req.Topics[topic], which(id))
		}
	}
	return client.ListOffsets(ctx, req)
}

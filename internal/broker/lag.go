package broker

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupLag returns, per topic and partition, how many records group has not
// committed yet: the end offset minus the committed offset (the whole partition
// when nothing is committed).
func GroupLag(ctx context.Context, c Config, group string, topics ...string) (map[string]map[int]int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	ends := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	starts := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	fetch := &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{}}
	for _, t := range meta.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			ends.Topics[t.Name] = append(ends.Topics[t.Name], kafka.LastOffsetOf(p.ID))
			starts.Topics[t.Name] = append(starts.Topics[t.Name], kafka.FirstOffsetOf(p.ID))
			fetch.Topics[t.Name] = append(fetch.Topics[t.Name], p.ID)
		}
	}
	endResp, err := client.ListOffsets(ctx, ends)
	if err != nil {
		return nil, fmt.Errorf("end offsets: %w", err)
	}
	startResp, err := client.ListOffsets(ctx, starts)
	if err != nil {
		return nil, fmt.Errorf("start offsets: %w", err)
	}
	committed, err := client.OffsetFetch(ctx, fetch)
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
	for topic, parts := range endResp.Topics {
		lag[topic] = map[int]int64{}
		for _, p := range parts {
			if p.Error != nil {
				return nil, fmt.Errorf("%s/%d: %w", topic, p.Partition, p.Error)
			}
			from := done[topic][p.Partition]
			if from < 0 {
				from = first[topic][p.Partition]
			}
			lag[topic][p.Partition] = max(p.LastOffset-from, 0)
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

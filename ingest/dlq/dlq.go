// Package dlq lists and replays the ingester's dead letters.
//
// A dead letter is the original record (key, value, headers) with the
// ingester's referralops-* headers added: why it was refused and where it came
// from. Listing shows those headers and sizes, never the key, the value or the
// original headers' values: they hold the raw message, which may be PHI.
//
// Replaying re-produces the original records of one reason to their source
// topics once the cause is fixed (a service line added, a mapping, a limit),
// so that the ingester takes them again. What was replayed is remembered as a
// consumer group's committed offsets on the dead-letter topic, one group per
// reason, committed only after the brokers acknowledged the records: a second
// replay re-produces nothing. A replay interrupted between the acknowledgement
// and the commit re-produces that batch next time, which changes no fact (the
// ingester's storage is idempotent by event id).
package dlq

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/internal/broker"
)

// Letter is what may be shown of one dead letter: no key, value or original
// header value.
type Letter struct {
	Partition       int       `json:"partition"` // the dead letter's own partition and offset
	Offset          int64     `json:"offset"`
	Time            time.Time `json:"time"`
	Reason          string    `json:"reason"`
	Error           string    `json:"error"` // names the field and the rule, never a value
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int       `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	KeyBytes        int       `json:"key_bytes"`
	ValueBytes      int       `json:"value_bytes"`
	Headers         int       `json:"original_headers"`
	TruncatedFrom   int       `json:"truncated_from,omitempty"`  // the original value's length when it was cut
	HeadersDropped  int       `json:"headers_dropped,omitempty"` // original headers left out to fit
	ValueSHA256     string    `json:"value_sha256,omitempty"`    // of the original value, when cut or in a stub
	Replayable      bool      `json:"replayable"`
	// NotReplayable says why a letter is not replayable.
	NotReplayable string `json:"not_replayable,omitempty"`
}

// Parse reads a dead letter's referralops-* headers and sizes.
func Parse(m kafka.Message) Letter {
	l := Letter{Partition: m.Partition, Offset: m.Offset, Time: m.Time.UTC(), KeyBytes: len(m.Key), ValueBytes: len(m.Value)}
	var partition, offset, truncated, dropped string
	for _, h := range m.Headers {
		switch h.Key {
		case ingest.HeaderReason:
			l.Reason = string(h.Value)
		case ingest.HeaderError:
			l.Error = string(h.Value)
		case ingest.HeaderTopic:
			l.SourceTopic = string(h.Value)
		case ingest.HeaderPartition:
			partition = string(h.Value)
		case ingest.HeaderOffset:
			offset = string(h.Value)
		case ingest.HeaderTruncated:
			truncated = string(h.Value)
		case ingest.HeaderHeadersDropped:
			dropped = string(h.Value)
		case ingest.HeaderValueSHA256:
			l.ValueSHA256 = string(h.Value)
		default:
			if !isOwnHeader(h.Key) {
				l.Headers++
			}
		}
	}
	var perr, oerr error
	l.SourcePartition, perr = strconv.Atoi(partition)
	l.SourceOffset, oerr = strconv.ParseInt(offset, 10, 64)
	if truncated != "" {
		l.TruncatedFrom, _ = strconv.Atoi(truncated)
	}
	l.HeadersDropped, _ = strconv.Atoi(dropped)
	switch {
	case l.SourceTopic == "" || perr != nil || oerr != nil:
		l.NotReplayable = "no source topic, partition and offset headers"
	case len(m.Value) == 0:
		l.NotReplayable = "stub without the value"
	case truncated != "":
		l.NotReplayable = "value truncated from " + truncated + " bytes"
	case dropped != "":
		l.NotReplayable = dropped + " original headers dropped"
	default:
		l.Replayable = true
	}
	return l
}

func isOwnHeader(key string) bool { return strings.HasPrefix(key, "referralops-") }

// Original is the record a replayable dead letter was made of: its key, value
// and original headers, for its source topic.
func Original(m kafka.Message, l Letter) kafka.Message {
	var headers []kafka.Header
	for _, h := range m.Headers {
		if !isOwnHeader(h.Key) {
			headers = append(headers, h)
		}
	}
	return kafka.Message{Topic: l.SourceTopic, Key: m.Key, Value: m.Value, Headers: headers}
}

// Filter selects dead letters: of one reason (all when empty) written at or
// after Since (all when zero).
type Filter struct {
	Reason string
	Since  time.Time
}

func (f Filter) match(l Letter) bool {
	return (f.Reason == "" || l.Reason == f.Reason) && (f.Since.IsZero() || !l.Time.Before(f.Since))
}

// scanPartition reads one partition of the dead-letter topic from offset from
// to end (exclusive), calling fn with every dead letter.
func scanPartition(ctx context.Context, c broker.Config, partition int, from, end int64, fn func(kafka.Message) error) error {
	if from >= end {
		return nil
	}
	r, err := broker.NewPartitionReader(c, c.Topics.DeadLetters, partition)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := r.SetOffset(from); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("read %s/%d at offset %d: %w", c.Topics.DeadLetters, partition, from, err)
		}
		if err := fn(m); err != nil {
			return err
		}
		if m.Offset+1 >= end {
			return nil
		}
		from = m.Offset + 1
	}
}

// List calls fn with every dead letter f selects, partition by partition in
// offset order, up to the end offsets at the start.
func List(ctx context.Context, c broker.Config, f Filter, fn func(Letter) error) error {
	first, end, err := broker.PartitionOffsets(ctx, c, c.Topics.DeadLetters)
	if err != nil {
		return err
	}
	for p := range len(end) {
		err := scanPartition(ctx, c, p, first[p], end[p], func(m kafka.Message) error {
			if l := Parse(m); f.match(l) {
				return fn(l)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
)

// DeadLetterWriter writes dead letters; *kafka.Writer is one.
type DeadLetterWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Headers added to a dead-lettered message, beside its original headers.
const (
	HeaderReason    = "referralops-reason"
	HeaderError     = "referralops-error"
	HeaderTopic     = "referralops-topic"
	HeaderPartition = "referralops-partition"
	HeaderOffset    = "referralops-offset"
	// HeaderTruncated carries the original value's length when the value had to
	// be cut to fit the broker's message size limit beside the added headers.
	HeaderTruncated = "referralops-truncated-from"
)

// maxDeadLetterValue keeps a dead letter under Kafka's default 1 MB message
// limit once the headers are added; shortDeadLetterValue is the cut made when the
// broker still refuses one as too large (a broker configured lower).
const (
	maxDeadLetterValue   = 1000000 - 16<<10
	shortDeadLetterValue = 64 << 10
)

// deadLetter builds the dead-letter message for m, which failed to decode with err.
func deadLetter(m *kafka.Message, err error) kafka.Message {
	headers := make([]kafka.Header, 0, len(m.Headers)+6)
	headers = append(headers, m.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(event.ReasonOf(err))},
		kafka.Header{Key: HeaderError, Value: []byte(err.Error())},
		kafka.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		kafka.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	)
	dl := kafka.Message{Key: m.Key, Value: m.Value, Headers: headers}
	truncate(&dl, maxDeadLetterValue)
	return dl
}

// truncate cuts a dead letter's value to at most n bytes, recording the
// original length once.
func truncate(m *kafka.Message, n int) {
	if len(m.Value) <= n {
		return
	}
	if !slices.ContainsFunc(m.Headers, func(h kafka.Header) bool { return h.Key == HeaderTruncated }) {
		m.Headers = append(m.Headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(m.Value)))})
	}
	m.Value = m.Value[:n]
}

// writeDeadLetters writes msgs once and returns those still to write: all of
// them on a general error, the failed ones when the writer reports per-message
// errors (so a retry does not write the others twice). A message the broker
// refuses as too large is cut shorter for its retry.
func writeDeadLetters(ctx context.Context, w DeadLetterWriter, msgs []kafka.Message) ([]kafka.Message, error) {
	err := w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil, nil
	}
	var perMessage kafka.WriteErrors
	if !errors.As(err, &perMessage) || len(perMessage) != len(msgs) {
		return msgs, err
	}
	var failed []kafka.Message
	var first error
	for i, e := range perMessage {
		if e == nil {
			continue
		}
		if errors.Is(e, kafka.MessageSizeTooLarge) {
			truncate(&msgs[i], shortDeadLetterValue)
		}
		failed = append(failed, msgs[i])
		if first == nil {
			first = e
		}
	}
	// kafka.WriteErrors prints every message's error; one is enough to act on.
	return failed, fmt.Errorf("%d of %d dead letters not written: %w", len(failed), len(msgs), first)
}

// eventHeaders converts Kafka headers for the decoder (binary mode reads ce_*).
func eventHeaders(hs []kafka.Header) []event.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]event.Header, len(hs))
	for i, h := range hs {
		out[i] = event.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

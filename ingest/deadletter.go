package ingest

import (
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
)

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
// limit once the headers are added.
const maxDeadLetterValue = 1000000 - 16<<10

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
	value := m.Value
	if len(value) > maxDeadLetterValue {
		headers = append(headers, kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(value)))})
		value = value[:maxDeadLetterValue]
	}
	return kafka.Message{Key: m.Key, Value: value, Headers: headers}
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

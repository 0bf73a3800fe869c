package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
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
	// be cut (to nothing in a stub) to fit the dead-letter topic.
	HeaderTruncated = "referralops-truncated-from"
	// HeaderHeadersDropped counts the original headers left out to make the
	// dead letter fit: without them it is not the original record.
	HeaderHeadersDropped = "referralops-headers-dropped"
	// HeaderValueSHA256 is the hex SHA-256 of the original value when the value
	// was cut, or left out in a stub: a dead letter without key, value or
	// original headers, written when the broker refused the full one, so the
	// source record is still found by topic, partition and offset and
	// recognised by its hash.
	HeaderValueSHA256 = "referralops-value-sha256"
)

// maxDeadLetterBytes bounds a whole dead letter (key, headers and value, as
// kafka-go sizes it) below the writer's batch limit, which kafka-go applies to
// each message before sending (MessageTooLargeError), and below the broker's
// default per-batch limit once the record batch framing is added.
const maxDeadLetterBytes = broker.MaxBatchBytes - 4<<10

// maxErrorHeader bounds the decode error kept in a dead letter; errors name a
// field and a rule and are far shorter.
const maxErrorHeader = 1 << 10

// How a dead letter was reduced to fit, the values of the how label of
// dead_letters_reduced_total.
const (
	reducedHeadersDropped = "headers_dropped"
	reducedValueCut       = "value_cut"
	reducedStub           = "stub"
)

// deadLetter builds the dead-letter message for m, which failed to decode with
// err, within maxDeadLetterBytes. What does not fit goes first from the
// original headers, largest first, then from the end of the value. reduced
// says what was left out ("" when nothing was).
func deadLetter(m *kafka.Message, err error) (dl kafka.Message, reduced string) {
	msg := err.Error()
	if len(msg) > maxErrorHeader {
		msg = msg[:maxErrorHeader]
	}
	own := sourceHeaders(m, event.ReasonOf(err), msg)
	dl = kafka.Message{Key: m.Key, Value: m.Value, Headers: append(slices.Clip(m.Headers), own...)}
	if messageBytes(&dl) <= maxDeadLetterBytes {
		return dl, ""
	}
	original := slices.Clone(m.Headers)
	slices.SortStableFunc(original, func(a, b kafka.Header) int { return len(a.Key) + len(a.Value) - len(b.Key) - len(b.Value) })
	dropped := 0
	for len(original) > 0 && messageBytes(&dl) > maxDeadLetterBytes {
		original = original[:len(original)-1]
		dropped++
		dl.Headers = append(slices.Clip(original), own...)
		dl.Headers = append(dl.Headers, kafka.Header{Key: HeaderHeadersDropped, Value: []byte(strconv.Itoa(dropped))})
	}
	if messageBytes(&dl) > maxDeadLetterBytes {
		dl.Headers = append(dl.Headers,
			kafka.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(m.Value)))},
			kafka.Header{Key: HeaderValueSHA256, Value: valueSum(m.Value)})
		dl.Value = dl.Value[:max(len(dl.Value)-(messageBytes(&dl)-maxDeadLetterBytes), 0)]
		return dl, reducedValueCut
	}
	return dl, reducedHeadersDropped
}

// sourceHeaders are a dead letter's referralops-* headers: why and where from.
func sourceHeaders(m *kafka.Message, reason event.Reason, msg string) []kafka.Header {
	return []kafka.Header{
		{Key: HeaderReason, Value: []byte(reason)},
		{Key: HeaderError, Value: []byte(msg)},
		{Key: HeaderTopic, Value: []byte(m.Topic)},
		{Key: HeaderPartition, Value: []byte(strconv.Itoa(m.Partition))},
		{Key: HeaderOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
	}
}

// stub reduces a dead letter the broker refused to its referralops-* source
// headers plus the original value's length and SHA-256: no key, no value, no
// original header. Its own refusal can only be the topic's, not the record's.
func stub(dl kafka.Message) kafka.Message {
	var hs []kafka.Header
	length, sum := []byte(strconv.Itoa(len(dl.Value))), []byte(nil)
	for _, h := range dl.Headers {
		switch h.Key {
		case HeaderReason, HeaderError, HeaderTopic, HeaderPartition, HeaderOffset:
			hs = append(hs, h)
		case HeaderTruncated: // the value was cut already: these are the original's
			length = h.Value
		case HeaderValueSHA256:
			sum = h.Value
		}
	}
	if sum == nil {
		sum = valueSum(dl.Value)
	}
	hs = append(hs, kafka.Header{Key: HeaderTruncated, Value: length}, kafka.Header{Key: HeaderValueSHA256, Value: sum})
	return kafka.Message{Headers: hs}
}

func valueSum(v []byte) []byte {
	sum := sha256.Sum256(v)
	return []byte(hex.EncodeToString(sum[:]))
}

// isStub tells a stub: no value, and the original's hash instead.
func isStub(m *kafka.Message) bool {
	return len(m.Value) == 0 && slices.ContainsFunc(m.Headers, func(h kafka.Header) bool { return h.Key == HeaderValueSHA256 })
}

// messageBytes is a message's size as kafka-go's writer measures it against
// its batch limit: the v1 message format's fixed fields, key, value and
// headers with their length prefixes.
func messageBytes(m *kafka.Message) int {
	n := 4 + 1 + 1 + 8 + 4 + len(m.Key) + 4 + len(m.Value) + 5
	for _, h := range m.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return n
}

// writeDeadLetters writes msgs once and returns those still to write: all of
// them on a general error, the failed ones when the writer reports per-message
// errors (so a retry does not write the others twice). A dead letter refused
// for good (too large for the writer or the topic, or another permanent error
// of that record) is replaced by its stub for the retry; stubbed counts them.
func writeDeadLetters(ctx context.Context, w DeadLetterWriter, msgs []kafka.Message, stubbed func()) ([]kafka.Message, error) {
	err := w.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil, nil
	}
	if tooLarge, ok := errors.AsType[kafka.MessageTooLargeError](err); ok {
		// kafka-go checked sizes before writing anything: all are still to write.
		out := slices.Clone(msgs)
		for i := range out {
			if !isStub(&out[i]) && sameSource(&out[i], &tooLarge.Message) {
				out[i] = stub(out[i])
				stubbed()
			}
		}
		return out, fmt.Errorf("dead letter too large for the writer, written as a stub: %w", err)
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
		if classify(e) == recordRefused && !isStub(&msgs[i]) {
			// The broker refuses a batch as a whole: alone, the letter may fit.
			if len(msgs) > 1 {
				if e = writeOne(ctx, w, msgs[i]); e == nil {
					continue
				}
			}
			if classify(e) == recordRefused {
				msgs[i] = stub(msgs[i])
				stubbed()
			}
		}
		failed = append(failed, msgs[i])
		if first == nil {
			first = e
		}
	}
	// kafka.WriteErrors prints every message's error; one is enough to act on.
	return failed, fmt.Errorf("%d of %d dead letters not written: %w", len(failed), len(msgs), first)
}

// writeOne writes one message and returns its own error.
func writeOne(ctx context.Context, w DeadLetterWriter, m kafka.Message) error {
	err := w.WriteMessages(ctx, m)
	var perMessage kafka.WriteErrors
	if errors.As(err, &perMessage) && len(perMessage) == 1 {
		return perMessage[0]
	}
	return err
}

// sameSource reports whether two dead letters are of the same source record.
func sameSource(a, b *kafka.Message) bool {
	src := func(m *kafka.Message) string {
		var s string
		for _, h := range m.Headers {
			switch h.Key {
			case HeaderTopic, HeaderPartition, HeaderOffset:
				s += string(h.Value) + "/"
			}
		}
		return s
	}
	return src(a) == src(b)
}

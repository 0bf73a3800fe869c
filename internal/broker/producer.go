package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
)

// Producer sends messages to any of the configured topics in large synchronous
// batches: Send buffers, and a full buffer or Flush writes and waits for the
// brokers' acknowledgement, so a returned nil means the messages are stored.
type Producer struct {
	w       *kafka.Writer
	buf     []kafka.Message
	maxBuf  int
	written int
}

// NewProducer returns a producer that writes every bufferSize messages.
func NewProducer(c Config, bufferSize int) (*Producer, error) {
	w, err := NewWriter(c, "")
	if err != nil {
		return nil, err
	}
	return &Producer{w: w, maxBuf: bufferSize, buf: make([]kafka.Message, 0, bufferSize)}, nil
}

// Send buffers one message for topic.
func (p *Producer) Send(ctx context.Context, topic string, key, value []byte, headers []kafka.Header) error {
	p.buf = append(p.buf, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
	if len(p.buf) >= p.maxBuf {
		return p.Flush(ctx)
	}
	return nil
}

// Flush writes the buffered messages. Messages refused for a transient
// reason (a broker down, a partition whose leader moved, too few in-sync
// replicas for the moment) are written again, alone, after a backoff, until
// they are stored or ctx ends: kafka-go's own retries end before a dead
// leader has dropped out of its cached metadata. A permanent refusal (a
// message too large, no authorization) fails at once.
func (p *Producer) Flush(ctx context.Context) error {
	if len(p.buf) == 0 {
		return nil
	}
	msgs := p.buf
	backoff := produceBackoffMin
	for attempt := 1; ; attempt++ {
		err := p.w.WriteMessages(ctx, msgs...)
		if err == nil {
			break
		}
		var werrs kafka.WriteErrors
		if !errors.As(err, &werrs) || len(werrs) != len(msgs) {
			return fmt.Errorf("produce %d messages: %w", len(msgs), err)
		}
		failed, first, permanent := msgs[:0:0], error(nil), false
		for i, e := range werrs {
			if e == nil {
				continue
			}
			failed = append(failed, msgs[i])
			if first == nil {
				first = e
			}
			var kerr kafka.Error
			if errors.As(e, &kerr) && !kerr.Temporary() {
				permanent, first = true, e
			}
		}
		if permanent || attempt == maxProduceAttempts {
			return fmt.Errorf("produce %d messages: %d refused after %d attempts, e.g.: %w", len(p.buf), len(failed), attempt, first)
		}
		msgs = failed
		select {
		case <-ctx.Done():
			return fmt.Errorf("produce %d messages: %d not stored: %w (last error: %v)", len(p.buf), len(failed), ctx.Err(), first)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, produceBackoffMax)
	}
	p.written += len(p.buf)
	clear(p.buf)
	p.buf = p.buf[:0]
	return nil
}

// A producer's retries of transiently refused messages: about a minute in
// all, longer than a broker failover and a metadata refresh.
const (
	maxProduceAttempts = 30
	produceBackoffMin  = 100 * time.Millisecond
	produceBackoffMax  = 2 * time.Second
)

// Written counts the messages acknowledged so far.
func (p *Producer) Written() int { return p.written }

// Close flushes and closes the writer.
func (p *Producer) Close(ctx context.Context) error {
	err := p.Flush(ctx)
	if cerr := p.w.Close(); err == nil {
		err = cerr
	}
	return err
}

// Headers are the event contract's headers (binary mode) as Kafka record
// headers; nil for none.
func Headers(hs []event.Header) []kafka.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

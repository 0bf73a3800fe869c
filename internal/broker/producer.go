package broker

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
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
func NewProducer(c Config, bufferSize int) *Producer {
	return &Producer{w: NewWriter(c, ""), maxBuf: bufferSize, buf: make([]kafka.Message, 0, bufferSize)}
}

// Send buffers one message for topic.
func (p *Producer) Send(ctx context.Context, topic string, key, value []byte, headers []kafka.Header) error {
	p.buf = append(p.buf, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
	if len(p.buf) >= p.maxBuf {
		return p.Flush(ctx)
	}
	return nil
}

// Flush writes the buffered messages.
func (p *Producer) Flush(ctx context.Context) error {
	if len(p.buf) == 0 {
		return nil
	}
	if err := p.w.WriteMessages(ctx, p.buf...); err != nil {
		return fmt.Errorf("produce %d messages: %w", len(p.buf), err)
	}
	p.written += len(p.buf)
	clear(p.buf)
	p.buf = p.buf[:0]
	return nil
}

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

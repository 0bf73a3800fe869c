package mllp

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"time"

	"github.com/referralops/referralops/ingest/hl7v2"
)

// Client sends HL7 v2 messages over one MLLP connection as an interface
// engine does: one message at a time, the next only after the last one's
// ACK. It is not safe for concurrent use; open one per sender.
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// maxAckBytes bounds an ACK read: ours are a few hundred bytes.
const maxAckBytes = 64 << 10

// Dial opens a connection to an MLLP receiver; timeout bounds the dial and
// each message's round trip.
func Dial(ctx context.Context, addr string, timeout time.Duration) (*Client, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Client{conn: c, r: bufio.NewReader(c), timeout: timeout}, nil
}

// Send frames msg, sends it and waits for its ACK: it returns the
// acknowledgment code (MSA-1: AA, AE or AR) and MSA-3's text. An error means
// the connection is unusable (the message may or may not be stored: resend
// it on a new connection, as engines do).
func (c *Client) Send(msg []byte) (code, text string, err error) {
	_ = c.conn.SetDeadline(time.Now().Add(c.timeout))
	frame := make([]byte, 0, len(msg)+3)
	frame = append(append(append(frame, startBlock), msg...), endBlock, carriage)
	if _, err := c.conn.Write(frame); err != nil {
		return "", "", err
	}
	raw, tooLarge, err := readFrame(c.r, maxAckBytes)
	if err != nil {
		return "", "", fmt.Errorf("reading the ACK: %w", err)
	}
	if tooLarge {
		return "", "", fmt.Errorf("ACK larger than %d bytes", maxAckBytes)
	}
	ack, err := hl7v2.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("the ACK: %w", err)
	}
	msa, ok := ack.Segment("MSA")
	if !ok {
		return "", "", fmt.Errorf("the ACK has no MSA segment")
	}
	return msa.Field(1).String(), msa.Field(3).String(), nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

package broker

import (
	"bufio"
	"context"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
)

// readBufferBytes is each broker connection's read buffer. kafka-go reads a
// connection through a 4 KiB bufio.Reader of its own, so without this a
// fetch of 1 MiB takes 256 read(2) calls; through 64 KiB, 16.
const readBufferBytes = 64 << 10

// newDialer is a kafka-go dialer whose connections read through a
// readBufferBytes buffer, with the timeout and keep-alive of kafka-go's
// default dialer.
func newDialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: 10 * time.Second, DialFunc: dialBuffered}
}

func dialBuffered(ctx context.Context, network, address string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return bufferConn(conn), nil
}

// bufferConn is conn read through a readBufferBytes buffer. Deadlines, writes
// and Close go to conn itself; a read error (a deadline passed) comes back
// once, after the bytes read before it.
func bufferConn(conn net.Conn) net.Conn {
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferBytes)}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

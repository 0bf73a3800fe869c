package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// countingConn counts the reads of a real connection.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// TestBufferConn: a fetch of 1 MiB read the way kafka-go reads it (through
// a 4 KiB bufio.Reader) arrives whole, in a few reads of the socket instead
// of one per 4 KiB; deadlines still reach the socket.
func TestBufferConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write(payload)
		_, _ = io.Copy(io.Discard, c) // until the client closes
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingConn{Conn: raw}
	conn := bufferConn(counted)
	defer conn.Close()
	// kafka-go reads a record at a time: ReadFull of a few hundred bytes
	// from its bufio.Reader, which refills 4 KiB at a time.
	r := bufio.NewReaderSize(conn, 4096)
	got := make([]byte, len(payload))
	for at := 0; at < len(got); at += 600 {
		if _, err := io.ReadFull(r, got[at:min(at+600, len(got))]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("the bytes read differ from those written")
	}
	// 1 MiB in 64 KiB reads is 16; TCP may hand over less per read, but
	// nowhere near the 256 of 4 KiB reads.
	if counted.reads > 128 {
		t.Errorf("%d reads of the socket for 1 MiB, want at most 128 (a 64 KiB buffer)", counted.reads)
	}
	if err := conn.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a read past its deadline: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}

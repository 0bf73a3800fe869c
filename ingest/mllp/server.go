package mllp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/hl7v2"
	"github.com/referralops/referralops/ingest/mapping"
)

// MLLP framing bytes.
const (
	startBlock = 0x0b
	endBlock   = 0x1c
	carriage   = 0x0d
)

// Writer stores records; *kafka.Writer is one. WriteMessages returns once
// the records are acknowledged.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Server is an MLLP receiver.
type Server struct {
	cfg    Config
	w      Writer
	logger *slog.Logger
	m      *metrics

	listener net.Listener
	serving  atomic.Bool  // listening and not shutting down
	kafkaErr atomic.Value // error string of the last failed write, "" after a success

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// New returns a receiver that writes to w; reg receives its metrics.
func New(cfg Config, w Writer, logger *slog.Logger, reg prometheus.Registerer) *Server {
	s := &Server{cfg: cfg, w: w, logger: logger, m: newMetrics(reg), conns: map[net.Conn]struct{}{}}
	s.kafkaErr.Store("")
	return s
}

// Listen binds the MLLP address now (TLS when configured), so a port
// conflict fails at startup and tests learn the port of ":0".
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			l.Close()
			return err
		}
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.listener = l
	return nil
}

// Addr is the bound MLLP address.
func (s *Server) Addr() net.Addr { return s.listener.Addr() }

// Ready is nil while the receiver accepts messages and its last Kafka write
// (if any) succeeded.
func (s *Server) Ready() error {
	if !s.serving.Load() {
		return errors.New("not accepting connections")
	}
	if e := s.kafkaErr.Load().(string); e != "" {
		return fmt.Errorf("last Kafka write failed: %s", e)
	}
	return nil
}

// Run accepts connections until ctx ends. Shutdown: stop accepting, let each
// connection finish the message it is storing (its ACK included), close the
// connections, return. A message half-received at shutdown is not ACKed, so
// the sender resends it.
func (s *Server) Run(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.serving.Store(true)
	stop := context.AfterFunc(ctx, func() {
		s.serving.Store(false)
		s.listener.Close()
		s.mu.Lock()
		for c := range s.conns {
			// Wake a blocked read; a connection storing a message checks
			// the context after its ACK.
			_ = c.SetReadDeadline(time.Now())
		}
		s.mu.Unlock()
	})
	defer stop()
	sem := make(chan struct{}, s.cfg.MaxConnections)
	for {
		c, err := s.listener.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.serving.Store(false)
			s.wg.Wait()
			return fmt.Errorf("accept: %w", err)
		}
		select {
		case sem <- struct{}{}:
		default:
			s.m.refused.Inc()
			s.logger.Warn("connection refused: at max-connections", "max", s.cfg.MaxConnections)
			c.Close()
			continue
		}
		s.track(c, true)
		if ctx.Err() != nil { // shutdown began between Accept and track
			_ = c.SetReadDeadline(time.Now())
		}
		s.wg.Add(1)
		go func() {
			defer func() { s.track(c, false); c.Close(); <-sem; s.wg.Done() }()
			s.serve(ctx, c)
		}()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
		s.m.connections.Inc()
	} else {
		delete(s.conns, c)
		s.m.connections.Dec()
	}
}

// serve handles one connection: frame, store, ACK, until the peer closes,
// idles out, breaks the framing, or the server shuts down.
func (s *Server) serve(ctx context.Context, c net.Conn) {
	r := bufio.NewReaderSize(c, 64<<10)
	for ctx.Err() == nil {
		_ = c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		if ctx.Err() != nil { // shutdown's deadline may have come before ours
			return
		}
		msg, tooLarge, err := readFrame(r, s.cfg.MaxMessageBytes)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.logger.Info("connection closed", "reason", err.Error())
			}
			return
		}
		ack := s.handle(msg, tooLarge)
		_ = c.SetWriteDeadline(time.Now().Add(s.cfg.KafkaTimeout))
		if _, err := c.Write(ack); err != nil {
			s.logger.Info("cannot send ACK; closing the connection", "reason", err.Error())
			return
		}
	}
}

// errFraming: bytes outside a frame that are not whitespace; the stream
// cannot be resynchronised safely, so the connection is closed.
var errFraming = errors.New("data outside an MLLP frame")

// readFrame reads one framed message. Whitespace between frames is
// tolerated. A message over max is read to its end and discarded
// (tooLarge), so the connection stays usable.
func readFrame(r *bufio.Reader, max int) (msg []byte, tooLarge bool, err error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, false, err
		}
		if b == startBlock {
			break
		}
		if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
			return nil, false, errFraming
		}
	}
	for {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, false, fmt.Errorf("inside a frame: %w", err)
		}
		if b == endBlock {
			next, err := r.ReadByte()
			if err != nil {
				return nil, false, fmt.Errorf("after the end block: %w", err)
			}
			if next != carriage {
				return nil, false, errors.New("end block not followed by a carriage return")
			}
			return msg, tooLarge, nil
		}
		if tooLarge {
			continue
		}
		if len(msg) >= max {
			tooLarge, msg = true, nil
			continue
		}
		msg = append(msg, b)
	}
}

// handle stores one message and returns its ACK.
func (s *Server) handle(raw []byte, tooLarge bool) []byte {
	if tooLarge {
		s.m.messages.WithLabelValues("AR").Inc()
		return ack(nil, "AR", fmt.Sprintf("message larger than %d bytes", s.cfg.MaxMessageBytes))
	}
	msg, err := hl7v2.Parse(raw)
	if err != nil {
		s.m.messages.WithLabelValues("AR").Inc()
		return ack(nil, "AR", "not an HL7 v2 message")
	}
	ctl := msg.Segments[0].Field(10).Raw()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.KafkaTimeout)
	defer cancel()
	start := time.Now()
	err = s.w.WriteMessages(ctx, kafka.Message{
		Topic: s.cfg.Topic, Key: []byte(ctl), Value: raw,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte(mapping.FormatHL7v2.ContentType())}},
	})
	s.m.writeSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		s.kafkaErr.Store(err.Error())
		s.m.messages.WithLabelValues("AE").Inc()
		s.logger.Warn("Kafka did not acknowledge a message; answered AE", "topic", s.cfg.Topic, "err", err)
		return ack(msg, "AE", "not stored: Kafka unavailable, resend")
	}
	s.kafkaErr.Store("")
	s.m.messages.WithLabelValues("AA").Inc()
	return ack(msg, "AA", "")
}

// ack builds the framed ACK of msg (nil when it could not be parsed), in the
// sender's delimiters, addressed back to the sender, echoing MSH-10 in MSA-2.
// MSA-3 carries the reason of an AE/AR (text we write, never message content).
func ack(msg *hl7v2.Message, code, text string) []byte {
	d := hl7v2.Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
	enc := `^~\&`
	var sendApp, sendFac, recvApp, recvFac, ctl, trigger, processing, version string
	if msg != nil {
		d = msg.Delims
		msh := msg.Segments[0]
		enc = msh.Field(2).Raw()
		sendApp, sendFac = msh.Field(5).Raw(), msh.Field(6).Raw()
		recvApp, recvFac = msh.Field(3).Raw(), msh.Field(4).Raw()
		ctl, processing, version = msh.Field(10).Raw(), msh.Field(11).Raw(), msh.Field(12).Raw()
		_, trigger = msg.Type()
	}
	if version == "" {
		version = "2.5.1"
	}
	if processing == "" {
		processing = "P"
	}
	f := string(d.Field)
	typ := "ACK"
	if trigger != "" {
		typ += string(d.Component) + trigger + string(d.Component) + "ACK"
	}
	now := time.Now().UTC().Format("20060102150405") + "+0000"
	b := []byte{startBlock}
	b = append(b, "MSH"+f+enc+f+sendApp+f+sendFac+f+recvApp+f+recvFac+f+now+f+f+typ+f+"ACK"+ctl+f+processing+f+version+"\r"...)
	b = append(b, "MSA"+f+code+f+ctl...)
	if text != "" {
		b = append(b, f+text...)
	}
	return append(b, '\r', endBlock, carriage)
}

package mllp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/hl7v2"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// message is an HL7 v2 message with control id ctl (fake PHI in PID).
func message(ctl string) []byte {
	return []byte("MSH|^~\\&|SCHED|GENHOSP|REFOPS|GENHOSP|20260306120000||SIU^S12^SIU_S12|" + ctl + "|P|2.5.1\r" +
		"SCH|PL-55|APT-7001|||||||30|min|^^30^20260320093000\r" +
		"PID|1||MRN0042^^^NORTHCLINIC^MR||QUIXOTE^ALONSO||19470312\r")
}

func frame(b []byte) []byte { return append(append([]byte{startBlock}, b...), endBlock, carriage) }

// client is an MLLP sender.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes raw bytes and reads one ACK: its MSA-1 code and MSA-2 control id.
func (c *client) send(raw []byte) (code, ctl, text string) {
	c.t.Helper()
	if _, err := c.c.Write(raw); err != nil {
		c.t.Fatal(err)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	b, err := c.r.ReadBytes(carriage)
	for err == nil && (len(b) < 2 || b[len(b)-2] != endBlock) {
		var more []byte
		more, err = c.r.ReadBytes(carriage)
		b = append(b, more...)
	}
	if err != nil {
		c.t.Fatalf("no ACK: %v", err)
	}
	if b[0] != startBlock {
		c.t.Fatalf("ACK not framed: %q", b)
	}
	m, err := hl7v2.Parse(b[1 : len(b)-2])
	if err != nil {
		c.t.Fatalf("ACK is not HL7 v2: %v: %q", err, b)
	}
	if code, trig := m.Type(); code != "ACK" {
		c.t.Fatalf("ACK type %s^%s", code, trig)
	}
	msa, ok := m.Segment("MSA")
	if !ok {
		c.t.Fatalf("ACK without MSA: %q", b)
	}
	return msa.Field(1).String(), msa.Field(2).String(), msa.Field(3).String()
}

// closed reports whether the server closed the connection.
func (c *client) closed() bool {
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.r.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err)
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "connection reset") }

type running struct {
	srv    *Server
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, cfg Config, w Writer) *running {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	s := New(cfg, w, slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: s, reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	testenv.Eventually(t, 10*time.Second, func() bool { return s.serving.Load() }, func() string { return "not serving" })
	return r
}

// kafkaTopic creates a fresh topic on the real broker, deleted at the end.
func kafkaTopic(t *testing.T) (broker.Config, string) {
	t.Helper()
	kc := broker.DefaultConfig()
	kc.Brokers = testenv.KafkaBrokers(t)
	topic := testenv.UniqueName("hl7v2-")
	if err := testenv.CreateTopics(context.Background(), kc.Brokers, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 10 * time.Second}
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	return kc, topic
}

func stored(t *testing.T, kc broker.Config, topic string) int64 {
	t.Helper()
	// Retry only errors: a new topic's metadata can lag in the admin client.
	var ends map[string]map[int]int64
	var err error
	testenv.Eventually(t, 30*time.Second, func() bool {
		ends, err = broker.EndOffsets(context.Background(), kc, topic)
		return err == nil
	}, func() string { return fmt.Sprintf("end offsets of %s: %v", topic, err) })
	var n int64
	for _, off := range ends[topic] {
		n += off
	}
	return n
}

// TestAAAfterKafka: each AA comes after Kafka holds the record (the topic's
// end offsets already count it when the ACK arrives), echoes the control id,
// and the record is the message as sent, keyed by the control id.
func TestAAAfterKafka(t *testing.T) {
	kc, topic := kafkaTopic(t)
	cfg := DefaultConfig()
	cfg.Topic = topic
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	c := dial(t, r.srv.Addr().String())
	sent := map[string][]byte{}
	for i := 1; i <= 3; i++ {
		ctl := fmt.Sprintf("CTL-%d", i)
		sent[ctl] = message(ctl)
		if code, got, _ := c.send(frame(sent[ctl])); code != "AA" || got != ctl {
			t.Fatalf("ACK %s %s, want AA %s", code, got, ctl)
		}
		if n := stored(t, kc, topic); n != int64(i) {
			t.Fatalf("after AA %d the topic holds %d records", i, n)
		}
	}
	rd := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: topic, GroupID: testenv.UniqueName("g-"), StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer rd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range sent {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want, ok := sent[string(m.Key)]; !ok || !bytes.Equal(m.Value, want) {
			t.Errorf("record %s = %q", m.Key, m.Value)
		}
		delete(sent, string(m.Key))
	}
	if got := testutil.ToFloat64(r.srv.m.messages.WithLabelValues("AA")); got != 3 {
		t.Errorf("AA counter %v", got)
	}
	if err := r.srv.Ready(); err != nil {
		t.Errorf("not ready: %v", err)
	}
	if problems, err := testutil.GatherAndLint(r.reg); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", problems, err)
	}
}

// TestAEWhenKafkaFails: a broker that does not answer gets AE (resend), not
// AA, and the receiver reports itself not ready until a write succeeds.
func TestAEWhenKafkaFails(t *testing.T) {
	kc := broker.DefaultConfig()
	kc.Brokers = []string{testenv.FreeAddr(t)} // nothing listens there
	cfg := DefaultConfig()
	cfg.KafkaTimeout = time.Second
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	c := dial(t, r.srv.Addr().String())
	code, ctl, text := c.send(frame(message("CTL-AE")))
	if code != "AE" || ctl != "CTL-AE" || !strings.Contains(text, "Kafka") {
		t.Errorf("ACK %s %s %q, want AE CTL-AE", code, ctl, text)
	}
	if err := r.srv.Ready(); err == nil {
		t.Error("ready after a failed write")
	}
	if got := testutil.ToFloat64(r.srv.m.messages.WithLabelValues("AE")); got != 1 {
		t.Errorf("AE counter %v", got)
	}
}

// TestAR: bytes that are not HL7 v2 and oversized messages get AR; the
// connection stays usable; data outside a frame closes it.
func TestAR(t *testing.T) {
	kc, topic := kafkaTopic(t)
	cfg := DefaultConfig()
	cfg.Topic, cfg.MaxMessageBytes = topic, 400
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	c := dial(t, r.srv.Addr().String())
	if code, _, text := c.send(frame([]byte(`{"resourceType":"Patient","name":"Quixote"}`))); code != "AR" || strings.Contains(text, "Quixote") {
		t.Errorf("not HL7 v2: %s %q", code, text)
	}
	big := append(message("CTL-BIG"), bytes.Repeat([]byte("NTE|1||x\r"), 100)...)
	if code, _, text := c.send(frame(big)); code != "AR" || !strings.Contains(text, "larger than 400") {
		t.Errorf("too large: %s %q", code, text)
	}
	if code, ctl, _ := c.send([]byte("\r\n" + string(frame(message("CTL-OK"))))); code != "AA" || ctl != "CTL-OK" {
		t.Errorf("after the rejects: %s %s", code, ctl)
	}
	if n := stored(t, kc, topic); n != 1 {
		t.Errorf("topic holds %d records, want 1 (rejects are not stored)", n)
	}
	if _, err := c.c.Write([]byte("MSH|garbage\r")); err != nil {
		t.Fatal(err)
	}
	if !c.closed() {
		t.Error("data outside a frame did not close the connection")
	}
}

// TestConnections: connections are served concurrently up to the limit; one
// more is closed at once.
func TestConnections(t *testing.T) {
	kc, topic := kafkaTopic(t)
	cfg := DefaultConfig()
	cfg.Topic, cfg.MaxConnections = topic, 3
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	clients := make([]*client, 3)
	for i := range clients {
		clients[i] = dial(t, r.srv.Addr().String())
	}
	var wg sync.WaitGroup
	errs := make(chan string, 30)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				ctl := fmt.Sprintf("C%d-%d", i, j)
				if code, got, _ := c.send(frame(message(ctl))); code != "AA" || got != ctl {
					errs <- code + " " + got
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("ACK %s", e)
	}
	if n := stored(t, kc, topic); n != 30 {
		t.Errorf("topic holds %d records, want 30", n)
	}
	extra := dial(t, r.srv.Addr().String())
	if !extra.closed() {
		t.Error("a connection over max-connections was served")
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(r.srv.m.refused) == 1 }, func() string { return "refused not counted" })
}

// TestShutdown: cancelling closes idle connections and the listener, Run
// returns nil, and the receiver is no longer ready.
func TestShutdown(t *testing.T) {
	kc := broker.DefaultConfig()
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	s := New(cfg, w, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	c := dial(t, s.Addr().String())
	testenv.Eventually(t, 10*time.Second, func() bool { return testutil.ToFloat64(s.m.connections) == 1 }, func() string { return "connection not tracked" })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if !c.closed() {
		t.Error("idle connection left open")
	}
	if s.Ready() == nil {
		t.Error("ready after shutdown")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("still accepting")
	}
}

// TestTLS: with a certificate, MLLP runs over TLS.
func TestTLS(t *testing.T) {
	kc, topic := kafkaTopic(t)
	certFile, keyFile, pool := selfSigned(t)
	cfg := DefaultConfig()
	cfg.Topic, cfg.TLSCert, cfg.TLSKey = topic, certFile, keyFile
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	r := start(t, cfg, w)
	conn, err := tls.Dial("tcp", r.srv.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, c: conn, r: bufio.NewReader(conn)}
	if code, ctl, _ := c.send(frame(message("CTL-TLS"))); code != "AA" || ctl != "CTL-TLS" {
		t.Errorf("ACK %s %s", code, ctl)
	}
	plain := dial(t, r.srv.Addr().String())
	if _, err := plain.c.Write(frame(message("CTL-PLAIN"))); err != nil {
		t.Fatal(err)
	}
	if !plain.closed() {
		t.Error("a plain-text sender was served on the TLS port")
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	c := Config{Listen: "2575", HTTPListen: ":9466", TLSCert: "x.pem"}
	// The topic is a Kafka setting (broker.Config), checked by the command.
	want := `listen: "2575" is not host:port
max-message-bytes: must be > 0
max-connections: must be > 0
idle-timeout: must be > 0
kafka-timeout: must be > 0
tls-cert, tls-key: set both or neither`
	if err := c.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() =\n%v\nwant\n%s", err, want)
	}
	c = DefaultConfig()
	c.TLSCert, c.TLSKey = "missing.pem", "missing.key"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "tls-cert: ") {
		t.Errorf("missing TLS files: %v", err)
	}
}

func TestReadFrame(t *testing.T) {
	for name, c := range map[string]struct {
		in       string
		msg      string
		tooLarge bool
		err      string
	}{
		"frame":            {in: "\x0bMSH|a\r\x1c\r", msg: "MSH|a\r"},
		"leading newlines": {in: "\r\n \x0bMSH|a\x1c\r", msg: "MSH|a"},
		"too large":        {in: "\x0b0123456789\x1c\r", tooLarge: true},
		"eof":              {in: "", err: "EOF"},
		"eof inside":       {in: "\x0bMSH", err: "inside a frame: unexpected EOF"},
		"no carriage":      {in: "\x0bMSH\x1cX", err: "end block not followed by a carriage return"},
		"eof after end":    {in: "\x0bMSH\x1c", err: "after the end block: EOF"},
		"outside":          {in: "MSH|a", err: errFraming.Error()},
	} {
		msg, tooLarge, err := readFrame(bufio.NewReader(strings.NewReader(c.in)), 8)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%s: err %v, want %s", name, err, c.err)
			}
			continue
		}
		if err != nil || string(msg) != c.msg || tooLarge != c.tooLarge {
			t.Errorf("%s: %q %v %v", name, msg, tooLarge, err)
		}
	}
}

// TestListenConflict: a port in use fails at Listen, and Run reports it.
func TestListenConflict(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := DefaultConfig()
	cfg.Listen = l.Addr().String()
	s := New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen "+cfg.Listen) {
		t.Errorf("Run on a used port: %v", err)
	}
}

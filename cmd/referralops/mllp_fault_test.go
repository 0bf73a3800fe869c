package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// mllpSender is a real socket client that sends one message at a time and
// waits for its ACK, as an interface engine does.
type mllpSender struct {
	t    *testing.T
	addr string
	conn net.Conn
	acks *bufio.Reader
}

// send sends msg and returns the MSA-1 code of its ACK, or "" when no ACK
// came (the connection is then dropped and the next send reconnects).
func (s *mllpSender) send(msg string) string {
	s.t.Helper()
	if s.conn == nil {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			s.t.Fatal(err)
		}
		s.conn, s.acks = c, bufio.NewReader(c)
	}
	_ = s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	ack, err := "", error(nil)
	if _, err = s.conn.Write([]byte("\x0b" + msg + "\x1c\r")); err == nil {
		if ack, err = s.acks.ReadString(0x1c); err == nil {
			_, err = s.acks.ReadByte() // the frame's closing \r
		}
	}
	if err != nil {
		s.conn.Close()
		s.conn = nil
		return ""
	}
	_, msa, _ := strings.Cut(ack, "\rMSA|")
	return msa[:min(2, len(msa))]
}

// TestFaultMLLPBrokerRestart sends HL7 v2 messages over a real socket to
// `referralops mllp` writing to a Kafka broker of the test's own, kills the
// broker part-way and restarts it. As docs/standards.md says: a message is
// answered AA only once Kafka acknowledged it, so every message sent while the
// broker is down is answered AE (within --kafka-timeout) and none AA; the
// sender resends those until AA. Reading the topic back, every AA'd message is
// there, and each one answered AA at its first send is there exactly once (a
// resent one may also be there from its AE'd send: MLLP is at-least-once, and
// the ingester stores its events once, by their deterministic ids).
func TestFaultMLLPBrokerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	step := testenv.Stopwatch(t)
	k := testenv.StartKafka(t, testenv.KafkaOptions{})
	kc := broker.DefaultConfig()
	kc.Brokers = []string{k.Plain}
	topic := testenv.UniqueName("hl7v2-")
	if err := testenv.CreateTopics(context.Background(), kc.Brokers, topic); err != nil {
		t.Fatal(err)
	}
	addr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := testenv.Start(t, nil, "mllp", "--listen", addr, "--http-listen", httpAddr,
		"--kafka-brokers", k.Plain, "--topic-hl7v2", topic, "--kafka-timeout", "2s", "--log-format", "json")
	testenv.WaitReady(t, p, "http://"+httpAddr, "MLLP receiver")
	step("broker and receiver up")

	const before, during, after = 10, 3, 10
	msgs := make([]string, before+during+after)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("MSH|^~\\&|REFAPP|MG-014|REFOPS|GENHOSP|20260302140500||REF^I12^REF_I12|FLT-%03d|P|2.5.1\rRF1|P|R|CARD||O|RF-%03d\r", i, i)
	}
	sends := make([]int, len(msgs))
	s := &mllpSender{t: t, addr: addr}
	defer func() {
		if s.conn != nil {
			s.conn.Close()
		}
	}()
	// untilAA resends message i until it is answered AA.
	untilAA := func(i int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			sends[i]++
			code := s.send(msgs[i])
			if code == "AA" {
				return
			}
			if code != "AE" && code != "" {
				t.Fatalf("message %d answered %q, want AA or AE", i, code)
			}
			if time.Now().After(deadline) {
				t.Fatalf("message %d not answered AA within 2 minutes of the broker's restart:\n%s", i, p.Output())
			}
		}
	}
	for i := range before {
		sends[i]++
		if code := s.send(msgs[i]); code != "AA" {
			t.Fatalf("message %d answered %q with the broker up, want AA:\n%s", i, code, p.Output())
		}
	}

	k.Kill(t)
	step("broker killed")
	// Sent after the broker died and answered before it restarts: Kafka
	// cannot have acknowledged them, so an AA would be a lie.
	for i := before; i < before+during; i++ {
		sends[i]++
		if code := s.send(msgs[i]); code != "AE" {
			t.Fatalf("message %d answered %q while the broker was down, want AE:\n%s", i, code, p.Output())
		}
	}
	if code := testenv.HTTPStatus("http://" + httpAddr + "/readyz"); code != 503 {
		t.Errorf("/readyz = %d after Kafka writes failed, want 503", code)
	}

	k.Start(t)
	step("broker restarted")
	for i := before; i < len(msgs); i++ {
		untilAA(i)
	}
	step("every message answered AA")
	if code := testenv.HTTPStatus("http://" + httpAddr + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d after Kafka writes succeeded again, want 200", code)
	}

	stored := readKeys(t, kc, topic)
	for i := range msgs {
		key := fmt.Sprintf("FLT-%03d", i)
		n := stored[key]
		switch {
		case n == 0:
			t.Errorf("message %d was answered AA but is not in %s", i, topic)
		case sends[i] == 1 && n != 1:
			t.Errorf("message %d was sent once and is in %s %d times", i, topic, n)
		case n > sends[i]:
			t.Errorf("message %d was sent %d times and is in %s %d times", i, sends[i], topic, n)
		}
		delete(stored, key)
	}
	if len(stored) > 0 {
		t.Errorf("%s holds records of no message sent: %v", topic, stored)
	}
	m := testenv.Scrape(t, "http://"+httpAddr+"/metrics")
	if got := m.Value(t, "referralops_mllp_messages_total", "ack", "AE"); got < during {
		t.Errorf("AE counter %v, want >= %d", got, during)
	}
	if code := p.Stop(30 * time.Second); code != exitOK {
		t.Errorf("exit %d after SIGTERM:\n%s", code, p.Output())
	}
	if out := p.Output(); strings.Contains(out, "RF-0") || strings.Contains(out, "FLT-0") {
		t.Errorf("the log holds message content:\n%s", out)
	}
}

// readKeys reads topic to its end and counts its records by key, checking
// that each value is the message its key names. A broker that has just
// restarted may refuse reads for a moment, so it reads again until it can.
func readKeys(t *testing.T, kc broker.Config, topic string) map[string]int {
	t.Helper()
	var keys map[string]int
	var err error
	testenv.Eventually(t, time.Minute, func() bool {
		keys, err = tryReadKeys(kc, topic)
		return err == nil
	}, func() string { return fmt.Sprintf("cannot read %s back: %v", topic, err) })
	for key, n := range keys {
		if n < 0 {
			t.Errorf("a record with key %q in %s is not its message's control id", key, topic)
		}
	}
	return keys
}

// tryReadKeys is one attempt of readKeys; a key whose record does not hold
// its message's control id counts -1.
func tryReadKeys(kc broker.Config, topic string) (map[string]int, error) {
	ends, err := broker.EndOffsets(context.Background(), kc, topic)
	if err != nil {
		return nil, err
	}
	keys := map[string]int{}
	for p, end := range ends[topic] {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: kc.Brokers, Topic: topic, Partition: p, MaxWait: 250 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				cancel()
				r.Close()
				return nil, fmt.Errorf("read %s/%d: %w", topic, p, err)
			}
			if strings.Contains(string(m.Value), "|"+string(m.Key)+"|") {
				keys[string(m.Key)]++
			} else {
				keys[string(m.Key)] = -1
			}
			if m.Offset+1 >= end {
				break
			}
		}
		cancel()
		r.Close()
	}
	return keys, nil
}

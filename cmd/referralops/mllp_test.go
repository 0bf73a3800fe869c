package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/testenv"
)

// TestMLLPCommand: the real binary, configured by file and flags, receives a
// message over a real socket, stores it in the real Kafka (the topic of the
// file), answers AA, counts it on /metrics, and stops
// cleanly on SIGTERM.
func TestMLLPCommand(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.UniqueName("hl7v2-")
	if err := testenv.CreateTopics(context.Background(), brokers, topic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	})
	addr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	// The topic comes from the config file's kafka section, the addresses from flags.
	cfgFile := filepath.Join(t.TempDir(), "mllp.yaml")
	if err := os.WriteFile(cfgFile, []byte("kafka:\n  topics:\n    hl7v2: "+topic+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testenv.Start(t, nil, "mllp", "--config", cfgFile, "--listen", addr, "--http-listen", httpAddr,
		"--kafka-brokers", strings.Join(brokers, ","))
	testenv.WaitReady(t, p, "http://"+httpAddr, "MLLP receiver")

	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msg := "MSH|^~\\&|REFAPP|MG-014|REFOPS|GENHOSP|20260302140500||REF^I12^REF_I12|CMD-1|P|2.5.1\rRF1|P|R|CARD||O|RF-1\r"
	if _, err := conn.Write([]byte("\x0b" + msg + "\x1c\r")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	ack, err := bufio.NewReader(conn).ReadString('\x1c')
	if err != nil {
		t.Fatalf("no ACK: %v\n%s", err, p.Output())
	}
	if !strings.Contains(ack, "\rMSA|AA|CMD-1") || !strings.Contains(ack, "|ACK^I12^ACK|") {
		t.Errorf("ACK %q", ack)
	}
	kc := broker.DefaultConfig()
	kc.Brokers = brokers
	var stored int64
	testenv.Eventually(t, 30*time.Second, func() bool { // retry only metadata errors of a new topic
		ends, err := broker.EndOffsets(context.Background(), kc, topic)
		if err != nil {
			return false
		}
		for _, off := range ends[topic] {
			stored += off
		}
		return true
	}, func() string { return "cannot read the end offsets of " + topic })
	if stored != 1 {
		t.Errorf("topic %s holds %d records, want 1", topic, stored)
	}
	m := testenv.Scrape(t, "http://"+httpAddr+"/metrics")
	if got := m.Value(t, "referralops_mllp_messages_total", "ack", "AA"); got != 1 {
		t.Errorf("AA counter %v", got)
	}
	if code := p.Stop(30 * time.Second); code != exitOK {
		t.Errorf("exit %d after SIGTERM:\n%s", code, p.Output())
	}
	if out := p.Output(); strings.Contains(out, "MRN") || strings.Contains(out, "RF-1") {
		t.Errorf("the log holds message content:\n%s", out)
	}
}

// TestMLLPNeedsTopic: the receiver refuses to start without a topic to write to.
func TestMLLPNeedsTopic(t *testing.T) {
	cmd := exec.Command(testenv.Binary(t), "mllp", "--topic-hl7v2", "")
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != exitBadConfig || !strings.Contains(string(out), "topic-hl7v2: required") {
		t.Errorf("exit %d, want %d naming topic-hl7v2:\n%s", code, exitBadConfig, out)
	}
}

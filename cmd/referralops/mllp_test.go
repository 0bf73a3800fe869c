package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/crypto/bcrypt"

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

// TestSecurityMLLPEndpoints: the MLLP receiver's /metrics, /healthz and
// /readyz are served as ingest's and export's are: with --web.config.file
// over TLS with basic auth (401 without credentials, nothing in plain HTTP),
// Go profiles only with --debug.pprof and then on their own loopback
// listener, never on the metrics port.
func TestSecurityMLLPEndpoints(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	ca := testenv.NewCA(t, "referralops-test")
	serving := ca.Issue(t, "referralops-web")
	const user, password = "prometheus", "mllp-scrape-secret-8c1e"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n",
		serving.CertFile, serving.KeyFile, user, hash), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, httpAddr, pprofAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	p := testenv.Start(t, nil, "mllp", "--listen", addr, "--http-listen", httpAddr, "--topic-hl7v2", testenv.UniqueName("hl7v2-"),
		"--kafka-brokers", strings.Join(brokers, ","), "--web.config.file", webConfig,
		"--web.read-timeout", "5s", "--debug.pprof", "--debug.pprof-listen", pprofAddr)
	https := httpsClient(t, ca.CertFile)
	base := "https://" + httpAddr
	testenv.Eventually(t, time.Minute, func() bool {
		return status(https, base+"/healthz", user, password) == http.StatusOK || p.Exited()
	}, func() string { return base + " does not answer:\n" + p.Output() })
	if p.Exited() {
		t.Fatalf("mllp exited:\n%s", p.Output())
	}
	for _, c := range []struct {
		path, user, password string
		want                 int
	}{
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/healthz", "", "", http.StatusUnauthorized},
		{"/metrics", user, "wrong", http.StatusUnauthorized},
		{"/metrics", user, password, http.StatusOK},
		{"/debug/pprof/", user, password, http.StatusNotFound},
	} {
		if got := status(https, base+c.path, c.user, c.password); got != c.want {
			t.Errorf("GET %s%s as %q: %d, want %d", base, c.path, c.user, got, c.want)
		}
	}
	if got := testenv.HTTPStatus("http://" + httpAddr + "/metrics"); got == http.StatusOK {
		t.Errorf("plain HTTP on %s answers 200", httpAddr)
	}
	if got := testenv.HTTPStatus("http://" + pprofAddr + "/debug/pprof/"); got != http.StatusOK {
		t.Errorf("--debug.pprof: GET http://%s/debug/pprof/: %d, want 200", pprofAddr, got)
	}
	if out := p.Output(); strings.Contains(out, password) {
		t.Errorf("the scrape password appears in the log:\n%s", out)
	}
}

// TestMLLPHTTPConfigRejected: the HTTP settings are validated before the
// receiver starts, each error naming its flag.
func TestMLLPHTTPConfigRejected(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--web.config.file", "testdata/nope.yml"}, "web.config.file"},
		{[]string{"--web.idle-timeout", "0s"}, "web.idle-timeout: must be > 0"},
		{[]string{"--debug.pprof", "--debug.pprof-listen", ":6060"}, "debug.pprof-listen"},
	} {
		var out bytes.Buffer
		code := run(append([]string{"mllp", "--topic-hl7v2", "t"}, tc.args...), &out, &out)
		if code != exitBadConfig || !strings.Contains(out.String(), tc.want) {
			t.Errorf("mllp %v: exit %d, want %d and an error naming %q:\n%s", tc.args, code, exitBadConfig, tc.want, out.String())
		}
	}
}

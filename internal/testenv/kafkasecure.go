package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// SecureKafka is an Apache Kafka broker of the test's own, run from the jars
// deploy/local/kafka.sh resolved, with one listener per way to connect:
//   - Plain: PLAINTEXT, for the test's own administration (topics);
//   - SASLSSL: SASL_SSL, TLS with SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN users;
//   - MTLS: SSL that requires a client certificate signed by CA.
//
// Its certificate is for 127.0.0.1 and localhost, signed by CA.
type SecureKafka struct {
	Plain, SASLSSL, MTLS string // host:port
	CA                   *CA
}

// StartSecureKafka formats a fresh KRaft store with SCRAM credentials for
// users (name → password, for both SCRAM mechanisms; PLAIN accepts them too),
// starts the broker on free ports and stops it at cleanup. The jars come from
// $REFERRALOPS_DATA_DIR/kafka/libs (default <repo>/.data/kafka/libs): run
// `make services-up` once to resolve them.
func StartSecureKafka(t testing.TB, users map[string]string) *SecureKafka {
	t.Helper()
	libs := filepath.Join(envOr("REFERRALOPS_DATA_DIR", filepath.Join(RepoRoot(), ".data")), "kafka", "libs")
	if _, err := os.Stat(libs); err != nil {
		unavailable(t, "the Apache Kafka jars", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		unavailable(t, "java", err)
	}
	dir := t.TempDir()
	ca := NewCA(t, "kafka-test")
	server := ca.Issue(t, "kafka-broker")
	// Kafka's PEM key store is one file: the key, then the certificate chain.
	keyStore := filepath.Join(dir, "broker-keystore.pem")
	var ks []byte
	for _, f := range []string{server.KeyFile, server.CertFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, b...)
	}
	if err := os.WriteFile(keyStore, ks, 0o600); err != nil {
		t.Fatal(err)
	}
	k := &SecureKafka{Plain: FreeAddr(t), SASLSSL: FreeAddr(t), MTLS: FreeAddr(t), CA: ca}
	controller := FreeAddr(t)
	var plainUsers strings.Builder
	for name, password := range users {
		fmt.Fprintf(&plainUsers, " user_%s=%q", name, password)
	}
	props := strings.Join([]string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + controller,
		"controller.listener.names=CONTROLLER",
		"listeners=PLAINTEXT://" + k.Plain + ",SASL_SSL://" + k.SASLSSL + ",SSL://" + k.MTLS + ",CONTROLLER://" + controller,
		"advertised.listeners=PLAINTEXT://" + k.Plain + ",SASL_SSL://" + k.SASLSSL + ",SSL://" + k.MTLS,
		"inter.broker.listener.name=PLAINTEXT",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
		"log.dirs=" + filepath.Join(dir, "data"),
		"auto.create.topics.enable=false",
		"offsets.topic.replication.factor=1",
		"transaction.state.log.replication.factor=1",
		"transaction.state.log.min.isr=1",
		"share.coordinator.state.topic.replication.factor=1",
		"share.coordinator.state.topic.min.isr=1",
		"group.initial.rebalance.delay.ms=0",
		"num.network.threads=2",
		"num.io.threads=2",
		"sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required" + plainUsers.String() + ";",
		"listener.name.ssl.ssl.client.auth=required",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + keyStore,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + ca.CertFile,
		"ssl.protocol=TLSv1.3",
		"ssl.enabled.protocols=TLSv1.3,TLSv1.2",
	}, "\n") + "\n"
	propsFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsFile, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	java := func(heap string, args ...string) *exec.Cmd {
		base := []string{heap, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
			"-Dlog4j2.configurationFile=" + filepath.Join(RepoRoot(), "deploy", "local", "kafka", "tools-log4j2.properties"),
			"-cp", libs + "/*"}
		return exec.Command("java", append(base, args...)...)
	}
	// The broker's own tool writes the SCRAM credentials into the metadata
	// log as the store is formatted.
	format := []string{"kafka.tools.StorageTool", "format", "-t", clusterID(t), "-c", propsFile}
	for name, password := range users {
		for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
			format = append(format, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, name, password))
		}
	}
	if out, err := java("-Xmx256m", format...).CombinedOutput(); err != nil {
		t.Fatalf("kafka StorageTool format: %v\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the broker has its own descriptor
	output := func() []byte { b, _ := os.ReadFile(logFile.Name()); return tail(b, 8000) }
	cmd := java("-Xmx512m", "kafka.Kafka", propsFile)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("output of the test's Kafka broker:\n%s", output())
		}
	})
	client := &kafka.Client{Addr: kafka.TCP(k.Plain), Timeout: 2 * time.Second}
	Eventually(t, 90*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("the test's Kafka broker exited:\n%s", output())
		default:
		}
		meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{})
		return err == nil && meta.Controller.ID >= 0
	}, func() string { return "the test's Kafka broker does not answer on " + k.Plain })
	return k
}

// clusterID is a KRaft cluster id: 16 random bytes, base64url without padding,
// as `kafka-storage random-uuid` makes them (without a JVM start).
func clusterID(t testing.TB) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

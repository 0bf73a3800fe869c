package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
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

// KafkaBroker is an Apache Kafka broker of the test's own, run from the jars
// deploy/local/kafka.sh resolved, on free ports with its data in a temporary
// directory. It always has a PLAINTEXT listener (Plain); a secure one also has
//   - SASLSSL: SASL_SSL, TLS with SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN users;
//   - MTLS: SSL that requires a client certificate signed by CA,
//
// with a certificate for 127.0.0.1 and localhost, signed by CA.
//
// Kill and Start let fault tests take the broker down and bring it back on
// the same ports with the same data, as a crashed broker restarts.
type KafkaBroker struct {
	Plain, SASLSSL, MTLS string // host:port; SASLSSL and MTLS only when secure
	CA                   *CA    // nil unless secure

	t       testing.TB
	props   string // server.properties
	log     string // the broker's output, all runs appended
	process *os.Process
	done    chan struct{} // closed when process has exited
	cleanup bool          // the cleanup is registered
}

// KafkaOptions are what a test's own broker serves besides PLAINTEXT.
type KafkaOptions struct {
	// Secure adds the SASL_SSL and SSL listeners.
	Secure bool
	// Users are SCRAM credentials (name → password, for both SCRAM
	// mechanisms; PLAIN accepts them too) of a secure broker.
	Users map[string]string
	// Authorizer turns on the KRaft StandardAuthorizer: a SASL_SSL or SSL
	// client may do only what an ACL (Allow) grants it. The PLAINTEXT
	// listeners' principal, ANONYMOUS (the test's administration, the
	// inter-broker and controller traffic), is a super user.
	Authorizer bool
}

// StartKafka formats a fresh KRaft store, starts the broker on free ports,
// waits until it answers and stops it at cleanup. The jars come from
// $REFERRALOPS_DATA_DIR/kafka/libs (default <repo>/.data/kafka/libs): run
// `make services-up` once to resolve them.
func StartKafka(t testing.TB, opts KafkaOptions) *KafkaBroker {
	t.Helper()
	if _, err := os.Stat(kafkaLibs()); err != nil {
		unavailable(t, "the Apache Kafka jars", err)
	}
	if _, err := exec.LookPath("java"); err != nil {
		unavailable(t, "java", err)
	}
	dir := t.TempDir()
	k := &KafkaBroker{t: t, Plain: FreeAddr(t), props: filepath.Join(dir, "server.properties"), log: filepath.Join(dir, "broker.log")}
	controller := FreeAddr(t)
	listeners := []string{"PLAINTEXT://" + k.Plain}
	props := []string{
		"process.roles=broker,controller",
		"node.id=1",
		"controller.quorum.voters=1@" + controller,
		"controller.listener.names=CONTROLLER",
		"inter.broker.listener.name=PLAINTEXT",
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
	}
	if opts.Secure {
		k.SASLSSL, k.MTLS = FreeAddr(t), FreeAddr(t)
		listeners = append(listeners, "SASL_SSL://"+k.SASLSSL, "SSL://"+k.MTLS)
		props = append(props, k.secureProps(t, dir, opts.Users)...)
	}
	if opts.Authorizer {
		props = append(props,
			"authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
			"super.users=User:ANONYMOUS",
			"allow.everyone.if.no.acl.found=false",
		)
	}
	props = append(props,
		"listeners="+strings.Join(append(listeners, "CONTROLLER://"+controller), ","),
		"advertised.listeners="+strings.Join(listeners, ","),
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
	)
	if err := os.WriteFile(k.props, []byte(strings.Join(props, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The broker's own tool writes the SCRAM credentials into the metadata
	// log as the store is formatted.
	// --cluster-id=ID: an id may begin with "-", which argparse would take for an option.
	format := []string{"kafka.tools.StorageTool", "format", "--cluster-id=" + clusterID(t), "-c", k.props}
	for name, password := range opts.Users {
		for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
			format = append(format, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", mech, name, password))
		}
	}
	if out, err := kafkaJava("-Xmx256m", format...).CombinedOutput(); err != nil {
		t.Fatalf("kafka StorageTool format: %v\n%s", err, out)
	}
	k.Start(t)
	return k
}

// secureProps writes the broker's PEM key store under dir and returns the
// properties of the SASL_SSL and SSL listeners.
func (k *KafkaBroker) secureProps(t testing.TB, dir string, users map[string]string) []string {
	t.Helper()
	k.CA = NewCA(t, "kafka-test")
	server := k.CA.Issue(t, "kafka-broker")
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
	var plainUsers strings.Builder
	for name, password := range users {
		fmt.Fprintf(&plainUsers, " user_%s=%q", name, password)
	}
	return []string{
		"sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN",
		"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;",
		"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required" + plainUsers.String() + ";",
		"listener.name.ssl.ssl.client.auth=required",
		"ssl.keystore.type=PEM",
		"ssl.keystore.location=" + keyStore,
		"ssl.truststore.type=PEM",
		"ssl.truststore.location=" + k.CA.CertFile,
		"ssl.protocol=TLSv1.3",
		"ssl.enabled.protocols=TLSv1.3,TLSv1.2",
	}
}

// Start starts the broker on its ports and data (again, after Kill) and
// waits until it answers with a controller.
func (k *KafkaBroker) Start(t testing.TB) {
	t.Helper()
	logFile, err := os.OpenFile(k.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the broker has its own descriptor
	cmd := kafkaJava("-Xmx512m", "kafka.Kafka", k.props)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	k.process, k.done = cmd.Process, done
	if !k.cleanup {
		k.cleanup = true
		k.t.Cleanup(func() {
			_ = k.process.Signal(syscall.SIGTERM)
			select {
			case <-k.done:
			case <-time.After(30 * time.Second):
				_ = k.process.Kill()
				<-k.done
			}
			if k.t.Failed() {
				k.t.Logf("output of the test's Kafka broker:\n%s", k.output())
			}
		})
	}
	// A transport of this start's own: the default one answers metadata
	// from its cache, which would be the killed broker's.
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(k.Plain), Timeout: 2 * time.Second, Transport: transport}
	Eventually(t, 90*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("the test's Kafka broker exited:\n%s", k.output())
		default:
		}
		meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{})
		return err == nil && meta.Controller.ID >= 0
	}, func() string { return "the test's Kafka broker does not answer on " + k.Plain })
}

// Allow grants user (a SCRAM user's name) op on the resource of type rt
// named name, as an administrator on the PLAINTEXT listener; a broker with
// Authorizer denies what no ACL allows.
func (k *KafkaBroker) Allow(t testing.TB, user string, op kafka.ACLOperationType, rt kafka.ResourceType, name string) {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(k.Plain), Timeout: 10 * time.Second}
	resp, err := client.CreateACLs(context.Background(), &kafka.CreateACLsRequest{ACLs: []kafka.ACLEntry{{
		ResourceType: rt, ResourceName: name, ResourcePatternType: kafka.PatternTypeLiteral,
		Principal: "User:" + user, Host: "*", Operation: op, PermissionType: kafka.ACLPermissionTypeAllow,
	}}})
	if err == nil {
		err = errors.Join(resp.Errors...)
	}
	if err != nil {
		t.Fatalf("allow %s %s on %s: %v", user, op, name, err)
	}
}

// Kill sends the broker SIGKILL, as a crash or the OOM killer would, and
// waits until it has exited.
func (k *KafkaBroker) Kill(t testing.TB) {
	t.Helper()
	_ = k.process.Signal(syscall.SIGKILL)
	select {
	case <-k.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the test's Kafka broker did not exit on SIGKILL")
	}
}

func (k *KafkaBroker) output() []byte {
	b, _ := os.ReadFile(k.log)
	return tail(b, 8000)
}

func kafkaLibs() string {
	return filepath.Join(envOr("REFERRALOPS_DATA_DIR", filepath.Join(RepoRoot(), ".data")), "kafka", "libs")
}

func kafkaJava(heap string, args ...string) *exec.Cmd {
	base := []string{heap, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
		"-Dlog4j2.configurationFile=" + filepath.Join(RepoRoot(), "deploy", "local", "kafka", "tools-log4j2.properties"),
		"-cp", kafkaLibs() + "/*"}
	return exec.Command("java", append(base, args...)...)
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

package testenv

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/broker"
)

// Partitions is the partition count of test topics, as `make services-up` uses.
const Partitions = 6

// KafkaBrokers is the real broker of the end-to-end suite
// (REFERRALOPS_TEST_KAFKA_BROKERS, default 127.0.0.1:9092); it skips or fails
// the test when the broker does not answer.
func KafkaBrokers(t testing.TB) []string {
	t.Helper()
	addr := envOr("REFERRALOPS_TEST_KAFKA_BROKERS", "127.0.0.1:9092")
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		unavailable(t, "Kafka broker at "+addr, err)
	}
	conn.Close()
	return []string{addr}
}

// Topics creates a fresh set of input and dead-letter topics for one test on
// brokers and deletes them when the test ends.
func Topics(t testing.TB, brokers []string) broker.Config {
	t.Helper()
	cfg := TopicNames(t, brokers)
	if err := CreateTopics(context.Background(), brokers, append(cfg.Topics.Inputs(), cfg.Topics.DeadLetters)...); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TopicNames names a fresh set of topics without creating them; those that
// exist when the test ends are deleted.
func TopicNames(t testing.TB, brokers []string) broker.Config {
	t.Helper()
	prefix := UniqueName("t") + "-"
	cfg := broker.DefaultConfig()
	cfg.Brokers = brokers
	cfg.Topics.Referrals = prefix + cfg.Topics.Referrals
	cfg.Topics.Scheduling = prefix + cfg.Topics.Scheduling
	cfg.Topics.Communications = prefix + cfg.Topics.Communications
	cfg.Topics.DeadLetters = prefix + cfg.Topics.DeadLetters
	cfg.Topics.HL7v2 = prefix + cfg.Topics.HL7v2
	cfg.Topics.FHIR = prefix + cfg.Topics.FHIR
	all := append(cfg.Topics.Inputs(), cfg.Topics.DeadLetters, cfg.Topics.HL7v2, cfg.Topics.FHIR)
	t.Cleanup(func() {
		client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
		_, _ = client.DeleteTopics(context.Background(), &kafka.DeleteTopicsRequest{Topics: all})
	})
	return cfg
}

// CreateTopics creates topics with Partitions partitions and waits until every
// partition has a leader.
func CreateTopics(ctx context.Context, brokers []string, topics ...string) error {
	return createTopics(ctx, brokers, 1, topics)
}

// createTopics creates topics with Partitions partitions of replicas copies
// each and waits until every partition has a leader.
func createTopics(ctx context.Context, brokers []string, replicas int, topics []string) error {
	client := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 30 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, name := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: Partitions, ReplicationFactor: replicas})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for name, err := range resp.Errors {
		if err != nil {
			return fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
		ready := err == nil
		if ready {
			for _, tp := range meta.Topics {
				if tp.Error != nil || len(tp.Partitions) != Partitions {
					ready = false
				}
				for _, p := range tp.Partitions {
					if p.Error != nil || p.Leader.ID < 0 {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topics %v have no leaders after 30s (last error: %v)", topics, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitCommitted polls until group has committed the end offset of every
// partition of kc's input topics, or fails the test at the deadline.
func WaitCommitted(t testing.TB, kc broker.Config, group string, timeout time.Duration) {
	t.Helper()
	WaitCommittedTopics(t, kc, group, timeout, kc.Topics.Inputs()...)
}

// WaitCommittedTopics is WaitCommitted for the given topics.
func WaitCommittedTopics(t testing.TB, kc broker.Config, group string, timeout time.Duration, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		lag, err := broker.GroupLag(context.Background(), kc, group, topics...)
		if err == nil && broker.TotalLag(lag) == 0 {
			return
		}
		last = fmt.Sprint(lag, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("group %s did not commit to the end within %s: lag %s", group, timeout, last)
}

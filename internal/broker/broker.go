// Package broker holds the Kafka settings shared by the ingester and the
// generator (brokers, topic names, TLS and SASL) and the topic plumbing both
// need: connecting securely, waiting for topics to exist and writing messages.
// Every kafka-go client of the project gets its dialer or transport here, so
// that none of them can bypass the security settings.
package broker

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/config"
)

// Topics names the input topics and the dead-letter topic.
type Topics struct {
	Referrals      string `yaml:"referrals"`
	Scheduling     string `yaml:"scheduling"`
	Communications string `yaml:"communications"`
	DeadLetters    string `yaml:"dlq"`
	// The standard inputs (STANDARDS.md): raw HL7 v2 ER7 messages and FHIR R4
	// JSON, one per record, written by the MLLP receiver, an interface engine
	// or `generate --format`, read by ingest with a site config.
	HL7v2 string `yaml:"hl7v2"`
	FHIR  string `yaml:"fhir"`
}

// Inputs lists the three input topics.
func (t Topics) Inputs() []string { return []string{t.Referrals, t.Scheduling, t.Communications} }

// For is the input topic of a stream.
func (t Topics) For(s event.Stream) string {
	switch s {
	case event.StreamScheduling:
		return t.Scheduling
	case event.StreamCommunication:
		return t.Communications
	default:
		return t.Referrals
	}
}

// Config is how to reach Kafka and which topics to use.
type Config struct {
	Brokers config.StringList `yaml:"brokers"`
	Topics  Topics            `yaml:"topics"`
	TLS     TLSConfig         `yaml:"tls"`
	SASL    SASLConfig        `yaml:"sasl"`
}

// DefaultConfig is a local single broker with the default topics of EVENTS.md.
func DefaultConfig() Config {
	return Config{
		Brokers: config.StringList{"127.0.0.1:9092"},
		Topics: Topics{
			Referrals:      "referral-events",
			Scheduling:     "scheduling-events",
			Communications: "communication-events",
			DeadLetters:    "referralops-dlq",
			HL7v2:          "hl7v2-messages",
			FHIR:           "fhir-resources",
		},
	}
}

// RegisterFlags registers --kafka-brokers, the --topic-* flags and the
// --kafka-tls-* and --kafka-sasl-* flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	c.registerSecurityFlags(fs)
	fs.Var(&c.Brokers, "kafka-brokers", "comma-separated Kafka bootstrap brokers (host:port)")
	fs.StringVar(&c.Topics.Referrals, "topic-referrals", c.Topics.Referrals, "topic of referral.* events")
	fs.StringVar(&c.Topics.Scheduling, "topic-scheduling", c.Topics.Scheduling, "topic of appointment.* events")
	fs.StringVar(&c.Topics.Communications, "topic-communications", c.Topics.Communications, "topic of communication.* events")
	fs.StringVar(&c.Topics.DeadLetters, "topic-dlq", c.Topics.DeadLetters, "dead-letter topic for invalid messages")
	fs.StringVar(&c.Topics.HL7v2, "topic-hl7v2", c.Topics.HL7v2, "topic of raw HL7 v2 messages")
	fs.StringVar(&c.Topics.FHIR, "topic-fhir", c.Topics.FHIR, "topic of FHIR R4 resources and Bundles")
}

// Validate checks the settings; errors name the flag.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka-brokers: at least one broker is required"))
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, fmt.Errorf("kafka-brokers: %q is not host:port", b))
		} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("kafka-brokers: %q has no valid port", b))
		}
	}
	names := map[string]string{
		"topic-referrals": c.Topics.Referrals, "topic-scheduling": c.Topics.Scheduling,
		"topic-communications": c.Topics.Communications, "topic-dlq": c.Topics.DeadLetters,
		"topic-hl7v2": c.Topics.HL7v2, "topic-fhir": c.Topics.FHIR,
	}
	seen := map[string]string{}
	for _, flagName := range []string{"topic-referrals", "topic-scheduling", "topic-communications", "topic-dlq", "topic-hl7v2", "topic-fhir"} {
		topic := names[flagName]
		if topic == "" && (flagName == "topic-hl7v2" || flagName == "topic-fhir") {
			continue // not used; the commands that need one say so
		}
		if !validTopic(topic) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid Kafka topic name", flagName, topic))
		}
		if other, dup := seen[topic]; dup {
			errs = append(errs, fmt.Errorf("%s: %q is already used by %s", flagName, topic, other))
		}
		seen[topic] = flagName
	}
	errs = append(errs, c.validateSecurity()...)
	return errors.Join(errs...)
}

func validTopic(s string) bool {
	if s == "" || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// WaitForTopics returns once every topic exists, polling until ctx ends. A topic
// that is missing is logged once, so an operator sees why nothing happens. It
// is every command's first contact with Kafka, so it probes the security
// settings too: a refused password or certificate is returned at once,
// wrapping ErrRejected, instead of being retried.
func WaitForTopics(ctx context.Context, c Config, topics []string, logger *slog.Logger) error {
	if c.TLS.InsecureSkipVerify {
		logger.Warn("INSECURE: --kafka-tls-insecure-skip-verify accepts any broker certificate; anyone on the network path can read and change the events")
	}
	client, err := c.Client(10 * time.Second)
	if err != nil {
		return err
	}
	reported := map[string]bool{}
	for {
		if err := Probe(ctx, c); err != nil {
			return err
		}
		missing, err := missingTopics(ctx, client, topics)
		switch {
		case err != nil && !reported[""]:
			logger.Warn("cannot read Kafka metadata; retrying", "brokers", c.Brokers.String(), "err", err)
			reported[""] = true
		case err == nil && len(missing) == 0:
			if len(reported) > 0 {
				logger.Info("all topics exist", "topics", topics)
			}
			return nil
		}
		for _, t := range missing {
			if !reported[t] {
				logger.Warn("topic does not exist yet; waiting for it to be created", "topic", t)
				reported[t] = true
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func missingTopics(ctx context.Context, client *kafka.Client, topics []string) ([]string, error) {
	resp, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, t := range resp.Topics {
		if t.Error != nil || len(t.Partitions) == 0 {
			missing = append(missing, t.Name)
		}
	}
	return missing, nil
}

// MaxBatchBytes keeps a produced record batch within the broker's default
// message.max.bytes (1 MB), which limits whole batches, not single records.
const MaxBatchBytes = 1000000

// NewWriter returns a synchronous writer that waits for all in-sync replicas, hashes
// keys to partitions (one referral's events share a partition), and batches for
// throughput. topic may be empty when every message names its topic.
func NewWriter(c Config, topic string) (*kafka.Writer, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	return &kafka.Writer{
		Addr:                   kafka.TCP(c.Brokers...),
		Transport:              t,
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchSize:              10000,
		BatchBytes:             MaxBatchBytes,
		BatchTimeout:           5 * time.Millisecond,
		AllowAutoTopicCreation: false,
	}, nil
}

package mllp

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// Config is the receiver's settings.
type Config struct {
	Listen     string `yaml:"listen"`      // MLLP address
	HTTPListen string `yaml:"http_listen"` // /metrics, /healthz, /readyz
	// Topic is where messages go: broker.Config's Topics.HL7v2 (--topic-hl7v2,
	// shared with generate and ingest), set by the command.
	Topic           string        `yaml:"-"`
	MaxMessageBytes int           `yaml:"max_message_bytes"` // larger messages get AR
	MaxConnections  int           `yaml:"max_connections"`   // more are closed at once
	IdleTimeout     time.Duration `yaml:"idle_timeout"`      // a connection silent this long is closed
	KafkaTimeout    time.Duration `yaml:"kafka_timeout"`     // a write not acknowledged by then gets AE
	TLSCert         string        `yaml:"tls_cert"`          // PEM files; both set: MLLP over TLS
	TLSKey          string        `yaml:"tls_key"`
}

// DefaultConfig: the registered MLLP port 2575, the contract's message size
// limit, 64 connections (an interface engine uses a few), Kafka's own
// timeouts well inside a sender's typical 30-60 s ACK timeout.
func DefaultConfig() Config {
	return Config{
		Listen:          ":2575",
		HTTPListen:      ":9466",
		MaxMessageBytes: event.DefaultMaxMessageBytes,
		MaxConnections:  64,
		IdleTimeout:     10 * time.Minute,
		KafkaTimeout:    10 * time.Second,
	}
}

// RegisterFlags registers the settings on fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "MLLP address (host:port)")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "address of /metrics, /healthz and /readyz")
	fs.IntVar(&c.MaxMessageBytes, "max-message-bytes", c.MaxMessageBytes, "largest message in bytes; larger ones are answered AR")
	fs.IntVar(&c.MaxConnections, "max-connections", c.MaxConnections, "concurrent connections; more are closed on accept")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close a connection that sends nothing for this long")
	fs.DurationVar(&c.KafkaTimeout, "kafka-timeout", c.KafkaTimeout, "how long to wait for Kafka to acknowledge a message before answering AE")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate file: serve MLLP over TLS (with --tls-key)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key file of --tls-cert")
}

// Validate reports every invalid setting, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	for _, a := range [][2]string{{"listen", c.Listen}, {"http-listen", c.HTTPListen}} {
		if _, _, err := net.SplitHostPort(a[1]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", a[0], a[1]))
		}
	}
	if c.MaxMessageBytes <= 0 {
		errs = append(errs, errors.New("max-message-bytes: must be > 0"))
	}
	if c.MaxConnections <= 0 {
		errs = append(errs, errors.New("max-connections: must be > 0"))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, errors.New("idle-timeout: must be > 0"))
	}
	if c.KafkaTimeout <= 0 {
		errs = append(errs, errors.New("kafka-timeout: must be > 0"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert, tls-key: set both or neither"))
	} else if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, fmt.Errorf("tls-cert: %w", err))
		}
	}
	return errors.Join(errs...)
}

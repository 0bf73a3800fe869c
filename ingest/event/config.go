package event

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// Config is the site-specific part of the contract.
type Config struct {
	// ExtraServiceLines are accepted in data.service_line besides
	// ServiceLines(): lowercase letters, digits and _, starting with a letter,
	// at most 64 bytes (they become label values).
	ExtraServiceLines []string `yaml:"extra_service_lines"`
	// MaxFutureSkew is how far an event's time may lie ahead of the decoder's
	// clock (producers' clocks drift); later events are future_time.
	MaxFutureSkew time.Duration `yaml:"max_future_skew"`
	// MaxMessageBytes bounds a message value; longer ones are too_large.
	MaxMessageBytes int `yaml:"max_message_bytes"`
}

// DefaultMaxMessageBytes is the default size limit of a message value.
const DefaultMaxMessageBytes = 512 << 10

// DefaultConfig returns the defaults: no extra service lines, 24h of future
// skew, 512 KiB messages. Events are about 1 KB; the limit sits below Kafka's
// default 1 MB so that an oversized message can still travel to the
// dead-letter topic with its headers.
func DefaultConfig() Config {
	return Config{
		MaxFutureSkew:   24 * time.Hour,
		MaxMessageBytes: DefaultMaxMessageBytes,
	}
}

// RegisterFlags registers the settings on fs, each flag named prefix plus
// its name and defaulting to the field's current value (so flags override a
// YAML file loaded before).
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.Var((*listFlag)(&c.ExtraServiceLines), prefix+"service-lines-extra",
		"comma-separated site-specific service lines accepted in addition to the built-in set")
	fs.DurationVar(&c.MaxFutureSkew, prefix+"max-future-skew", c.MaxFutureSkew,
		"how far an event's time may lie in the future before it is dead-lettered (future_time)")
	fs.IntVar(&c.MaxMessageBytes, prefix+"max-message-bytes", c.MaxMessageBytes,
		"largest message value in bytes; larger messages are dead-lettered (too_large)")
}

// Validate reports every invalid setting, each error naming its flag.
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.ExtraServiceLines {
		if !validServiceLineName(s) {
			errs = append(errs, fmt.Errorf("service-lines-extra: %s: want lowercase letters, digits and _, starting with a letter, at most 64", quote([]byte(s))))
		}
	}
	if c.MaxFutureSkew <= 0 {
		errs = append(errs, errors.New("max-future-skew: must be > 0"))
	}
	if c.MaxMessageBytes <= 0 {
		errs = append(errs, errors.New("max-message-bytes: must be > 0"))
	}
	return errors.Join(errs...)
}

// listFlag is a comma-separated list flag. Setting it replaces the list (a
// flag overrides the file rather than adding to it); blanks are dropped.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*l = out
	return nil
}

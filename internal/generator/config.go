package generator

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// Limits that keep a run within what the simulation's compact encodings hold.
const (
	maxReferrals = 50_000_000
	maxDays      = 3660
	// minMessageBytes keeps a too_large message clearly bigger than any valid one.
	minMessageBytes = 4096
	// DefaultMaxMessageBytes is the decoder's default size limit.
	DefaultMaxMessageBytes = event.DefaultMaxMessageBytes
)

// Config says what to simulate and how to deliver it.
type Config struct {
	Seed      int64 `yaml:"seed"`
	Referrals int   `yaml:"referrals"`
	Days      int   `yaml:"days"`
	// End is the last day simulated: referrals are created in (End−Days, End] and
	// their follow-up events run to the end of End's (UTC) day, never beyond.
	End time.Time `yaml:"end"`

	// DuplicateRatio is the fraction of valid messages sent a second time (same
	// bytes, later in the stream).
	DuplicateRatio float64 `yaml:"duplicate_ratio"`
	// InvalidRatio is the number of extra invalid messages per valid message,
	// spread evenly over the eight dead-letter reasons and the three streams.
	InvalidRatio float64 `yaml:"invalid_ratio"`
	// Shuffle delivers out of order: a bounded window shuffle plus about 1% of
	// events held back by one to five days.
	Shuffle bool `yaml:"shuffle"`
	// BinaryRatio is the fraction of valid events encoded in CloudEvents binary
	// mode (headers + data); the rest are structured mode.
	BinaryRatio float64 `yaml:"binary_ratio"`
	// IDFormat is how referral ids look; empty means IDSequential.
	IDFormat IDFormat `yaml:"id_format"`
	// MaxMessageBytes is the decoder's size limit (event.Config's, set from
	// there); too_large messages are one byte over it.
	MaxMessageBytes int `yaml:"-"`
	// Now is the wall clock that future_time invalid messages are relative to;
	// zero means time.Now. It is also the latest allowed End.
	Now time.Time `yaml:"-"`
}

// DefaultConfig is 10,000 referrals over the 30 days up to today 00:00 UTC, all
// valid, in order, 10% binary mode.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Referrals:       10_000,
		Days:            30,
		End:             time.Now().UTC().Truncate(24 * time.Hour),
		BinaryRatio:     0.1,
		IDFormat:        IDSequential,
		MaxMessageBytes: DefaultMaxMessageBytes,
	}
}

// RegisterFlags binds the config to fs; the current values are the defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed; the same seed and flags give the same messages")
	fs.IntVar(&c.Referrals, "referrals", c.Referrals, "number of referrals to simulate")
	fs.IntVar(&c.Days, "days", c.Days, "days over which referrals are created, ending at --end")
	fs.Var((*endFlag)(&c.End), "end", "last simulated day, RFC 3339 or YYYY-MM-DD (UTC); no event is later than the end of that day")
	fs.Float64Var(&c.DuplicateRatio, "duplicate-ratio", c.DuplicateRatio, "fraction of valid messages delivered a second time, later (0-1)")
	fs.Float64Var(&c.InvalidRatio, "invalid-ratio", c.InvalidRatio, "extra invalid messages per valid one, spread over all dead-letter reasons (0-1)")
	fs.BoolVar(&c.Shuffle, "shuffle", c.Shuffle, "deliver out of order, some events days late")
	fs.Var(&c.IDFormat, "id-format", "referral ids: "+idFormatList()+" (sequential ids sort by creation time; the others, like FHIR or EHR ids, do not)")
	fs.Float64Var(&c.BinaryRatio, "binary-ratio", c.BinaryRatio, "fraction of valid events in CloudEvents binary mode (0-1; NDJSON output needs 0)")
}

// Validate reports the first setting that cannot be simulated, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.Referrals < 1 || c.Referrals > maxReferrals:
		return fmt.Errorf("--referrals must be between 1 and %d, got %d", maxReferrals, c.Referrals)
	case c.Days < 1 || c.Days > maxDays:
		return fmt.Errorf("--days must be between 1 and %d, got %d", maxDays, c.Days)
	case c.IDFormat != "" && !c.IDFormat.known():
		return fmt.Errorf("--id-format: want one of %s, got %q", idFormatList(), c.IDFormat)
	case c.End.IsZero():
		return errors.New("--end must be set")
	case c.End.After(c.now()):
		return fmt.Errorf("--end %s is in the future: events would be rejected as future_time", c.End.UTC().Format(time.RFC3339))
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{
		{"--duplicate-ratio", c.DuplicateRatio},
		{"--invalid-ratio", c.InvalidRatio},
		{"--binary-ratio", c.BinaryRatio},
	} {
		if !(r.v >= 0 && r.v <= 1) { // also rejects NaN
			return fmt.Errorf("%s must be between 0 and 1, got %v", r.flag, r.v)
		}
	}
	if c.MaxMessageBytes != 0 && c.MaxMessageBytes < minMessageBytes {
		return fmt.Errorf("--max-message-bytes must be at least %d for too_large messages, got %d", minMessageBytes, c.MaxMessageBytes)
	}
	return nil
}

func (c Config) now() time.Time {
	if c.Now.IsZero() {
		return time.Now()
	}
	return c.Now
}

func (c Config) maxMessageBytes() int {
	if c.MaxMessageBytes == 0 {
		return DefaultMaxMessageBytes
	}
	return c.MaxMessageBytes
}

// endFlag parses --end as RFC 3339 or a bare UTC date.
type endFlag time.Time

func (f *endFlag) String() string {
	t := time.Time(*f)
	if t.IsZero() {
		return ""
	}
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.UTC().Format(time.DateOnly)
	}
	return t.UTC().Format(time.RFC3339)
}

func (f *endFlag) Set(s string) error {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		*f = endFlag(t.UTC())
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("want RFC 3339 or YYYY-MM-DD, got %q", s)
	}
	*f = endFlag(t.UTC())
	return nil
}

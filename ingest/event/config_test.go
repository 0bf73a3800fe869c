package event

import (
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.MaxFutureSkew != 24*time.Hour || c.MaxMessageBytes != 524288 || c.ExtraServiceLines != nil {
		t.Errorf("DefaultConfig() = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// A zero Config decodes with the defaults.
	d := NewDecoder(Config{})
	if d.maxBytes != c.MaxMessageBytes || d.maxSkew != c.MaxFutureSkew {
		t.Errorf("NewDecoder(Config{}) = %+v", d)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // "" for valid
	}{
		{"extra_lines", func(c *Config) { c.ExtraServiceLines = []string{"sleep_medicine", "wound_care2"} }, ""},
		{"extra_line_upper", func(c *Config) { c.ExtraServiceLines = []string{"Sleep"} },
			`service-lines-extra: "Sleep": want lowercase letters, digits and _, starting with a letter, at most 64`},
		{"extra_line_empty", func(c *Config) { c.ExtraServiceLines = []string{""} },
			`service-lines-extra: "": want lowercase letters, digits and _, starting with a letter, at most 64`},
		{"extra_line_digit_first", func(c *Config) { c.ExtraServiceLines = []string{"3d_imaging"} },
			`service-lines-extra: "3d_imaging": want lowercase letters, digits and _, starting with a letter, at most 64`},
		{"zero_skew", func(c *Config) { c.MaxFutureSkew = 0 }, "max-future-skew: must be > 0"},
		{"negative_skew", func(c *Config) { c.MaxFutureSkew = -time.Hour }, "max-future-skew: must be > 0"},
		{"zero_bytes", func(c *Config) { c.MaxMessageBytes = 0 }, "max-message-bytes: must be > 0"},
		{"all", func(c *Config) { *c = Config{ExtraServiceLines: []string{"a b"}, MaxMessageBytes: -1} },
			`service-lines-extra: "a b": want lowercase letters, digits and _, starting with a letter, at most 64` +
				"\nmax-future-skew: must be > 0\nmax-message-bytes: must be > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Validate: %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	c := DefaultConfig()
	c.MaxMessageBytes = 2048 // e.g. from the YAML file: becomes the flag default
	c.ExtraServiceLines = []string{"from_file"}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags("event.", fs)

	for name, def := range map[string]string{
		"event.service-lines-extra": "from_file",
		"event.max-future-skew":     "24h0m0s",
		"event.max-message-bytes":   "2048",
	} {
		f := fs.Lookup(name)
		if f == nil {
			t.Fatalf("flag %s not registered", name)
		}
		if f.DefValue != def {
			t.Errorf("%s default %q, want %q", name, f.DefValue, def)
		}
		if f.Usage == "" || strings.Contains(f.Usage, "\n") {
			t.Errorf("%s usage %q is not one line", name, f.Usage)
		}
	}
	if err := fs.Parse([]string{"-event.service-lines-extra", " sleep_medicine, ,wound_care ", "-event.max-future-skew=90m"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.ExtraServiceLines, []string{"sleep_medicine", "wound_care"}) {
		t.Errorf("ExtraServiceLines = %q (a flag replaces the file's list)", c.ExtraServiceLines)
	}
	if c.MaxFutureSkew != 90*time.Minute || c.MaxMessageBytes != 2048 {
		t.Errorf("after flags: %+v", c)
	}
}

func TestConfigYAML(t *testing.T) {
	const doc = `
extra_service_lines: [sleep_medicine, wound_care]
max_future_skew: 1h30m
max_message_bytes: 65536
`
	c := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{ExtraServiceLines: []string{"sleep_medicine", "wound_care"}, MaxFutureSkew: 90 * time.Minute, MaxMessageBytes: 65536}
	if !slices.Equal(c.ExtraServiceLines, want.ExtraServiceLines) || c.MaxFutureSkew != want.MaxFutureSkew || c.MaxMessageBytes != want.MaxMessageBytes {
		t.Errorf("got %+v, want %+v", c, want)
	}
	// Keys left out keep their defaults.
	c = DefaultConfig()
	if err := yaml.Unmarshal([]byte("max_message_bytes: 10\n"), &c); err != nil {
		t.Fatal(err)
	}
	if c.MaxFutureSkew != 24*time.Hour {
		t.Errorf("max_future_skew %v, want the default", c.MaxFutureSkew)
	}
}

package generator_test

import (
	"flag"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
)

func TestDefaultConfig(t *testing.T) {
	cfg := generator.DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Referrals != 10_000 || cfg.Days != 30 || cfg.BinaryRatio != 0.1 || cfg.DuplicateRatio != 0 || cfg.InvalidRatio != 0 || cfg.Shuffle {
		t.Errorf("unexpected defaults %+v", cfg)
	}
	if want := time.Now().UTC().Truncate(24 * time.Hour); !cfg.End.Equal(want) {
		t.Errorf("End %s, want today %s", cfg.End, want)
	}
}

func TestValidateNamesTheFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*generator.Config)
		want string
	}{
		{"no referrals", func(c *generator.Config) { c.Referrals = 0 }, "--referrals must be between 1 and 50000000, got 0"},
		{"no days", func(c *generator.Config) { c.Days = 0 }, "--days must be between 1 and 3660, got 0"},
		{"no end", func(c *generator.Config) { c.End = time.Time{} }, "--end must be set"},
		{"future end", func(c *generator.Config) { c.End = time.Now().Add(48 * time.Hour) }, "--end "},
		{"duplicates", func(c *generator.Config) { c.DuplicateRatio = 1.5 }, "--duplicate-ratio must be between 0 and 1, got 1.5"},
		{"invalid", func(c *generator.Config) { c.InvalidRatio = -0.1 }, "--invalid-ratio must be between 0 and 1, got -0.1"},
		{"binary NaN", func(c *generator.Config) { c.BinaryRatio = math.NaN() }, "--binary-ratio must be between 0 and 1, got NaN"},
		{"tiny limit", func(c *generator.Config) { c.MaxMessageBytes = 100 }, "--max-message-bytes must be at least 4096 for too_large messages, got 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := generator.DefaultConfig()
			tc.edit(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	for _, tc := range []struct {
		end  string
		want time.Time
	}{
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-03-01T12:30:00+02:00", time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)},
	} {
		cfg := generator.DefaultConfig()
		fs := flag.NewFlagSet("generate", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		args := []string{"--seed", "7", "--referrals", "500", "--days", "60", "--end", tc.end,
			"--duplicate-ratio", "0.05", "--invalid-ratio", "0.01", "--shuffle", "--binary-ratio", "0"}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if cfg.Seed != 7 || cfg.Referrals != 500 || cfg.Days != 60 || !cfg.End.Equal(tc.want) ||
			cfg.DuplicateRatio != 0.05 || cfg.InvalidRatio != 0.01 || !cfg.Shuffle || cfg.BinaryRatio != 0 {
			t.Errorf("--end %s: parsed %+v", tc.end, cfg)
		}
		if err := cfg.Validate(); err != nil {
			t.Error(err)
		}
	}
	fs := flag.NewFlagSet("generate", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	cfg := generator.DefaultConfig()
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--end", "last tuesday"}); err == nil || !strings.Contains(err.Error(), "want RFC 3339 or YYYY-MM-DD") {
		t.Errorf("bad --end: %v", err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == "" {
			t.Errorf("--%s has no usage text", f.Name)
		}
	})
}

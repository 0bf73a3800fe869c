package kpi

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config is the KPI settings shared by `referralops kpi` and the exporter.
type Config struct {
	// Windows are the cohort windows evaluated (KPIS.md: 30 and 90 days).
	Windows Windows `yaml:"windows"`
	// Timeout bounds one snapshot evaluation (all of its queries).
	Timeout time.Duration `yaml:"timeout"`
}

// DefaultTimeout bounds a snapshot: far above the sub-second evaluation of a
// healthy server, low enough that a stuck one is reported.
const DefaultTimeout = 2 * time.Minute

// DefaultConfig evaluates the 30- and 90-day windows.
func DefaultConfig() Config {
	return Config{Windows: DefaultWindows(), Timeout: DefaultTimeout}
}

// RegisterFlags registers --<prefix>window and --<prefix>kpi-timeout.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.Var(&c.Windows, prefix+"window", "KPI windows, comma-separated, e.g. 30d or 30d,90d (whole days Nd, or a duration like 36h)")
	fs.DurationVar(&c.Timeout, prefix+"kpi-timeout", c.Timeout, "time allowed for one KPI snapshot (all of its queries)")
}

// Validate reports every invalid setting, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if err := c.Windows.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("window: %w", err))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("kpi-timeout: must be positive"))
	}
	return errors.Join(errs...)
}

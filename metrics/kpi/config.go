package kpi

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/referralops/referralops/metrics/kpi/sla"
)

// Config is the KPI settings shared by `referralops kpi` and the exporter.
type Config struct {
	// Windows are the cohort windows evaluated (KPIS.md: 30 and 90 days).
	Windows Windows `yaml:"windows"`
	// Timeout bounds one snapshot evaluation (all of its queries).
	Timeout time.Duration `yaml:"timeout"`
	// SLA is the business-day calendar and triage SLAs: the YAML file's
	// top-level `sla:` section (the command wires it here), or the file given
	// to --sla-calendar, which replaces it.
	SLA sla.Calendar `yaml:"-"`
}

// DefaultTimeout bounds a snapshot: far above the sub-second evaluation of a
// healthy server, low enough that a stuck one is reported.
const DefaultTimeout = 2 * time.Minute

// DefaultConfig evaluates the 30- and 90-day windows.
func DefaultConfig() Config {
	return Config{Windows: DefaultWindows(), Timeout: DefaultTimeout, SLA: sla.Default()}
}

// RegisterFlags registers --<prefix>window, --<prefix>kpi-timeout and
// --<prefix>sla-calendar.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.Var(&calendarFile{c: &c.SLA}, prefix+"sla-calendar", "YAML file of the business-day calendar and triage SLAs (time_zone, weekend, holidays, triage_business_days); replaces the config file's sla: section")
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
	if err := c.SLA.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sla: %w", err))
	}
	return errors.Join(errs...)
}

// calendarFile is the --sla-calendar flag: setting it loads the file.
type calendarFile struct {
	c    *sla.Calendar
	path string
}

func (f *calendarFile) String() string {
	if f == nil {
		return ""
	}
	return f.path
}

func (f *calendarFile) Set(path string) error {
	c, err := sla.Load(path)
	if err != nil {
		return err
	}
	*f.c, f.path = c, path
	return nil
}

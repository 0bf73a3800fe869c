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
	// State is when the lookups by creation time read the KPI state.
	State StateUse `yaml:"kpi_state"`
}

// StateUse is when the KPI queries read the per-referral KPI state
// (migration 0018) for the referrals created in a span, instead of the facts
// in their id range (Request.State).
type StateUse string

// The values of --kpi-state.
const (
	// StateAuto reads the state when the span's id range holds many more
	// referrals than the span (ids that do not sort by creation time), where
	// it reads much less; with sequential ids the facts' range is as tight.
	StateAuto StateUse = "auto"
	// StateAlways reads it for every lookup by creation time.
	StateAlways StateUse = "always"
	// StateNever reads the facts only: for writers that keep no state (the
	// state is then empty, and the facts of every referral are read with it).
	StateNever StateUse = "never"
)

// String implements flag.Value.
func (s *StateUse) String() string { return string(*s) }

// Set implements flag.Value.
func (s *StateUse) Set(v string) error {
	switch StateUse(v) {
	case StateAuto, StateAlways, StateNever:
		*s = StateUse(v)
		return nil
	}
	return fmt.Errorf("must be %s, %s or %s, got %q", StateAuto, StateAlways, StateNever, v)
}

// DefaultTimeout bounds a snapshot: far above the sub-second evaluation of a
// healthy server, low enough that a stuck one is reported.
const DefaultTimeout = 2 * time.Minute

// DefaultConfig evaluates the 30- and 90-day windows.
func DefaultConfig() Config {
	return Config{Windows: DefaultWindows(), Timeout: DefaultTimeout, SLA: sla.Default(), State: StateAuto}
}

// RegisterFlags registers --<prefix>window, --<prefix>kpi-timeout and
// --<prefix>sla-calendar.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.Var(&calendarFile{c: &c.SLA}, prefix+"sla-calendar", "YAML file of the business-day calendar and triage SLAs (time_zone, weekend, holidays, triage_business_days); replaces the config file's sla: section")
	fs.Var(&c.Windows, prefix+"window", "KPI windows, comma-separated, e.g. 30d or 30d,90d (whole days Nd, or a duration like 36h)")
	fs.DurationVar(&c.Timeout, prefix+"kpi-timeout", c.Timeout, "time allowed for one KPI snapshot (all of its queries)")
	fs.Var(&c.State, prefix+"kpi-state", "when the KPIs of the referrals created in a span read the per-referral KPI state the ingesters keep: auto (when referral ids do not sort by creation time), always, or never (writers that keep none)")
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
	if err := new(StateUse).Set(string(c.State)); err != nil {
		errs = append(errs, fmt.Errorf("kpi-state: %w", err))
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

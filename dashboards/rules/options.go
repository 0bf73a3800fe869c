package rules

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// Options shape the generated rules. The zero value is not valid; start from
// DefaultOptions.
type Options struct {
	// Targets are the thresholds the alerts fire on.
	Targets metrics.Targets
	// Window is the KPI window the KPI alerts watch; the exporter must serve
	// it (its --window). The recording rules cover every window.
	Window kpi.Window
	// MinDenominator is the smallest denominator (referrals, appointments or
	// decisions in the window) for which a rate or p90 alert may fire, so a service
	// line with three referrals does not page anyone about its leakage.
	MinDenominator int
	// KPIStaleAfter is how old the last successful KPI snapshot may get
	// before the stale alert's condition holds: a few refresh intervals.
	KPIStaleAfter time.Duration
	// ForOverride, when > 0, replaces the for: duration of every alert. For
	// tests that load the rules into a real Prometheus and need alerts to fire
	// within seconds; 0 keeps each alert's own duration.
	ForOverride time.Duration
	// Interval, when > 0, is the evaluation interval of every group; 0 leaves
	// Prometheus's global evaluation_interval.
	Interval time.Duration
	// RunbookURL is the address of docs/runbooks.md; each alert's runbook_url
	// is it plus the #anchor of the alert's section.
	RunbookURL string
}

// Defaults.
const (
	DefaultMinDenominator = 20
	DefaultRunbookURL     = "https://github.com/referralops/referralops/blob/main/docs/runbooks.md"
)

// DefaultOptions are metrics.DefaultTargets, the first default KPI window
// (30d), a minimum denominator of 20 and a KPI snapshot stale after five
// default refresh intervals.
func DefaultOptions() Options {
	return Options{
		Targets:        metrics.DefaultTargets(),
		Window:         kpi.DefaultWindows()[0],
		MinDenominator: DefaultMinDenominator,
		KPIStaleAfter:  metrics.StaleAfterRefreshes * metrics.DefaultRefreshInterval,
		RunbookURL:     DefaultRunbookURL,
	}
}

// RegisterFlags registers the generator's settings except Targets (see
// LoadTargets). The window flag is --alert-window, not --window, because
// REFERRALOPS_WINDOW already sets the exporter's list of windows.
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	fs.TextVar(&o.Window, "alert-window", o.Window, "KPI window the KPI alerts watch, one of the exporter's --window (whole days Nd, or a duration like 36h)")
	fs.IntVar(&o.MinDenominator, "min-denominator", o.MinDenominator, "rate and p90 alerts fire only for service lines with at least this many referrals, appointments or decisions in the window")
	fs.DurationVar(&o.KPIStaleAfter, "kpi-stale-after", o.KPIStaleAfter, "age of the last successful KPI snapshot at which it counts as stale (a few of the exporter's --refresh-interval)")
	fs.DurationVar(&o.ForOverride, "for", o.ForOverride, "replace every alert's for: duration, e.g. 1s for end-to-end tests (default: each alert's own)")
	fs.DurationVar(&o.Interval, "evaluation-interval", o.Interval, "evaluation interval of the rule groups (default: Prometheus's global evaluation_interval)")
	fs.StringVar(&o.RunbookURL, "runbook-url", o.RunbookURL, "address of docs/runbooks.md; alerts link to its sections")
}

// Validate reports every invalid option, each naming its flag or target key.
func (o Options) Validate() error {
	var errs []error
	if err := o.Targets.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("targets: %w", err))
	}
	if err := o.Window.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("alert-window: %w", err))
	}
	if o.MinDenominator < 0 {
		errs = append(errs, fmt.Errorf("min-denominator: must be >= 0, got %d", o.MinDenominator))
	}
	if o.KPIStaleAfter <= 0 {
		errs = append(errs, fmt.Errorf("kpi-stale-after: must be > 0, got %s", o.KPIStaleAfter))
	}
	if o.ForOverride < 0 {
		errs = append(errs, fmt.Errorf("for: must be >= 0, got %s", o.ForOverride))
	}
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("evaluation-interval: must be >= 0, got %s", o.Interval))
	}
	if o.RunbookURL == "" {
		errs = append(errs, errors.New("runbook-url: must not be empty"))
	}
	return errors.Join(errs...)
}

package rules

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

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
		KPIStaleAfter:  5 * metrics.DefaultRefreshInterval,
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

// targetDurationKeys are the keys of metrics.Targets holding durations; in a
// targets file they may be written in days ("66d", "83.6d") too.
var targetDurationKeys = map[string]bool{"time_to_appointment_p90": true, "default_time_to_appointment_p90": true}

// LoadTargets reads a YAML targets file over metrics.DefaultTargets: keys the
// file sets replace the defaults (time_to_appointment_p90 as a whole, so a
// service line can be dropped), keys it leaves out keep them. Unknown keys are
// an error. Durations are Go durations ("1584h") or days ("66d", "83.6d").
// The result is not validated: Options.Validate does that.
func LoadTargets(path string) (metrics.Targets, error) {
	t := metrics.DefaultTargets()
	b, err := os.ReadFile(path)
	if err != nil {
		return t, fmt.Errorf("targets file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	if len(doc.Content) == 0 { // an empty file keeps the defaults
		return t, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			key, val := root.Content[i].Value, root.Content[i+1]
			if key == "time_to_appointment_p90" {
				t.TimeToAppointmentP90 = nil // the file's list replaces the defaults
			}
			if targetDurationKeys[key] {
				if err := daysToDurations(val); err != nil {
					return t, fmt.Errorf("targets file %s: %s: %w", path, key, err)
				}
			}
		}
	}
	// Re-encode so the decoder that rejects unknown keys sees the rewritten
	// durations (yaml.Node.Decode cannot reject unknown keys).
	norm, err := yaml.Marshal(&doc)
	if err != nil {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(norm))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil && !errors.Is(err, io.EOF) {
		return t, fmt.Errorf("targets file %s: %w", path, err)
	}
	return t, nil
}

var fractionalDays = regexp.MustCompile(`^[0-9]+\.[0-9]+d$`)

// daysToDurations rewrites the duration scalars under n from the day forms
// Go's time.ParseDuration lacks into Go durations.
func daysToDurations(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 1; i < len(n.Content); i += 2 {
			if err := daysToDurations(n.Content[i]); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return nil
	}
	if _, err := time.ParseDuration(n.Value); err == nil {
		return nil
	}
	var d time.Duration
	if fractionalDays.MatchString(n.Value) {
		days, err := strconv.ParseFloat(n.Value[:len(n.Value)-1], 64)
		if err != nil {
			return err
		}
		d = time.Duration(math.Round(days * float64(24*time.Hour))) // 83.6d is not 83.599…d
	} else {
		md, err := model.ParseDuration(n.Value)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 66d, 83.6d or 1584h", n.Value)
		}
		d = time.Duration(md)
	}
	n.Value, n.Tag, n.Style = d.String(), "!!str", 0
	return nil
}

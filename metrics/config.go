package metrics

import (
	"errors"
	"flag"
	"fmt"
	"slices"
	"time"

	"github.com/referralops/referralops/internal/config"
)

// Config is the exporter's own settings; the KPI windows and query timeout
// are kpi.Config's, ClickHouse's are clickhouse.Config's.
type Config struct {
	// Listen is the address of /metrics, /healthz and /readyz.
	Listen string `yaml:"listen"`
	// RefreshInterval is how often a snapshot is evaluated.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// ReferrerRefreshInterval is how often the referrer KPIs (activity and
	// attention) are evaluated with a snapshot; the snapshots between keep
	// the last ones. They count referrals over 90- and 365-day lookbacks in
	// whole days, and reading them costs about as much as the rest of a
	// refresh together. Zero means ReferrerRefreshes refresh intervals.
	ReferrerRefreshInterval time.Duration `yaml:"referrer_refresh_interval"`
	// AsOf fixes the evaluation time T (replays, tests); zero means the time of
	// each refresh.
	AsOf time.Time `yaml:"as_of"`
	// Locations is the allow-list of location label values; empty means the
	// top LocationsTop by volume. Every other location is summed as "other".
	Locations config.StringList `yaml:"locations"`
	// LocationsTop is how many locations, by referrals in the largest window,
	// keep their own label value when there is no allow-list.
	LocationsTop int `yaml:"locations_top"`
	// MaxSeriesPerFamily caps the series of each KPI family; the rest are
	// dropped and counted in referralops_kpi_series_dropped_total.
	MaxSeriesPerFamily int `yaml:"max_series_per_family"`
}

// Defaults.
const (
	DefaultListen             = ":9464"
	DefaultRefreshInterval    = 30 * time.Second
	DefaultLocationsTop       = 5
	DefaultMaxSeriesPerFamily = 2000
)

// ReferrerRefreshes is how many refresh intervals the referrer KPIs are
// kept when ReferrerRefreshInterval is zero: 5 minutes at the default 30 s,
// 20 s at a test's 2 s.
const ReferrerRefreshes = 10

// StaleAfterRefreshes is how many default refresh intervals without a
// success make the KPI snapshot stale: the pipeline dashboard's snapshot age
// turns red, and the stale alert's condition holds, after as many.
const StaleAfterRefreshes = 5

// DefaultConfig serves on :9464, refreshes every 30 s (the referrer KPIs
// every 10 refreshes), keeps the top 5 locations and at most 2000 series per
// family.
func DefaultConfig() Config {
	return Config{
		Listen:             DefaultListen,
		RefreshInterval:    DefaultRefreshInterval,
		LocationsTop:       DefaultLocationsTop,
		MaxSeriesPerFamily: DefaultMaxSeriesPerFamily,
	}
}

// RegisterFlags registers the exporter's flags with the given name prefix.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, prefix+"listen", c.Listen, "address of /metrics, /healthz and /readyz")
	fs.DurationVar(&c.RefreshInterval, prefix+"refresh-interval", c.RefreshInterval, "how often the KPI snapshot is evaluated (scrapes never query ClickHouse)")
	fs.DurationVar(&c.ReferrerRefreshInterval, prefix+"referrer-refresh-interval", c.ReferrerRefreshInterval, "how often the referrer KPIs (activity, attention: 90- and 365-day lookbacks) are evaluated; snapshots in between keep the last ones (default: 10 refresh intervals)")
	fs.Var((*asOfFlag)(&c.AsOf), prefix+"as-of", "fixed evaluation time T, RFC 3339, for replays and tests (default: the time of each refresh)")
	fs.Var(&c.Locations, prefix+"locations", "location label allow-list, comma-separated; other locations are summed as \"other\" (default: the top --locations-top)")
	fs.IntVar(&c.LocationsTop, prefix+"locations-top", c.LocationsTop, "without --locations: locations by referral volume that keep their own label; the rest are \"other\"")
	fs.IntVar(&c.MaxSeriesPerFamily, prefix+"max-series-per-family", c.MaxSeriesPerFamily, "series cap per KPI metric family; series beyond it are dropped and counted")
}

// Validate reports every invalid setting, each naming its flag.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: must not be empty"))
	}
	if c.RefreshInterval <= 0 {
		errs = append(errs, fmt.Errorf("refresh-interval: must be > 0, got %s", c.RefreshInterval))
	}
	if c.ReferrerRefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("referrer-refresh-interval: must be >= 0, got %s", c.ReferrerRefreshInterval))
	}
	for i, l := range c.Locations {
		switch {
		case l == OtherLocation:
			errs = append(errs, fmt.Errorf("locations: %q is the label of the locations left out", OtherLocation))
		case slices.Contains(c.Locations[:i], l):
			errs = append(errs, fmt.Errorf("locations: %q listed twice", l))
		}
	}
	if c.LocationsTop < 0 {
		errs = append(errs, fmt.Errorf("locations-top: must be >= 0, got %d", c.LocationsTop))
	}
	if c.MaxSeriesPerFamily <= 0 {
		errs = append(errs, fmt.Errorf("max-series-per-family: must be > 0, got %d", c.MaxSeriesPerFamily))
	}
	return errors.Join(errs...)
}

// ReferrerInterval is how often the referrer KPIs are evaluated.
func (c Config) ReferrerInterval() time.Duration {
	if c.ReferrerRefreshInterval == 0 {
		return ReferrerRefreshes * c.RefreshInterval
	}
	return c.ReferrerRefreshInterval
}

// asOfFlag reads --as-of as RFC 3339; empty means unset.
type asOfFlag time.Time

func (f *asOfFlag) String() string {
	if f == nil || time.Time(*f).IsZero() {
		return ""
	}
	return time.Time(*f).UTC().Format(time.RFC3339)
}

func (f *asOfFlag) Set(s string) error {
	if s == "" {
		*f = asOfFlag{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("want RFC 3339 like 2026-03-31T00:00:00Z, got %q", s)
	}
	*f = asOfFlag(t.UTC())
	return nil
}

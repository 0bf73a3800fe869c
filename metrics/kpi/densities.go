package kpi

import (
	"maps"
	"sync"
	"time"
)

// DefaultDensityMaxAge is how long Densities keeps the lookups' densities.
// They move with the history's shape, not from one refresh to the next; with
// ids that do not sort by time, counting them reads every referral's
// kpi_created row (0.18 s of a 2.1 s refresh at 10 M events, make bench).
const DefaultDensityMaxAge = 5 * time.Minute

// Densities remembers, between the evaluations of one caller (the exporter's
// refreshes), how many referrals each lookup's id range held per referral of
// its own when last counted, which decides how the lookup is read (dense,
// sparse, or from the KPI state). Every way gives the same snapshot, so an
// old density can only cost time. The zero value is ready to use; it is safe
// for concurrent use.
type Densities struct {
	// MaxAge is how long counted densities are used; 0 means
	// DefaultDensityMaxAge.
	MaxAge time.Duration

	mu      sync.Mutex
	counted time.Time
	ratios  map[string]float64 // by lookup name
}

// recall returns the remembered densities of the lookups named, or nil when
// d is nil, they are older than MaxAge, or one of them was not counted.
func (d *Densities) recall(names []string) map[string]float64 {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	maxAge := d.MaxAge
	if maxAge <= 0 {
		maxAge = DefaultDensityMaxAge
	}
	if d.ratios == nil || time.Since(d.counted) >= maxAge {
		return nil
	}
	for _, n := range names {
		if _, ok := d.ratios[n]; !ok {
			return nil
		}
	}
	return maps.Clone(d.ratios)
}

// remember keeps ratios, counted now.
func (d *Densities) remember(ratios map[string]float64) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.counted = time.Now()
	d.ratios = maps.Clone(ratios)
}

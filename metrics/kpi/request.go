package kpi

// Building a request's query parameters (queryData): windows, breakdowns,
// buckets and the kpi_index lookups every KPI query reads.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/schema"
)

// KPIS.md's fixed spans.
const (
	loopDelay = schema.LoopClosedWithin // the closed-loop cohort matures
	lookback  = 365 * day               // backlog and referrer activity
	recent    = 90 * day                // referrer activity's n
)

// DefaultBuckets are the histogram upper bounds of the time-to-X
// distributions: 1 day to 180 days.
func DefaultBuckets() []time.Duration {
	days := []int{1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180}
	b := make([]time.Duration, len(days))
	for i, d := range days {
		b[i] = time.Duration(d) * day
	}
	return b
}

// Request is what to evaluate.
type Request struct {
	// DB is the database holding the schema of package schema.
	DB string
	// AsOf is T; it is truncated to whole seconds.
	AsOf time.Time
	// Windows default to DefaultWindows.
	Windows []Window
	// Breakdowns are evaluated besides the totals and the service lines, which
	// are always there (each extra breakdown adds one group per value
	// combination seen; the rows read stay the same).
	Breakdowns []Breakdown
	// Buckets are the histogram bounds; nil means DefaultBuckets.
	Buckets []time.Duration
	// Parallelism is how many queries run at once; 0 means DefaultParallelism.
	Parallelism int
	// Attention also evaluates the referrer attention levels
	// (Snapshot.Attention). Off, they stay zero: they read the facts of every
	// referral of the 365 days, as much time as the rest of a refresh together,
	// which a caller that does not show them need not spend.
	Attention bool
	// SkipReferrerActivity leaves Snapshot.Referrers zero without reading it:
	// the exporter evaluates the referrer KPIs on a slower schedule.
	SkipReferrerActivity bool
	// Calendar is the business-day calendar and triage SLAs; nil means
	// sla.Default().
	Calendar *sla.Calendar
	// State is when the lookups by creation time read the KPI state; ""
	// means StateAuto.
	State StateUse
	// Densities, when set, keeps the lookups' densities from one evaluation
	// to the next (a caller evaluating again and again: the exporter); nil
	// counts them every time.
	Densities *Densities
}

func (r Request) calendar() sla.Calendar {
	if r.Calendar == nil {
		return sla.Default()
	}
	return *r.Calendar
}

// DefaultParallelism runs two KPI queries at once: part of each query runs on
// a single server thread, so two side by side finish sooner (measured on the
// 2-core 18.16 server: 2 and 3 alike, 4 and more slower).
const DefaultParallelism = 2

func (r Request) parallelism() int {
	if r.Parallelism <= 0 {
		return DefaultParallelism
	}
	return r.Parallelism
}

func (r Request) windows() []Window {
	if len(r.Windows) == 0 {
		return DefaultWindows()
	}
	return r.Windows
}

func (r Request) buckets() []time.Duration {
	if r.Buckets == nil {
		return DefaultBuckets()
	}
	return r.Buckets
}

// breakdowns: the totals, the service lines, the priorities, then the extra
// ones, each once.
func (r Request) breakdowns() ([]Breakdown, error) {
	out := []Breakdown{nil, {ServiceLine}, {Priority}}
	seen := map[string]bool{"": true, string(ServiceLine): true, string(Priority): true}
	for _, b := range r.Breakdowns {
		names := make([]string, len(b))
		for i, d := range b {
			if _, ok := dimensionColumns[d]; !ok {
				return nil, fmt.Errorf("breakdown %v: unknown dimension %q", b, d)
			}
			if slices.Contains(b[:i], d) {
				return nil, fmt.Errorf("breakdown %v: dimension %q twice", b, d)
			}
			names[i] = string(d)
		}
		if k := strings.Join(names, ","); !seen[k] {
			seen[k] = true
			out = append(out, b)
		}
	}
	return out, nil
}

func (r Request) queryData() (queryData, error) {
	if err := clickhouse.ValidateIdentifier(r.DB); err != nil {
		return queryData{}, fmt.Errorf("kpi: database: %w", err)
	}
	t := r.AsOf.Unix()
	if r.AsOf.IsZero() || t <= int64(maxWindow/time.Second) {
		return queryData{}, fmt.Errorf("kpi: as-of time %s is not after 1980", r.AsOf)
	}
	if err := Windows(r.windows()).Validate(); err != nil {
		return queryData{}, fmt.Errorf("kpi: %w", err)
	}
	bds, err := r.breakdowns()
	if err != nil {
		return queryData{}, fmt.Errorf("kpi: %w", err)
	}
	cal := r.calendar()
	if err := cal.Validate(); err != nil {
		return queryData{}, fmt.Errorf("kpi: sla calendar: %w", err)
	}
	d := queryData{
		DB:           r.DB,
		PayerClasses: event.EnumValues("payer_class"),
		LeakReasons:  LeakReasons,
		Calendar:     cal,
		T:            fmt.Sprintf("toDateTime(%d, 'UTC')", t),
		TUnix:        t,
		LoopDelay:    int64(loopDelay / time.Second),
		LookbackFrom: t - int64(lookback/time.Second),
		RecentFrom:   t - int64(recent/time.Second),
	}
	for _, w := range r.windows() {
		d.Windows = append(d.Windows, w.Seconds())
	}
	slices.Sort(d.Windows)
	maxW := d.Windows[len(d.Windows)-1]
	d.CohortFrom = t - maxW
	d.LoopTo = t - d.LoopDelay
	d.LoopFrom = d.LoopTo - maxW
	for _, l := range []lookupData{
		{Name: "cohort", Kind: schema.KindCreated, From: d.CohortFrom, To: t},
		{Name: "lookback", Kind: schema.KindCreated, From: d.LookbackFrom, To: t},
		{Name: "open", Kind: schema.KindCreated, From: d.LookbackFrom, To: t, Open: true, Join: true},
		{Name: "loop", Kind: schema.KindCompleted, From: d.LoopFrom, To: d.LoopTo, Join: true},
		{Name: "slots", Kind: schema.KindSlot, From: d.CohortFrom, To: t, Join: true},
		{Name: "auth", Kind: schema.KindDecided, From: d.CohortFrom, To: t, Join: true},
	} {
		if l.Name == "lookback" && r.SkipReferrerActivity && !r.Attention {
			continue // read by the referrer KPIs only: no bounds, no density
		}
		l.DB, l.T, l.Lo, l.Hi = d.DB, d.T, "''", "''"
		d.Lookups = append(d.Lookups, l)
	}
	for _, b := range bds {
		cols := make([]keyColumn, len(b))
		for i, dim := range b {
			cols[i] = keyColumn{Name: string(dim), Column: dimensionColumns[dim]}
		}
		d.Breakdowns = append(d.Breakdowns, cols)
	}
	for _, b := range r.buckets() {
		if b%time.Second != 0 {
			return queryData{}, fmt.Errorf("kpi: histogram bucket %s is not whole seconds", b)
		}
		d.Buckets = append(d.Buckets, int64(b/time.Second))
	}
	if !slices.IsSorted(d.Buckets) {
		return queryData{}, errors.New("kpi: histogram buckets must ascend")
	}
	return d, nil
}

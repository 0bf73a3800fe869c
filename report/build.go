package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/schema"
)

// Options say what report to build.
type Options struct {
	// DB is the database holding package schema's tables.
	DB string
	// AsOf is T, in whole seconds.
	AsOf time.Time
	// Weeks is the number of weekly points of the trends, T included.
	Weeks int
	// Window is the KPI window of every number (KPIS.md's W).
	Window kpi.Window
	// Targets are what the headline and the charts compare against.
	Targets metrics.Targets
	// WorklistSize is how many referrers of the liaison worklist to list.
	WorklistSize int
	// Calendar is the business-day calendar and triage SLAs of the triage SLA
	// breaches (as for `referralops kpi`); nil means sla.Default().
	Calendar *sla.Calendar
}

// Defaults of the command's flags.
const (
	DefaultWeeks        = 13
	DefaultWorklistSize = 15
)

// DefaultWindow is the window of the report's KPIs: 30 days, KPIS.md's first
// default, the same the first object of `referralops kpi --format json` has.
const DefaultWindow = kpi.Window(30 * 24 * time.Hour)

// Validate reports every invalid option.
func (o Options) Validate() error {
	var errs []error
	if o.Weeks < 2 {
		errs = append(errs, fmt.Errorf("weeks: want at least 2 (this week and the one before), got %d", o.Weeks))
	}
	if o.WorklistSize < 1 {
		errs = append(errs, fmt.Errorf("worklist size: want at least 1, got %d", o.WorklistSize))
	}
	if o.AsOf.IsZero() {
		errs = append(errs, errors.New("as-of: not set"))
	}
	if o.Window <= 0 {
		errs = append(errs, errors.New("window: not set"))
	}
	if o.Calendar != nil {
		if err := o.Calendar.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sla: %w", err))
		}
	}
	return errors.Join(append(errs, o.Targets.Validate())...)
}

// Report is every number of one report.
type Report struct {
	AsOf    time.Time
	Window  kpi.Window
	Targets metrics.Targets
	// Points are the weekly snapshots, oldest first; the last is as of AsOf
	// (with the referrer type and payer class breakdowns and the attention
	// levels), the one before as of AsOf − 7 d.
	Points []kpi.Snapshot
	// Worklist is the top of the liaison worklist as of AsOf.
	Worklist []kpi.AttentionRow
	// LatestEvent is the time of the latest referral milestone stored at or
	// before AsOf (see latestEvent); zero when there is none.
	LatestEvent time.Time
	// Generated is when the report was built (wall clock).
	Generated time.Time
}

// Current is the snapshot as of T.
func (r Report) Current() kpi.Snapshot { return r.Points[len(r.Points)-1] }

// Previous is the snapshot as of T − 7 d.
func (r Report) Previous() kpi.Snapshot { return r.Points[len(r.Points)-2] }

const week = 7 * 24 * time.Hour

// Progress is told of each step of Build as it ends: step of steps, and what.
type Progress func(step, steps int, what string)

// Build evaluates the report: one KPI replay per week (T − k·7 d, oldest
// first), the worklist and the freshness, telling progress of each step.
func Build(ctx context.Context, q clickhouse.Querier, o Options, progress Progress) (Report, error) {
	if err := o.Validate(); err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	asOf := o.AsOf.UTC().Truncate(time.Second)
	r := Report{AsOf: asOf, Window: o.Window, Targets: o.Targets, Generated: time.Now().UTC()}
	steps := o.Weeks + 2
	step := 0
	say := func(what string) {
		step++
		progress(step, steps, what)
	}
	for k := o.Weeks - 1; k >= 0; k-- {
		t := asOf.Add(-time.Duration(k) * week)
		req := kpi.Request{DB: o.DB, AsOf: t, Windows: []kpi.Window{o.Window}, Calendar: o.Calendar}
		if k == 0 {
			req.Breakdowns = []kpi.Breakdown{{kpi.ReferrerType}, {kpi.PayerClass}}
			req.Attention = true
		}
		start := time.Now()
		s, err := req.Evaluate(ctx, q)
		if err != nil {
			return Report{}, fmt.Errorf("report: week %s: %w", t.Format(time.DateOnly), err)
		}
		r.Points = append(r.Points, s)
		say("KPIs as of " + t.Format(time.RFC3339) + " in " + time.Since(start).Round(time.Millisecond).String())
	}
	wl, err := kpi.Request{DB: o.DB, AsOf: asOf}.Worklist(ctx, q, o.WorklistSize)
	if err != nil {
		return Report{}, fmt.Errorf("report: %w", err)
	}
	r.Worklist = wl
	say("liaison worklist: " + strconv.Itoa(len(wl)) + " referrers")
	if r.LatestEvent, err = latestEvent(ctx, q, o.DB, asOf); err != nil {
		return Report{}, fmt.Errorf("report: data freshness: %w", err)
	}
	say("data freshness")
	return r, nil
}

// milestoneKinds are the kpi_index kinds indexed at an event's own time:
// referrals created, booked, completed, decided and closed.
var milestoneKinds = []schema.IndexKind{schema.KindCreated, schema.KindBooked, schema.KindCompleted, schema.KindDecided, schema.KindClosed}

// latestEvent is the time of the latest referral milestone (milestoneKinds)
// stored at or before asOf (zero when none): what the pipeline has delivered
// by then. It reads kpi_index, a key range per kind, not the raw events,
// which are in the PHI database the report's read-only user may not read.
func latestEvent(ctx context.Context, q clickhouse.Querier, db string, asOf time.Time) (time.Time, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return time.Time{}, err
	}
	kinds := make([]string, len(milestoneKinds))
	for i, k := range milestoneKinds {
		kinds[i] = strconv.Itoa(int(k))
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT toInt64(max(at)), count() FROM %s.kpi_index WHERE kind IN (%s) AND key_value = '' AND at <= toDateTime(%d, 'UTC')",
		db, strings.Join(kinds, ", "), asOf.Unix()))
	if err != nil {
		return time.Time{}, err
	}
	if len(rows) != 1 || len(rows[0]) != 2 {
		return time.Time{}, fmt.Errorf("want one row of 2 columns, got %v", rows)
	}
	if rows[0][1] == "0" {
		return time.Time{}, nil
	}
	sec, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("latest event time %q: %w", rows[0][0], err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

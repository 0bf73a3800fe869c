package kpi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/internal/clickhouse"
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

// Evaluate computes the snapshot as of asOf for the windows (nil: the default
// windows), with the totals and the per-service-line groups.
func Evaluate(ctx context.Context, q clickhouse.Querier, db string, asOf time.Time, windows []Window) (Snapshot, error) {
	return Request{DB: db, AsOf: asOf, Windows: windows}.Evaluate(ctx, q)
}

// Evaluate runs the KPI queries (a fixed handful, whatever the windows) and
// assembles the snapshot.
func (r Request) Evaluate(ctx context.Context, q clickhouse.Querier) (Snapshot, error) {
	data, err := r.queryData()
	if err != nil {
		return Snapshot{}, err
	}
	ev := &evaluation{ctx: ctx, q: q, data: data, groups: map[int64]map[string]*Fields{}, backlog: map[string]Backlog{}, lines: map[string]bool{}}
	fail := func(step string, err error) error {
		return fmt.Errorf("kpi %s as of %s in %s: %w", step, time.Unix(data.TUnix, 0).UTC().Format(time.RFC3339), data.DB, err)
	}
	if err := ev.bounds(); err != nil {
		return Snapshot{}, fail("bounds", err)
	}
	// The KPI families are independent: run them side by side (part of each
	// query is single-threaded on the server), then list the service lines,
	// which needs all of their results.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.parallelism())
	ev.ctx = gctx
	for _, step := range []struct {
		name string
		run  func() error
	}{
		{"backlog", ev.backlogs},
		{"referrers", ev.referrers},
		{"cohort", ev.cohort},
		{"no_show", ev.noShow},
		{"loop", ev.loop},
		{"auth", ev.auth},
	} {
		g.Go(func() error {
			if err := step.run(); err != nil {
				return fail(step.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Snapshot{}, err
	}
	ev.ctx = ctx
	if err := ev.serviceLines(); err != nil {
		return Snapshot{}, fail("service_lines", err)
	}
	return ev.snapshot(r), nil
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

// breakdowns: the totals, the service lines, then the extra ones, each once.
func (r Request) breakdowns() ([]Breakdown, error) {
	out := []Breakdown{nil, {ServiceLine}}
	seen := map[string]bool{"": true, string(ServiceLine): true}
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
	d := queryData{
		DB:           r.DB,
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

// evaluation collects the query results of one snapshot. Queries may run
// concurrently; mu guards what their results are stored in.
type evaluation struct {
	ctx     context.Context
	q       clickhouse.Querier
	data    queryData // read-only once bounds has run
	mu      sync.Mutex
	groups  map[int64]map[string]*Fields // by window seconds, then group key
	backlog map[string]Backlog           // by group key
	lines   map[string]bool              // service lines with a referral created <= T
	refs    ReferrerActivity
}

// query renders t with data, runs it, and checks every row has width columns.
func (e *evaluation) query(t *template.Template, data any, width int) ([][]string, error) {
	sql, err := render(t, data)
	if err != nil {
		return nil, err
	}
	rows, err := e.q.Query(e.ctx, sql)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != width {
			return nil, fmt.Errorf("%s: row has %d columns, want %d", t.Name(), len(r), width)
		}
	}
	return rows, nil
}

// bounds fetches the id range of every lookup (see sql/common.sql's "ids").
func (e *evaluation) bounds() error {
	rows, err := e.query(boundsSQL, e.data, 2*len(e.data.Lookups))
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return fmt.Errorf("bounds: %d rows, want 1", len(rows))
	}
	for i := range e.data.Lookups {
		e.data.Lookups[i].Lo, e.data.Lookups[i].Hi = quote(rows[0][2*i]), quote(rows[0][2*i+1])
	}
	return nil
}

// fields is the group of window w (seconds) and key, created on first use.
func (e *evaluation) fields(w int64, key string) (*Fields, error) {
	if !slices.Contains(e.data.Windows, w) {
		return nil, fmt.Errorf("result for window %ds, which was not asked for", w)
	}
	byKey := e.groups[w]
	if byKey == nil {
		byKey = map[string]*Fields{}
		e.groups[w] = byKey
	}
	f := byKey[key]
	if f == nil {
		if _, err := parseGroupKey(key); err != nil {
			return nil, err
		}
		f = &Fields{TimeToSchedule: e.emptyDistribution(), TimeToAppointment: e.emptyDistribution()}
		byKey[key] = f
	}
	e.seen(key)
	return f, nil
}

// seen notes a group key's service line: every row of every KPI query is about
// referrals created at or before T, so its service line is listed.
func (e *evaluation) seen(key string) {
	if line, ok := strings.CutPrefix(key, string(ServiceLine)+"="); ok && !strings.Contains(line, "|") {
		e.lines[line] = true
	}
}

// ints parses the decimal integers of a result row.
type ints struct{ err error }

func (p *ints) int(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("not an integer: %q", s)
	}
	return n
}

// windowed runs a per-window query whose rows are (window seconds, group key,
// values...) and hands each group's values to set.
func (e *evaluation) windowed(t *template.Template, values int, set func(f *Fields, v []string, p *ints)) error {
	rows, err := e.query(t, e.data, 2+values)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var p ints
	for _, r := range rows {
		f, err := e.fields(p.int(r[0]), r[1])
		if err != nil {
			return err
		}
		set(f, r[2:], &p)
	}
	return p.err
}

func (e *evaluation) cohort() error {
	nb := len(e.data.Buckets)
	return e.windowed(cohortSQL, 7+2*(4+nb), func(f *Fields, v []string, p *ints) {
		f.Referrals, f.Scheduled, f.Completed, f.Leaked = p.int(v[0]), p.int(v[1]), p.int(v[2]), p.int(v[3])
		f.InternalReferrals, f.InternalLeaked, f.Incomplete = p.int(v[4]), p.int(v[5]), p.int(v[6])
		f.TimeToSchedule = distribution(v[7:7+4+nb], p)
		f.TimeToAppointment = distribution(v[7+4+nb:], p)
	})
}

// distribution reads count, sum, p50, p90 and the cumulative bucket counts.
func distribution(v []string, p *ints) Distribution {
	d := Distribution{Count: p.int(v[0]), Sum: p.int(v[1])}
	if d.Count > 0 {
		p50, p90 := p.int(v[2]), p.int(v[3])
		d.P50, d.P90 = &p50, &p90
	}
	d.Buckets = make([]int64, len(v)-4)
	for i := range d.Buckets {
		d.Buckets[i] = p.int(v[4+i])
	}
	return d
}

func (e *evaluation) loop() error {
	return e.windowed(loopSQL, 2, func(f *Fields, v []string, p *ints) {
		f.LoopCohort, f.LoopClosed14d = p.int(v[0]), p.int(v[1])
	})
}

func (e *evaluation) noShow() error {
	return e.windowed(noShowSQL, 2, func(f *Fields, v []string, p *ints) {
		f.AppointmentsKeptOrMissed, f.NoShows = p.int(v[0]), p.int(v[1])
	})
}

func (e *evaluation) auth() error {
	return e.windowed(authSQL, 2, func(f *Fields, v []string, p *ints) {
		f.AuthDecisions, f.AuthDenied = p.int(v[0]), p.int(v[1])
	})
}

func (e *evaluation) backlogs() error {
	rows, err := e.query(backlogSQL, e.data, 6)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var p ints
	for _, r := range rows {
		if _, err := parseGroupKey(r[0]); err != nil {
			return err
		}
		e.seen(r[0])
		e.backlog[r[0]] = Backlog{
			Days0To2: p.int(r[1]), Days3To7: p.int(r[2]), Days8To14: p.int(r[3]),
			Days15To30: p.int(r[4]), Days31Plus: p.int(r[5]),
		}
	}
	return p.err
}

func (e *evaluation) referrers() error {
	rows, err := e.query(referrersSQL, e.data, 4)
	if err != nil {
		return err
	}
	type typed struct{ typ, state string }
	counts := map[typed]int64{}
	candidates := map[string]string{} // referrer id -> type
	var p ints
	for _, r := range rows {
		counts[typed{r[0], r[1]}] += p.int(r[3])
		if r[1] == "new" {
			candidates[r[2]] = r[0]
		}
	}
	if p.err != nil {
		return p.err
	}
	// "New: no referral at or before T−90d": the 365-day lookback shows none in
	// (T−365d, T−90d]; an older one turns a candidate active (n > 0 >= 0.5·0).
	older, err := e.olderReferrals(slices.Sorted(maps.Keys(candidates)))
	if err != nil {
		return err
	}
	for id := range older {
		typ := candidates[id]
		counts[typed{typ, "new"}]--
		counts[typed{typ, "active"}]++
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refs = ReferrerActivity{ByType: map[string]ReferrerStates{}}
	for k, n := range counts {
		if n == 0 {
			continue
		}
		s := e.refs.ByType[k.typ]
		if err := s.add(k.state, n); err != nil {
			return err
		}
		e.refs.ByType[k.typ] = s
		if err := e.refs.Totals.add(k.state, n); err != nil {
			return err
		}
	}
	return nil
}

// serviceLines completes e.lines: the lines seen in the results so far have
// referrals created at or before T; any other line ever seen is checked.
func (e *evaluation) serviceLines() error {
	rows, err := e.query(serviceLinesSQL, e.data, 1)
	if err != nil {
		return err
	}
	var unseen []string
	for _, r := range rows {
		if !e.lines[r[0]] {
			unseen = append(unseen, r[0])
		}
	}
	slices.Sort(unseen)
	confirmed, err := e.confirm(schema.KindServiceLineCreated, unseen, e.data.TUnix, true, func(d referralDims) string { return d.serviceLine })
	if err != nil {
		return err
	}
	for line := range confirmed {
		e.lines[line] = true
	}
	return nil
}

// listBytes bounds the literal list of one query: big enough that thousands of
// candidates take a round trip or two, below max_query_size (256 KiB by
// default) with the rest of the query.
const listBytes = 200 << 10

// batches splits keys into lists of SQL literals of at most listBytes each.
func batches(keys []string) []string {
	var out []string
	var sb strings.Builder
	for _, k := range keys {
		q := quote(k)
		if sb.Len() > 0 && sb.Len()+len(q)+2 > listBytes {
			out = append(out, sb.String())
			sb.Reset()
		}
		if sb.Len() > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(q)
	}
	if sb.Len() > 0 {
		out = append(out, sb.String())
	}
	return out
}

// referralDims is a referral's referrer and service line, from its earliest
// referral.created.
type referralDims struct{ referrer, serviceLine string }

// dims looks up the dimensions of the listed referrals.
func (e *evaluation) dims(referrals []string) (map[string]referralDims, error) {
	out := map[string]referralDims{}
	for _, values := range batches(slices.Compact(slices.Sorted(slices.Values(referrals)))) {
		rows, err := e.query(referralDimsSQL, listData{DB: e.data.DB, Values: values}, 3)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out[r[0]] = referralDims{referrer: r[1], serviceLine: r[2]}
		}
	}
	return out, nil
}

// olderReferrals returns the candidate referrers with a referral created at or
// before T−90d: mostly decided by each one's earliest referral.created (a row
// in kpi_referrers and one in kpi_created); referrers whose earliest belongs to
// another referrer's referral are checked against all of their rows.
func (e *evaluation) olderReferrals(candidates []string) (map[string]bool, error) {
	bound := e.data.RecentFrom
	first := map[string]string{} // referrer -> its earliest referral, if at or before bound
	for _, values := range batches(candidates) {
		rows, err := e.query(referrerFirstSQL, listData{DB: e.data.DB, Values: values}, 3)
		if err != nil {
			return nil, err
		}
		var p ints
		for _, r := range rows {
			if p.int(r[1]) <= bound {
				first[r[0]] = r[2]
			}
		}
		if p.err != nil {
			return nil, p.err
		}
	}
	dims, err := e.dims(slices.Collect(maps.Values(first)))
	if err != nil {
		return nil, err
	}
	older := map[string]bool{}
	var unsure []string
	for referrer, referral := range first {
		if dims[referral].referrer == referrer {
			older[referrer] = true
		} else {
			unsure = append(unsure, referrer)
		}
	}
	slices.Sort(unsure)
	confirmed, err := e.confirm(schema.KindReferrerCreated, unsure, bound, false, func(d referralDims) string { return d.referrer })
	for id := range confirmed {
		older[id] = true
	}
	return older, err
}

// confirm returns the keys (of kpi_index kind) that have a referral created at
// or before bound whose own dimension (dim) is the key. kpi_index rows come
// from every referral.created, but a referral's dimensions are those of its
// earliest, so each row's referral is checked. With firstOnly it checks each
// key's earliest row, then all rows of the keys whose earliest row belongs to
// another key's referral (a referral with several referral.created).
func (e *evaluation) confirm(kind schema.IndexKind, keys []string, bound int64, firstOnly bool, dim func(referralDims) string) (map[string]bool, error) {
	confirmed := map[string]bool{}
	// check confirms what it can and returns the keys it saw rows of but could
	// not confirm.
	check := func(keys []string, firstOnly bool) ([]string, error) {
		var unconfirmed []string
		for _, values := range batches(keys) {
			rows, err := e.query(keyRowsSQL, listData{DB: e.data.DB, Values: values, Kind: kind, Bound: bound, FirstOnly: firstOnly}, 2)
			if err != nil {
				return nil, err
			}
			referrals := make([]string, len(rows))
			for i, r := range rows {
				referrals[i] = r[1]
			}
			dims, err := e.dims(referrals)
			if err != nil {
				return nil, err
			}
			for _, r := range rows {
				if dim(dims[r[1]]) == r[0] {
					confirmed[r[0]] = true
				}
			}
			for _, r := range rows {
				if !confirmed[r[0]] {
					unconfirmed = append(unconfirmed, r[0])
				}
			}
		}
		return slices.Compact(unconfirmed), nil
	}
	if firstOnly {
		var err error
		if keys, err = check(keys, true); err != nil {
			return nil, err
		}
	}
	_, err := check(keys, false)
	return confirmed, err
}

// snapshot assembles the results in the request's window order.
func (e *evaluation) snapshot(r Request) Snapshot {
	s := Snapshot{
		AsOf:         time.Unix(e.data.TUnix, 0).UTC(),
		Referrers:    e.refs,
		ServiceLines: slices.Sorted(maps.Keys(e.lines)),
		Buckets:      slices.Clone(r.buckets()),
	}
	for _, w := range r.windows() {
		byKey := map[string]*Fields{}
		for k, f := range e.groups[w.Seconds()] {
			c := *f
			byKey[k] = &c
		}
		get := func(key string) *Fields {
			f := byKey[key]
			if f == nil {
				f = &Fields{TimeToSchedule: e.emptyDistribution(), TimeToAppointment: e.emptyDistribution()}
				byKey[key] = f
			}
			return f
		}
		for k, b := range e.backlog {
			get(k).Backlog = b
		}
		get("")
		for _, line := range s.ServiceLines {
			get(string(ServiceLine) + "=" + line)
		}
		ws := WindowSnapshot{Window: w, ByServiceLine: map[string]Fields{}}
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			labels, _ := parseGroupKey(k) // checked when stored
			g := Group{Labels: labels, Fields: *byKey[k]}
			ws.Groups = append(ws.Groups, g)
			switch {
			case len(labels) == 0:
				ws.Totals = g.Fields
			case len(labels) == 1 && labels[0].Dimension == ServiceLine:
				ws.ByServiceLine[labels[0].Value] = g.Fields
			}
		}
		s.Windows = append(s.Windows, ws)
	}
	return s
}

// emptyDistribution has zero counts in every bucket, like a queried empty one.
func (e *evaluation) emptyDistribution() Distribution {
	return Distribution{Buckets: make([]int64, len(e.data.Buckets))}
}

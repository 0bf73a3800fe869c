package kpi

import (
	"context"
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
	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/schema"
)

// Evaluate computes the snapshot as of asOf for the windows (nil: the default
// windows), with the totals, the per-service-line groups and the referrer
// attention: everything `referralops kpi` prints.
func Evaluate(ctx context.Context, q clickhouse.Querier, db string, asOf time.Time, windows []Window) (Snapshot, error) {
	return Request{DB: db, AsOf: asOf, Windows: windows, Attention: true}.Evaluate(ctx, q)
}

// Evaluate runs the KPI queries (a fixed handful, whatever the windows) and
// assembles the snapshot.
func (r Request) Evaluate(ctx context.Context, q clickhouse.Querier) (Snapshot, error) {
	data, err := r.queryData()
	if err != nil {
		return Snapshot{}, err
	}
	ev := &evaluation{ctx: ctx, q: q, data: data, state: r.State, remembered: r.Densities, groups: map[int64]map[string]*Fields{}, backlog: map[string]Backlog{}, lines: map[string]bool{}}
	fail := func(step string, err error) error {
		return fmt.Errorf("kpi %s as of %s in %s: %w", step, time.Unix(data.TUnix, 0).UTC().Format(time.RFC3339), data.DB, err)
	}
	if err := ev.bounds(); err != nil {
		return Snapshot{}, fail("bounds", err)
	}
	// The KPI families are independent: run them side by side (part of each
	// query is single-threaded on the server), then list the service lines,
	// which needs all of their results. They start in the order of their
	// server time at 10 M events with random ids (make bench; the order is
	// the same with sequential ids but for CMS50-style, which is short there),
	// longest first, so that no long query starts last and runs alone.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.parallelism())
	ev.ctx = gctx
	type step struct {
		name string
		run  func() error
	}
	var steps []step
	if r.Attention {
		steps = append(steps, step{"referrer_attention", ev.attention})
	}
	steps = append(steps, step{"cohort", ev.cohort})
	if !r.SkipReferrerActivity {
		steps = append(steps, step{"referrers", ev.referrers})
	}
	steps = append(steps,
		step{"backlog", ev.backlogs},
		step{"no_show", ev.noShow},
		step{"cms50", ev.cms50},
		step{"loop", ev.loop},
		step{"auth", ev.auth},
	)
	for _, step := range steps {
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

// evaluation collects the query results of one snapshot. Queries may run
// concurrently; mu guards what their results are stored in.
type evaluation struct {
	ctx   context.Context
	q     clickhouse.Querier
	data  queryData // read-only once bounds has run
	state StateUse  // Request.State
	// remembered are Request.Densities (nil: count them every time).
	remembered *Densities
	mu         sync.Mutex
	groups     map[int64]map[string]*Fields // by window seconds, then group key
	backlog    map[string]Backlog           // by group key
	lines      map[string]bool              // service lines with a referral created <= T
	refs       ReferrerActivity
	attn       ReferrerAttention
}

// query renders t with data, runs it, and checks every row has width columns.
func (e *evaluation) query(t *template.Template, data any, width int) ([][]string, error) {
	sql, err := render(t, data)
	if err != nil {
		return nil, err
	}
	return e.rawQuery(t.Name(), sql, width)
}

// rawQuery runs sql, named name in errors, and checks every row has width
// columns.
func (e *evaluation) rawQuery(name, sql string, width int) ([][]string, error) {
	rows, err := e.q.Query(e.ctx, sql)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if len(r) != width {
			return nil, fmt.Errorf("%s: row has %d columns, want %d", name, len(r), width)
		}
	}
	return rows, nil
}

// bounds fetches the id range of every lookup (see sql/common.sql's "ids").
func (e *evaluation) bounds() error {
	rows, err := e.query(boundsSQL, e.data, 3*len(e.data.Lookups))
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return fmt.Errorf("bounds: %d rows, want 1", len(rows))
	}
	var p ints
	for i := range e.data.Lookups {
		l := &e.data.Lookups[i]
		l.Lo, l.Hi, l.Rows = clickhouse.Quote(rows[0][3*i]), clickhouse.Quote(rows[0][3*i+1]), p.int(rows[0][3*i+2])
	}
	if p.err != nil {
		return fmt.Errorf("bounds: %w", p.err)
	}
	return e.density(e.state)
}

// sparseRatio: a dense lookup whose id range holds more than this many
// referrals per referral of its own is read sparsely. Sequential ids give
// about 1; ids that do not sort by creation time (UUIDs) give the history's
// size over the window's.
const sparseRatio = 2

// indexedStateRatio: a lookup by another time than creation reads the KPI
// state (through kpi_state_index) only when its id range holds more than
// this many referrals per referral of its own. Per referral, that read costs
// about four times the facts' sparse one (the index, the keys' IN, 18.16
// running the subquery again at each level of nesting): with the 1 M event
// bench's sequential ids (ranges 4.6-7.2 times the lookups) the closed-loop
// query took 0.23-0.31 s through the state against 0.12 s, the no-show 0.47-0.55
// against 0.26 s. With random ids over ten years the ranges are about 60
// times the lookups, and the state reads a tenth of the rows.
const indexedStateRatio = 16

// density makes the dense lookups whose id range holds many more referrals
// than they do sparse (Join), so that their reads are of their referrals'
// facts, not of every referral in the range: with sequential ids the dense
// read is cheaper (no join with the ids), with UUIDs the sparse one by far.
// Such a lookup reads the KPI state instead (State), which holds the facts in
// creation order: only its span's rows, or those its index gives. use
// overrides that choice (StateAlways, StateNever). The densities are counted
// (density.sql) or, when the request has them, remembered (Densities).
func (e *evaluation) density(use StateUse) error {
	var checked []int
	for i := range e.data.Lookups {
		l := &e.data.Lookups[i]
		switch {
		case l.Rows == 0:
		case use == StateAlways:
			l.State = true
		case !l.Join || use != StateNever:
			checked = append(checked, i)
		}
	}
	if len(checked) > 0 {
		ratios, err := e.densities(checked)
		if err != nil {
			return err
		}
		for _, i := range checked {
			l := &e.data.Lookups[i]
			if ratio := ratios[l.Name]; ratio > sparseRatio {
				l.Join = true
				l.State = use != StateNever && (l.ByCreation() || ratio > indexedStateRatio)
			}
		}
	}
	if !slices.ContainsFunc(e.data.Lookups, func(l lookupData) bool { return l.State }) {
		return nil
	}
	return e.covered()
}

// covered gives the lookups that read the KPI state the time its last pass
// covered (0 before the first): the facts of the referrals touched after it
// are read with the state.
func (e *evaluation) covered() error {
	rows, err := e.rawQuery("kpi_state_passes", schema.KPIStateCoveredSQL(e.data.DB), 1)
	if err != nil {
		return err
	}
	if len(rows) != 1 {
		return fmt.Errorf("kpi_state_passes: %d rows, want 1", len(rows))
	}
	var p ints
	covered := p.int(rows[0][0])
	for i := range e.data.Lookups {
		e.data.Lookups[i].Covered = covered
	}
	return p.err
}

// densities gives the lookups checked (indexes into e.data.Lookups) their
// densities: the referrals in each one's id range per referral of its own,
// by name. They are counted by density.sql, which with ids that do not sort
// by time reads every referral's kpi_created row, or taken from the
// request's Densities while those are fresh.
func (e *evaluation) densities(checked []int) (map[string]float64, error) {
	names := make([]string, len(checked))
	for j, i := range checked {
		names[j] = e.data.Lookups[i].Name
	}
	if ratios := e.remembered.recall(names); ratios != nil {
		return ratios, nil
	}
	d := e.data
	d.Lookups = nil
	for _, i := range checked {
		d.Lookups = append(d.Lookups, e.data.Lookups[i])
	}
	rows, err := e.query(densitySQL, d, len(checked))
	if err != nil {
		return nil, err
	}
	if len(rows) != 1 {
		return nil, fmt.Errorf("density: %d rows, want 1", len(rows))
	}
	var p ints
	ratios := make(map[string]float64, len(checked))
	for j, l := range d.Lookups {
		ratios[l.Name] = float64(p.int(rows[0][j])) / float64(l.Rows)
	}
	if p.err != nil {
		return nil, p.err
	}
	e.remembered.remember(ratios)
	return ratios, nil
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
		f = e.emptyFields()
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
	dist := 4 + len(e.data.Buckets)
	payers := e.data.PayerClasses
	return e.windowed(cohortSQL, 7+5*dist+2+len(payers)+len(LeakReasons), func(f *Fields, v []string, p *ints) {
		f.Referrals, f.Scheduled, f.Completed, f.Leaked = p.int(v[0]), p.int(v[1]), p.int(v[2]), p.int(v[3])
		f.InternalReferrals, f.InternalLeaked, f.Incomplete = p.int(v[4]), p.int(v[5]), p.int(v[6])
		v = v[7:]
		f.TimeToSchedule, f.TimeToAppointment = distribution(v[:dist], p), distribution(v[dist:2*dist], p)
		v = v[2*dist:]
		f.TriageSLACohort, f.TriageSLABreaches = p.int(v[0]), p.int(v[1])
		v = v[2:]
		f.LeakedByPayerClass = make(map[string]int64, len(payers))
		for i, c := range payers {
			if n := p.int(v[i]); n > 0 {
				f.LeakedByPayerClass[c] = n
			}
		}
		v = v[len(payers):]
		f.AuthTurnaround, f.TimeToTriage, f.InfoTurnaround = distribution(v[:dist], p), distribution(v[dist:2*dist], p), distribution(v[2*dist:3*dist], p)
		v = v[3*dist:]
		f.LeakedByReason = make(map[string]int64, len(LeakReasons))
		for i, r := range LeakReasons {
			if n := p.int(v[i]); n > 0 {
				f.LeakedByReason[r] = n
			}
		}
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

func (e *evaluation) cms50() error {
	return e.windowed(cms50SQL, 3, func(f *Fields, v []string, p *ints) {
		f.CMS50Patients, f.CMS50Closed, f.CMS50NoPatientToken = p.int(v[0]), p.int(v[1]), p.int(v[2])
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

// snapshot assembles the results in the request's window order.
func (e *evaluation) snapshot(r Request) Snapshot {
	s := Snapshot{
		AsOf:         time.Unix(e.data.TUnix, 0).UTC(),
		Referrers:    e.refs,
		Attention:    e.attn,
		ServiceLines: slices.Sorted(maps.Keys(e.lines)),
		Buckets:      slices.Clone(r.buckets()),
		Calendar:     e.data.Calendar,
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
				f = e.emptyFields()
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
		for _, p := range sla.Priorities {
			get(string(Priority) + "=" + p)
		}
		ws := WindowSnapshot{Window: w, ByServiceLine: map[string]Fields{}, ByPriority: map[string]Fields{}}
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			labels, _ := parseGroupKey(k) // checked when stored
			g := Group{Labels: labels, Fields: *byKey[k]}
			ws.Groups = append(ws.Groups, g)
			switch {
			case len(labels) == 0:
				ws.Totals = g.Fields
			case len(labels) == 1 && labels[0].Dimension == ServiceLine:
				ws.ByServiceLine[labels[0].Value] = g.Fields
			case len(labels) == 1 && labels[0].Dimension == Priority:
				ws.ByPriority[labels[0].Value] = g.Fields
			}
		}
		s.Windows = append(s.Windows, ws)
	}
	return s
}

// emptyFields are a group's fields before any query row: empty distributions.
func (e *evaluation) emptyFields() *Fields {
	return &Fields{TimeToSchedule: e.emptyDistribution(), TimeToAppointment: e.emptyDistribution(),
		AuthTurnaround: e.emptyDistribution(), TimeToTriage: e.emptyDistribution(), InfoTurnaround: e.emptyDistribution(),
		LeakedByPayerClass: map[string]int64{}, LeakedByReason: map[string]int64{}}
}

// emptyDistribution has zero counts in every bucket, like a queried empty one.
func (e *evaluation) emptyDistribution() Distribution {
	return Distribution{Buckets: make([]int64, len(e.data.Buckets))}
}

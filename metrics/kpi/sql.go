package kpi

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/referralops/referralops/metrics/kpi/sla"
	"github.com/referralops/referralops/schema"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// The KPI queries, each parsed together with sql/common.sql's building blocks.
var (
	cohortSQL        = mustParse("cohort.sql")
	loopSQL          = mustParse("loop.sql")
	cms50SQL         = mustParse("cms50.sql")
	noShowSQL        = mustParse("no_show.sql")
	authSQL          = mustParse("auth.sql")
	backlogSQL       = mustParse("backlog.sql")
	referrersSQL     = mustParse("referrers.sql")
	boundsSQL        = mustParse("bounds.sql")
	densitySQL       = mustParse("density.sql")
	referrerFirstSQL = mustParse("referrer_first.sql")
	keyRowsSQL       = mustParse("key_rows.sql")
	referralDimsSQL  = mustParse("referral_dims.sql")
	serviceLinesSQL  = mustParse("service_lines.sql")
	attentionSQL     = mustParse("attention.sql")
)

// funcs are the storage contract's (schema.Funcs: kpi_index kinds, status
// ranks, the closed-loop time) and the blocks' helpers.
var funcs = merge(schema.Funcs(), template.FuncMap{
	// args builds a map from key, value pairs: the parameters of a block.
	"args": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("args: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("args: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	// lookup parameterizes the "ids", "referrals", "created" and
	// "appointments" blocks with one of queryData.Lookups.
	"lookup": func(d queryData, name string) (lookupData, error) {
		for _, l := range d.Lookups {
			if l.Name == name {
				return l, nil
			}
		}
		return lookupData{}, fmt.Errorf("no lookup %q", name)
	},
})

func merge(a, b template.FuncMap) template.FuncMap {
	maps.Copy(a, b)
	return a
}

func mustParse(name string) *template.Template {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").
		ParseFS(sqlFiles, "sql/common.sql", "sql/"+name)
	if err != nil {
		panic(err)
	}
	return t
}

// queryData is what the KPI queries see. Times are Unix seconds.
type queryData struct {
	DB    string
	T     string // T as a DateTime literal
	TUnix int64
	// Windows in seconds, ascending.
	Windows []int64
	// CohortFrom is T − the largest window: the start of every windowed read.
	CohortFrom int64
	// LoopFrom, LoopTo bound first_completed_at of the largest loop cohort:
	// (T − W − LoopDelay, T − LoopDelay].
	LoopFrom, LoopTo, LoopDelay int64
	// LookbackFrom is T − 365d (backlog, referrers); RecentFrom T − 90d.
	LookbackFrom, RecentFrom int64
	// Lookups are the sets of referrals the queries read, with the
	// primary-key range of their ids once bounds.sql has run.
	Lookups []lookupData
	// Breakdowns are the group keys built per referral.
	Breakdowns [][]keyColumn
	// Buckets are histogram upper bounds in seconds.
	Buckets []int64
	// PayerClasses are EVENTS.md's, in the order of the leaked-by-payer columns.
	PayerClasses []string
	// LeakReasons are LeakReasons, in the order of the leaked-by-reason columns.
	LeakReasons []string
	// Calendar counts business days and holds the triage SLAs.
	Calendar sla.Calendar
}

// BusinessDays renders bd(a, b) of the DateTime columns a and b (package sla).
func (d queryData) BusinessDays(a, b string) string { return d.Calendar.BusinessDaysSQL(a, b) }

// TriageSLA renders the triage SLA in business days of the priority column p.
func (d queryData) TriageSLA(p string) string { return d.Calendar.TriageSLASQL(p) }

type keyColumn struct{ Name, Column string }

// Dims lists the dimension columns the breakdowns use, e.g. "sl, loc": queries
// select only these, so the engine merges no state that no group needs.
func (d queryData) Dims() string { return d.DimsExcept() }

// DimsExcept is Dims without the given columns, each preceded by ", ", for
// queries that select some of them anyway.
func (d queryData) DimsExcept(except ...string) string {
	var cols []string
	for _, b := range d.Breakdowns {
		for _, k := range b {
			if !slices.Contains(cols, k.Column) && !slices.Contains(except, k.Column) {
				cols = append(cols, k.Column)
			}
		}
	}
	if len(except) == 0 {
		return strings.Join(cols, ", ")
	}
	var sb strings.Builder
	for _, c := range cols {
		sb.WriteString(", " + c)
	}
	return sb.String()
}

// lookupData is one set of referrals: those with a kpi_index row of Kind with
// time in (From, To] (Unix seconds), whose ids lie in [Lo, Hi] (SQL literals).
type lookupData struct {
	DB, T    string
	Name     string
	Kind     schema.IndexKind
	From, To int64
	Lo, Hi   string
	// Open leaves out the referrals booked or closed in (From, To] (kinds
	// booked, closed).
	Open bool
	// Join restricts the facts read to the lookup's referrals (sparse
	// lookups); without it the caller filters on the facts themselves. A
	// lookup without it is made sparse when its range is (evaluation.density).
	Join bool
	// Rows is the lookup's kpi_index rows (bounds.sql): about its referrals.
	Rows int64
	// Org adds rorg (referrer_org_id) to "referrals".
	Org bool
	// Created gives "appointments" the referral's creation time and
	// dimensions (m_created, sl, ...) and keeps only referrals created by T.
	Created bool
	// State reads the lookup from the KPI state (migration 0018; common.sql's
	// "by_created") instead of the facts' id range: what evaluation.density
	// chooses when that range holds many more referrals than the lookup.
	// Covered is the state's last pass (Unix seconds).
	State   bool
	Covered int64
}

// WithOrg is l for "referrals" with rorg.
func (l lookupData) WithOrg() lookupData {
	l.Org = true
	return l
}

// ByCreation tells a lookup of referrals by their referral.created time, for
// which "created_join" keeps the referrals whose created_at (the earliest) is
// in (From, To]: the callers keep no other, and a dense lookup then merges the
// facts of these referrals only, not of every referral in [Lo, Hi].
func (l lookupData) ByCreation() bool { return l.Kind == schema.KindCreated }

// WithCreated is l for "appointments" with the referral's created columns.
func (l lookupData) WithCreated() lookupData {
	l.Created = true
	return l
}

// WithoutCreated is l for "appointments" without them: what the state's
// appointments are read as before they are joined with the created columns.
func (l lookupData) WithoutCreated() lookupData {
	l.Created = false
	return l
}

// WithoutOpen is l with the settled referrals: what "ids" and "by_created"
// read before they leave those out.
func (l lookupData) WithoutOpen() lookupData {
	l.Open = false
	return l
}

// listData parameterizes the queries about listed keys or referrals:
// referrer_first.sql, key_rows.sql and referral_dims.sql.
type listData struct {
	DB        string
	Values    string           // a list of SQL string literals
	Kind      schema.IndexKind // key_rows.sql: service_line_created or referrer_created
	Bound     int64            // key_rows.sql: Unix seconds
	FirstOnly bool             // key_rows.sql: each key's earliest row only
}

func render(t *template.Template, data any) (string, error) {
	var sb strings.Builder
	if err := t.Execute(&sb, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return sb.String(), nil
}

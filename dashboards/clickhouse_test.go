package dashboards

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	simulation "github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// analystView matches the views the panels read, by unqualified name: Grafana's
// datasource sets the database (defaultDatabase); the test names its own.
var analystView = regexp.MustCompile(`\b(FROM|JOIN)\s+(v_\w+)`)

// TestClickHousePanelsRun: every ClickHouse panel's SQL, with the variables of
// All selected (and of a narrower selection) and the plugin's macros expanded
// for the last 90 days, runs on ClickHouse 18.16 (the server, also as the
// Grafana user, with the same rows) and 26.7 (chDB) against a freshly
// migrated database holding a small generated referral network; panels over
// recent data return rows. The liaison worklist is the first 50 rows of
// v_referrer_attention in its order; the referrer trend shows the busiest
// referrer, and nothing for an id that tries to end its string literal.
func TestClickHousePanelsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into two engines")
	}
	qs, err := Queries(build(t))
	if err != nil {
		t.Fatal(err)
	}
	var chq []PanelQuery
	for _, q := range qs {
		if q.Kind == KindClickHouse {
			chq = append(chq, q)
		}
	}
	if len(chq) < 8 {
		t.Fatalf("%d ClickHouse queries, want the dashboards' worth", len(chq))
	}
	cfg := simulation.DefaultConfig()
	cfg.Seed = 7
	cfg.Referrals = 400
	cfg.Days = 120
	events := testenv.GenerateEvents(t, cfg)
	now := time.Now().UTC()
	from := now.Add(-90 * 24 * time.Hour)
	// Panels that must show rows on 120 days of data ending today.
	wantRows := map[string]bool{
		"unscheduled_worklist": true, "referrals_daily": true, "top_referrers": true,
		"loop_delay_by_service_line": true, "loop_closed_weekly": true,
		"liaison_worklist": true, "referrer_trend": true, "leaked_by_reason_and_payer": true,
	}
	selectAll := AllSelected
	selectAll.Referrer = busiestReferrer(events)
	// Panels over every service line and location, which the narrow
	// selection does not filter.
	unfiltered := regexp.MustCompile(`\b(v_referrer_scorecard|v_referrer_attention)\b`)
	// Row counts per query and selection on the first engine, to compare with
	// the second: the same data gives the same rows on both versions.
	counts := map[string]int{}
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		e.Load(t, db, events)
		// The dashboards' datasource user, where the engine has users: on a
		// server of the test's own holding the same events, since the
		// shared server's readers are allowed one database.
		var grafana clickhouse.Querier
		var grafanaDB string
		if e.DSN(db) != "" {
			rdb := testenv.ReaderClickHouse(t)
			rdb.Load(t, events)
			conn, err := clickhouse.Open(context.Background(), clickhouse.Config{DSN: rdb.UserDSN(schema.GrafanaUser)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			grafana, grafanaDB = clickhouse.Native{Conn: conn}, rdb.Database
		}
		for _, q := range chq {
			// A location that does not exist, and values that would end a
			// string literal if Grafana's quoting formats were used.
			for _, v := range []Vars{
				selectAll,
				{ServiceLine: []string{"cardiology", "orthopedics"}, Location: []string{"nowhere"}, Referrer: selectAll.Referrer + `' OR 1 = 1 OR '\`},
				{Location: []string{`x' OR 1=1 OR '`, `\' OR 1=1 --`, `\`}},
				{Location: []string{`') OR 1=1 OR ('`}, ServiceLine: []string{`.*`, "{cardiology,oncology}"}},
			} {
				sql, err := Substitute(q.Expr, v)
				if err != nil {
					t.Fatalf("%s %q: %v", q.Dashboard, q.Panel, err)
				}
				if sql, err = ExpandMacros(sql, from, now, time.Hour); err != nil {
					t.Fatalf("%s %q: %v", q.Dashboard, q.Panel, err)
				}
				if strings.Contains(sql, "$__") || strings.Contains(sql, "${") {
					t.Fatalf("%s %q: unexpanded variables or macros left:\n%s", q.Dashboard, q.Panel, sql)
				}
				unqualified := sql
				sql = analystView.ReplaceAllString(sql, "$1 "+db+".$2")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				rows, err := e.Query(ctx, sql)
				var asGrafana [][]string
				if err == nil && grafana != nil {
					if asGrafana, err = grafana.Query(ctx, analystView.ReplaceAllString(unqualified, "$1 "+grafanaDB+".$2")); err != nil {
						err = fmt.Errorf("as %s: %w", schema.GrafanaUser, err)
					} else if !slices.EqualFunc(rows, asGrafana, slices.Equal) {
						err = fmt.Errorf("as %s: %d rows, other than the default user's %d", schema.GrafanaUser, len(asGrafana), len(rows))
					}
				}
				cancel()
				if err != nil {
					t.Errorf("%s (%s) %s %q: %v\n%s", e.Name, e.Dialect.Version, q.Dashboard, q.Panel, err, sql)
					continue
				}
				all := v.ServiceLine == nil && v.Location == nil
				t.Logf("%s %s %q all=%v: %d rows", e.Name, q.Dashboard, q.Panel, all, len(rows))
				key := fmt.Sprint(q.Dashboard, q.Panel, q.RefID, v.ServiceLine, v.Location, v.Referrer)
				if n, ok := counts[key]; !ok {
					counts[key] = len(rows)
				} else if n != len(rows) {
					t.Errorf("%s %s %q: %d rows, the other engine %d", e.Name, q.Dashboard, q.Panel, len(rows), n)
				}
				if name := sqlName(q.Expr); all && wantRows[name] && len(rows) == 0 {
					t.Errorf("%s %s %q (%s): no rows from 120 days of referrals", e.Name, q.Dashboard, q.Panel, name)
				}
				if !all && len(rows) > 0 && !unfiltered.MatchString(q.Expr) {
					t.Errorf("%s %s %q: %d rows for a location or referrer that does not exist: the filter does not apply", e.Name, q.Dashboard, q.Panel, len(rows))
				}
				if sqlName(q.Expr) == "liaison_worklist" {
					checkWorklistOrder(t, e, db, rows)
				}
			}
		}
	})
}

// busiestReferrer is the referrer with the most events (ties: the first id).
func busiestReferrer(events []event.Event) string {
	n := map[string]int{}
	for _, ev := range events {
		if ev.Data.ReferrerID != "" {
			n[ev.Data.ReferrerID]++
		}
	}
	best := ""
	for id, c := range n {
		if c > n[best] || c == n[best] && id < best {
			best = id
		}
	}
	return best
}

// checkWorklistOrder: the worklist panel's referrers are the first 50 of
// v_referrer_attention, in the view's order (KPIS.md's), with several levels.
func checkWorklistOrder(t *testing.T, e *testenv.Engine, db string, rows [][]string) {
	t.Helper()
	view, err := e.Query(context.Background(), "SELECT referrer_id, level FROM "+db+".v_referrer_attention")
	if err != nil {
		t.Fatal(err)
	}
	levels := map[string]bool{}
	for i, r := range rows {
		if i >= len(view) || r[0] != view[i][0] || r[1] != view[i][1] {
			t.Errorf("%s: worklist row %d is %v, v_referrer_attention's is %v", e.Name, i, r[:2], view[min(i, len(view)-1)])
			return
		}
		levels[r[1]] = true
	}
	if len(rows) != min(50, len(view)) || len(levels) < 2 {
		t.Errorf("%s: worklist of %d rows over levels %v; the view has %d rows", e.Name, len(rows), levels, len(view))
	}
}

// sqlName finds which embedded file a panel's SQL came from.
func sqlName(expr string) string {
	files, _ := sqlFiles.ReadDir("sql")
	g := &generator{}
	for _, f := range files {
		if g.sql(f.Name()) == expr {
			return strings.TrimSuffix(f.Name(), ".sql")
		}
	}
	return ""
}

// unsafeVariables lists the dashboard variables in ClickHouse SQL that Grafana
// would paste in unescaped: anything but ${name:percentencode} inside a string
// literal (the regex, singlequote and sqlstring formats leave a backslash that
// escapes the closing quote), and any non-builtin variable outside one.
func unsafeVariables(sql string) []string {
	var bad []string
	check := func(s string, inLiteral bool) {
		for _, m := range variableRef.FindAllStringSubmatch(s, -1) {
			name := m[1] + m[2] + m[4]
			if strings.HasPrefix(name, "__") {
				continue // $__timeFilter(...), $__interval_s: numbers and macros the plugin expands
			}
			if !inLiteral || m[3] != formatPercentEncode {
				bad = append(bad, m[0])
			}
		}
	}
	start := 0
	for i := 0; i < len(sql); i++ {
		if sql[i] != '\'' {
			continue
		}
		check(sql[start:i], false)
		j := i + 1
		for ; j < len(sql); j++ {
			if sql[j] == '\\' {
				j++
			} else if sql[j] == '\'' {
				break
			}
		}
		check(sql[i+1:min(j, len(sql))], true)
		i, start = j, j+1
	}
	if start < len(sql) {
		check(sql[start:], false)
	}
	return bad
}

// TestClickHouseVariablesEscaped: no ClickHouse panel puts a dashboard
// variable into its SQL in a form a crafted value could break out of.
func TestClickHouseVariablesEscaped(t *testing.T) {
	for sql, want := range map[string]string{
		`match(x, '^(${location:regex})$')`:                    "${location:regex}",
		`x IN (${location:singlequote})`:                       "${location:singlequote}",
		`x = '${location:sqlstring}'`:                          "${location:sqlstring}",
		`x = 'it''s \' $location'`:                             "$location",
		`x = [[location]]`:                                     "[[location]]",
		`decodeURLComponent('${location:percentencode}') = x`:  "",
		`x = '${location:percentencode}' AND $__timeFilter(t)`: "",
	} {
		if got := strings.Join(unsafeVariables(sql), " "); got != want {
			t.Errorf("unsafeVariables(%q) = %q, want %q", sql, got, want)
		}
	}
	qs, err := Queries(build(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range qs {
		if q.Kind != KindClickHouse {
			continue
		}
		n++
		if bad := unsafeVariables(q.Expr); len(bad) > 0 {
			t.Errorf("%s %q: variables %v not as '${name:%s}' in a string literal", q.Dashboard, q.Panel, bad, formatPercentEncode)
		}
	}
	if n == 0 {
		t.Fatal("no ClickHouse queries checked")
	}
}

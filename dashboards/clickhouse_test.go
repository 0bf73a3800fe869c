package dashboards

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	simulation "github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// analystView matches the views the panels read, by unqualified name: Grafana's
// datasource sets the database (defaultDatabase); the test names its own.
var analystView = regexp.MustCompile(`\b(FROM|JOIN)\s+(v_\w+)`)

// TestClickHousePanelsRun: every ClickHouse panel's SQL, with the variables of
// All selected (and of a narrower selection) and the plugin's macros expanded
// for the last 90 days, runs on ClickHouse 18.16 (the server) and 26.7 (chDB)
// against a freshly migrated database holding a small generated referral
// network; panels over recent data return rows.
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
	}
	// Row counts per query and selection on the first engine, to compare with
	// the second: the same data gives the same rows on both versions.
	counts := map[string]int{}
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		e.Load(t, db, events)
		for _, q := range chq {
			for _, v := range []Vars{AllSelected, {ServiceLine: "(cardiology|orthopedics)", Location: "nowhere"}} {
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
				sql = analystView.ReplaceAllString(sql, "$1 "+db+".$2")
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				rows, err := e.Query(ctx, sql)
				cancel()
				if err != nil {
					t.Errorf("%s (%s) %s %q: %v\n%s", e.Name, e.Dialect.Version, q.Dashboard, q.Panel, err, sql)
					continue
				}
				all := v == AllSelected
				t.Logf("%s %s %q all=%v: %d rows", e.Name, q.Dashboard, q.Panel, all, len(rows))
				key := fmt.Sprint(q.Dashboard, q.Panel, q.RefID, all)
				if n, ok := counts[key]; !ok {
					counts[key] = len(rows)
				} else if n != len(rows) {
					t.Errorf("%s %s %q: %d rows, the other engine %d", e.Name, q.Dashboard, q.Panel, len(rows), n)
				}
				if name := sqlName(q.Expr); all && wantRows[name] && len(rows) == 0 {
					t.Errorf("%s %s %q (%s): no rows from 120 days of referrals", e.Name, q.Dashboard, q.Panel, name)
				}
				if !all && len(rows) > 0 && !strings.Contains(q.Expr, "v_referrer_scorecard") {
					t.Errorf("%s %s %q: %d rows for a location that does not exist: the location filter does not apply", e.Name, q.Dashboard, q.Panel, len(rows))
				}
			}
		}
	})
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

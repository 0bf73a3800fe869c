package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/schema"
)

// TestSecurityReaders proves minimum-necessary access on ClickHouse 18.16 with
// the users of deploy/local/clickhouse/users.xml.tmpl (a server of the test's
// own): the migrator migrates; the writer inserts events, as the ingester
// does, and may not change the schema; each reader (exporter, grafana,
// analyst) fails to SELECT patient_token from every table and view the server
// lists, finds no generated patient_token in any row it can read, cannot read
// the PHI database nor change a setting (so not raise its limits), and still
// runs what it is for: the analyst views, the KPI SQL (`referralops kpi`) and
// every dashboard ClickHouse panel, and the analyst the weekly report.
func TestSecurityReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a ClickHouse server")
	}
	admin := testenv.ReaderClickHouse(t) // migrated as the migrator
	db := admin.Database
	phi := schema.PHIDatabase(db)

	gen := generator.DefaultConfig()
	gen.Seed, gen.Referrals, gen.Days, gen.InvalidRatio = 11, 300, 120, 0
	gen.End = time.Now().UTC().Truncate(24 * time.Hour)
	events := testenv.GenerateEvents(t, gen)
	tokens := map[string]bool{}
	for _, e := range events {
		if e.Data.PatientToken != "" {
			tokens[e.Data.PatientToken] = true
		}
	}
	if len(tokens) < 100 {
		t.Fatalf("%d patient tokens generated, want a population", len(tokens))
	}

	// The writer stores the events with the ingester's INSERT; the views
	// feed the facts.
	writer := &testenv.ClickHouseDB{DSN: admin.DSN, Database: db, Conn: connect(t, admin.UserDSN(schema.WriterUser))}
	writer.Load(t, events)
	for _, ddl := range []string{"CREATE TABLE " + db + ".intruder (x UInt8) ENGINE = Memory", "DROP TABLE " + schema.EventsTable(db)} {
		if err := writer.Conn.Exec(context.Background(), ddl); err == nil {
			t.Errorf("the writer ran DDL: %s", ddl)
		}
	}

	adminTables, err := clickhouse.Native{Conn: admin.Conn}.Query(context.Background(),
		"SELECT database, name FROM system.tables WHERE database IN ('"+db+"', '"+phi+"') ORDER BY database, name")
	if err != nil {
		t.Fatal(err)
	}
	// Every relation the readers may read, and the PHI database's events and
	// views: the checks below would prove little on fewer.
	if len(adminTables) < len(schema.ReaderRelations)+2 {
		t.Fatalf("%d tables in %s and %s, want the %d readable relations and the PHI ones: %v", len(adminTables), db, phi, len(schema.ReaderRelations), adminTables)
	}

	for _, user := range []string{schema.ExporterUser, schema.GrafanaUser, schema.AnalystUser} {
		t.Run(user, func(t *testing.T) {
			dsn := admin.UserDSN(user)
			q := clickhouse.Native{Conn: connect(t, dsn)}
			ctx := context.Background()

			// 18.16 lists only the tables of a user's databases: the PHI
			// database is not even seen. Every table and view of both
			// (listed by the admin) refuses patient_token.
			listed, err := q.Query(ctx, "SELECT database, name FROM system.tables WHERE database != 'system' ORDER BY database, name")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range listed {
				if r[0] != db {
					t.Errorf("%s sees %s.%s", user, r[0], r[1])
				}
			}
			for _, r := range adminTables {
				if _, err := q.Query(ctx, "SELECT patient_token FROM "+r[0]+"."+r[1]+" LIMIT 1"); err == nil {
					t.Errorf("%s read patient_token from %s.%s", user, r[0], r[1])
				}
			}
			if _, err := q.Query(ctx, "SELECT count() FROM "+schema.EventsTable(db)); err == nil || !strings.Contains(err.Error(), "291") {
				t.Errorf("%s reading %s: %v, want Code 291 (access denied to the database)", user, schema.EventsTable(db), err)
			}

			// Every row of every relation the user can read, as text (the
			// aggregate states too), holds no generated patient token.
			rows := readableRows(t, admin, user)
			for r, body := range rows {
				for tok := range tokens {
					if strings.Contains(body, tok) {
						t.Errorf("%s reads patient token %s in %s", user, tok, r)
						break
					}
				}
			}
			if len(rows) < 10 {
				t.Errorf("%s could read %d relations, want the database's and system's", user, len(rows))
			}

			for _, v := range []string{"v_referrals", "v_referrer_scorecard", "v_unscheduled_worklist", "v_referrer_attention", "v_loops"} {
				rows, err := q.Query(ctx, "SELECT count() FROM "+db+"."+v)
				if err != nil {
					t.Errorf("%s reading %s: %v", user, v, err)
				} else if v == "v_referrals" && rows[0][0] == "0" {
					t.Errorf("%s: v_referrals is empty", user)
				}
			}
			if _, err := q.Query(ctx, "SELECT count() FROM "+db+".v_referrals SETTINGS max_execution_time = 100000"); err == nil {
				t.Errorf("%s changed a setting: it could raise its limits", user)
			}

			kpi := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--as-of", gen.End.Format(time.RFC3339), "--format", "json")
			var snapshots []map[string]any
			if out, err := kpi.Output(); err != nil {
				t.Errorf("%s: referralops kpi: %v", user, err)
			} else if json.Unmarshal(out, &snapshots) != nil || len(snapshots) == 0 || len(snapshots[0]) == 0 {
				t.Errorf("%s: referralops kpi printed no KPIs:\n%s", user, out)
			}

			if user == schema.GrafanaUser {
				panels(t, q, db)
			}
			if user == schema.AnalystUser { // the weekly report's user in compose and Kubernetes
				dir := t.TempDir()
				report := exec.Command(testenv.Binary(t), "report", "--clickhouse-dsn", dsn, "--as-of", gen.End.Format(time.RFC3339),
					"--format", "html", "--weeks", "2", "--out", dir)
				if out, err := report.CombinedOutput(); err != nil {
					t.Errorf("%s: referralops report: %v\n%s", user, err, out)
				} else if html, _ := filepath.Glob(filepath.Join(dir, "*.html")); len(html) != 1 {
					t.Errorf("%s: referralops report wrote %v", user, html)
				} else if b, _ := os.ReadFile(html[0]); !strings.Contains(string(b), "Latest referral milestone stored at or before T") {
					t.Errorf("%s: the report has no data freshness", user)
				}
			}
		})
	}
}

// analystView matches the views the panels read, unqualified: Grafana's
// datasource names the database.
var analystView = regexp.MustCompile(`\b(FROM|JOIN)\s+(v_\w+)`)

// panels runs every dashboard ClickHouse panel's query, variables All and
// macros over the last 90 days, on q, with the views of database db.
func panels(t *testing.T, q clickhouse.Querier, db string) {
	t.Helper()
	ds, err := dashboards.Build(metrics.DefaultTargets())
	if err != nil {
		t.Fatal(err)
	}
	qs, err := dashboards.Queries(ds)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	n := 0
	for _, pq := range qs {
		if pq.Kind != dashboards.KindClickHouse {
			continue
		}
		n++
		sql, err := dashboards.Substitute(pq.Expr, dashboards.AllSelected)
		if err == nil {
			sql, err = dashboards.ExpandMacros(sql, now.Add(-90*24*time.Hour), now, time.Hour)
		}
		if err != nil {
			t.Fatalf("%s %q: %v", pq.Dashboard, pq.Panel, err)
		}
		sql = analystView.ReplaceAllString(sql, "$1 "+db+".$2")
		if _, err := q.Query(context.Background(), sql); err != nil {
			t.Errorf("grafana: %s %q: %v\n%s", pq.Dashboard, pq.Panel, err, sql)
		}
	}
	if n < 8 {
		t.Errorf("%d ClickHouse panels, want the dashboards' worth", n)
	}
}

// readableRows reads, as user, every row (up to a million) of every relation
// the server lists to it, except the endless number generators, over the
// HTTP interface (TSV shows aggregate states as their bytes): relation →
// rows, for the relations it may read.
func readableRows(t *testing.T, db *testenv.ClickHouseDB, user string) map[string]string {
	t.Helper()
	if db.HTTPAddr == "" {
		t.Fatal("readableRows needs a server of the test's own (testenv.ReaderClickHouse)")
	}
	dsn, err := url.Parse(db.UserDSN(user))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := dsn.User.Password()
	query := func(q string) (string, bool) {
		t.Helper()
		resp, err := http.Post("http://"+db.HTTPAddr+"/?"+url.Values{"user": {user}, "password": {password}}.Encode(), "text/plain", strings.NewReader(q))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), resp.StatusCode == http.StatusOK
	}
	list, ok := query("SELECT concat(database, '.', name) FROM system.tables WHERE NOT (database = 'system' AND name IN ('numbers', 'numbers_mt', 'zeros', 'zeros_mt')) ORDER BY database, name FORMAT TSV")
	if !ok {
		t.Fatalf("%s cannot list the tables: %s", user, list)
	}
	out := map[string]string{}
	for _, r := range strings.Fields(list) {
		if body, ok := query("SELECT * FROM " + r + " LIMIT 1000000 FORMAT TSV"); ok {
			out[r] = body
		}
	}
	return out
}

func connect(t *testing.T, dsn string) driver.Conn {
	t.Helper()
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = dsn
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("connect %s: %v", strings.SplitN(dsn, "@", 2)[1], err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

package kpi_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// TestRefreshFigures measures what issue #3 asks of the KPI SQL: the time of
// one snapshot refresh (30-day window) and the rows it reads, for 1 M and 10 M
// stored events at the same daily rate (1 and 10 years of history), on the
// ClickHouse 18.16 server. It takes minutes (loading 11 M events through the
// views), so it runs only with REFERRALOPS_KPI_BENCH=1:
//
//	REFERRALOPS_KPI_BENCH=1 go test ./metrics/kpi -run TestRefreshFigures -v -timeout 60m
//
// It prints `name value unit` lines for `make bench` (with -v; also written to
// the file REFERRALOPS_KPI_BENCH_OUT names, if set):
//
//	kpi_refresh_seconds_1m, kpi_refresh_seconds_10m  median of 5 refreshes
//	kpi_rows_read_1m, kpi_rows_read_10m              rows read by one refresh
//
// Rows read is the sum of system.query_log's read_rows over the refresh's
// queries. That is all they read: they use no IN (subquery), whose reads
// ClickHouse 18.16 leaves out of read_rows (a JOIN's are counted; see
// sql/common.sql). The facts tables are merged first (OPTIMIZE ... FINAL), the
// steady state of a server that has had time to merge. Both datasets have the
// generator's shape, which grows the referrer population with the referrals.
// REFERRALOPS_KPI_BENCH_EVENTS scales the smaller dataset (default 1000000; the
// larger is 10 times it). REFERRALOPS_KPI_BENCH_KEEP=name only loads that many
// events over REFERRALOPS_KPI_BENCH_DAYS (default 365) into database name and
// keeps it; REFERRALOPS_KPI_BENCH_DB=name then measures it again.
func TestRefreshFigures(t *testing.T) {
	if os.Getenv("REFERRALOPS_KPI_BENCH") != "1" {
		t.Skip("set REFERRALOPS_KPI_BENCH=1 to measure (takes minutes)")
	}
	base := 1_000_000
	if v := os.Getenv("REFERRALOPS_KPI_BENCH_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10_000 {
			t.Fatalf("REFERRALOPS_KPI_BENCH_EVENTS=%q: want a number >= 10000", v)
		}
		base = n
	}
	end := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	if keep := os.Getenv("REFERRALOPS_KPI_BENCH_KEEP"); keep != "" {
		// Load base events over REFERRALOPS_KPI_BENCH_DAYS (default 365) into a
		// database that outlives the test, to study the queries; then stop.
		days := 365
		if v := os.Getenv("REFERRALOPS_KPI_BENCH_DAYS"); v != "" {
			if days, _ = strconv.Atoi(v); days < 1 {
				t.Fatalf("REFERRALOPS_KPI_BENCH_DAYS=%q: want a number of days", v)
			}
		}
		db := keptDatabase(t, keep)
		loadGenerated(t, db, base, days, end)
		optimize(t, db)
		t.Logf("loaded into %s (drop it when done)", keep)
		return
	}
	if name := os.Getenv("REFERRALOPS_KPI_BENCH_DB"); name != "" {
		// Measure a database loaded before (REFERRALOPS_KPI_BENCH_KEEP).
		m := measure(t, keptDatabase(t, name), end)
		t.Logf("%s: refresh %.3fs (runs %v); rows read %d by %d queries", name, m.seconds, m.runs, m.rows, m.queries)
		return
	}
	var lines []string
	for _, ds := range []struct {
		name   string
		events int
		days   int
	}{{"1m", base, 365}, {"10m", 10 * base, 3650}} {
		db := testenv.ClickHouse(t)
		n := loadGenerated(t, db, ds.events, ds.days, end)
		optimize(t, db)
		m := measure(t, db, end)
		t.Logf("%s: %d events over %d days; refresh %.3fs (runs %v); rows read %d by %d queries",
			ds.name, n, ds.days, m.seconds, m.runs, m.rows, m.queries)
		lines = append(lines,
			fmt.Sprintf("kpi_refresh_seconds_%s %.3f s", ds.name, m.seconds),
			fmt.Sprintf("kpi_rows_read_%s %d rows", ds.name, m.rows))
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	if path := os.Getenv("REFERRALOPS_KPI_BENCH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loadGenerated streams about n generated events over days into db's events
// table, in batches like the ingester's, and returns the count.
func loadGenerated(t *testing.T, db *testenv.ClickHouseDB, n, days int, end time.Time) int {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Seed = 11
	cfg.Days = days
	cfg.End = end
	cfg.Referrals = 1000
	per := float64(generator.EstimateMessages(cfg)) / 1000 // events per referral over this period
	cfg.Referrals = int(float64(n) / per)
	const batch = 200_000
	var buf []event.Event
	total := 0
	flush := func() {
		db.Load(t, buf)
		total += len(buf)
		buf = buf[:0]
	}
	started := time.Now()
	testenv.StreamEvents(t, cfg, func(ev event.Event) {
		if buf = append(buf, ev); len(buf) == batch {
			flush()
		}
	})
	flush()
	t.Logf("loaded %d events (%d referrals over %d days) in %s", total, cfg.Referrals, days, time.Since(started).Round(time.Second))
	return total
}

// keptDatabase migrates database name on the local server and does not drop it.
func keptDatabase(t *testing.T, name string) *testenv.ClickHouseDB {
	t.Helper()
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = "clickhouse://127.0.0.1:9000/" + name
	conn, err := clickhouse.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, _, err := schema.MigrateConn(context.Background(), conn, cfg); err != nil {
		t.Fatal(err)
	}
	return &testenv.ClickHouseDB{DSN: cfg.DSN, Database: name, Conn: conn}
}

// optimize merges the facts and the index, the steady state of a server that
// has had time to merge; unmerged parts only add rows to read.
func optimize(t *testing.T, db *testenv.ClickHouseDB) {
	t.Helper()
	for _, table := range []string{"referral_facts", "referral_stages", "appointment_facts", "kpi_index", "kpi_created", "kpi_referrers"} {
		if err := db.Conn.Exec(context.Background(), "OPTIMIZE TABLE "+db.Database+"."+table+" FINAL"); err != nil {
			t.Fatal(err)
		}
	}
}

type measurement struct {
	seconds float64
	runs    []time.Duration
	rows    int64
	queries int
}

// measure refreshes the 30-day snapshot as of T five times (after a warm-up)
// and then once more with every query tagged, to count its rows.
func measure(t *testing.T, db *testenv.ClickHouseDB, T time.Time) measurement {
	t.Helper()
	ctx := context.Background()
	windows := []kpi.Window{kpi.Window(30 * 24 * time.Hour)}
	var m measurement
	for i := range 6 {
		start := time.Now()
		if _, err := kpi.Evaluate(ctx, db.Querier(), db.Database, T, windows); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			m.runs = append(m.runs, time.Since(start).Round(time.Millisecond))
		}
	}
	sorted := slices.Clone(m.runs)
	slices.Sort(sorted)
	m.seconds = sorted[len(sorted)/2].Seconds()

	tq := &taggedQuerier{q: db.Querier(), prefix: testenv.UniqueName("kpibench-")}
	if _, err := kpi.Evaluate(ctx, tq, db.Database, T, windows); err != nil {
		t.Fatal(err)
	}
	m.queries = len(tq.sql)
	if err := db.Conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Querier().Query(ctx, fmt.Sprintf(
		"SELECT query_id, read_rows, query_duration_ms FROM system.query_log WHERE type = 2 AND event_date >= today() - 1 AND query_id LIKE '%s-%%'", tq.prefix))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(tq.sql) {
		t.Fatalf("query_log has %d of the %d queries", len(rows), len(tq.sql))
	}
	for _, r := range rows {
		n, _ := strconv.ParseInt(r[1], 10, 64)
		i, _ := strconv.Atoi(r[0][len(tq.prefix)+1:])
		m.rows += n
		first, _, _ := strings.Cut(strings.TrimSpace(tq.sql[i]), "\n")
		t.Logf("  query %2d: %9d rows %5s ms  %.90s", i, n, r[2], first)
	}
	return m
}

// taggedQuerier gives every query its own query_id, prefix-N, and keeps its text.
type taggedQuerier struct {
	q      clickhouse.Querier
	prefix string
	sql    []string
}

func (tq *taggedQuerier) Query(ctx context.Context, query string) ([][]string, error) {
	id := fmt.Sprintf("%s-%d", tq.prefix, len(tq.sql))
	tq.sql = append(tq.sql, query)
	return tq.q.Query(ch.Context(ctx, ch.WithQueryID(id)), query)
}

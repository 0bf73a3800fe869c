package kpi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// TestRefreshFigures measures what issue #13 asks of the KPI refresh: the
// exporter's real request (Exporter.Refresh: both default windows, all of
// metrics.Breakdowns and every version-2 field the request carries, then the
// collector's update; the referrer KPIs, attention included, every
// --referrer-refresh-interval) and the rows it reads, on the
// ClickHouse 18.16 server, for three datasets at the same daily rate:
//
//	1m             base events over 365 days, sequential referral ids
//	10m            scale × base events over scale × 365 days, sequential ids
//	10m_random_ids the same with random (UUID) ids, which do not sort by time
//
// It takes minutes (loading 21 M events through the views), so it runs only
// with REFERRALOPS_KPI_BENCH=1:
//
//	REFERRALOPS_KPI_BENCH=1 go test ./metrics/kpi -run TestRefreshFigures -v -timeout 120m
//
// It prints `name value unit` lines for `make bench` (with -v; also written to
// the file REFERRALOPS_KPI_BENCH_OUT names, if set):
//
//	kpi_refresh_seconds_{1m,10m,10m_random_ids}       median of 5 refreshes
//	kpi_full_refresh_seconds_{1m,10m,10m_random_ids}  the same, each with the
//	                                                  referrer KPIs (evaluated
//	                                                  every 5 minutes)
//	kpi_rows_read_{1m,10m,10m_random_ids}             rows read by a full refresh
//
// Rows read is the sum of system.query_log's read_rows over the refresh's
// queries. That is all they read: they use no IN (subquery), whose reads
// ClickHouse 18.16 leaves out of read_rows (a JOIN's are counted; see
// sql/common.sql). Every MergeTree table of the database is merged first and
// checked to be (one active part per partition, no merge running): the steady
// state of a server that has had time to merge. Both datasets have the
// generator's shape, which grows the referrer population with the referrals.
// REFERRALOPS_KPI_BENCH_EVENTS scales the smaller dataset (default 1000000;
// the larger ones are REFERRALOPS_KPI_BENCH_SCALE times it, default 10; a
// smaller scale checks the bench quickly, the names stay).
// REFERRALOPS_KPI_BENCH_KEEP=name only loads that many events over
// REFERRALOPS_KPI_BENCH_DAYS (default 365) into database name and keeps it
// (REFERRALOPS_KPI_BENCH_IDS picks the id format, default sequential);
// REFERRALOPS_KPI_BENCH_DB=name then measures it again.
func TestRefreshFigures(t *testing.T) {
	if os.Getenv("REFERRALOPS_KPI_BENCH") != "1" {
		t.Skip("set REFERRALOPS_KPI_BENCH=1 to measure (takes minutes)")
	}
	base := envInt(t, "REFERRALOPS_KPI_BENCH_EVENTS", 1_000_000, 10_000)
	scale := envInt(t, "REFERRALOPS_KPI_BENCH_SCALE", 10, 1)
	end := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	if keep := os.Getenv("REFERRALOPS_KPI_BENCH_KEEP"); keep != "" {
		// Load base events over REFERRALOPS_KPI_BENCH_DAYS (default 365) into a
		// database that outlives the test, to study the queries; then stop.
		days := envInt(t, "REFERRALOPS_KPI_BENCH_DAYS", 365, 1)
		ids := generator.IDSequential
		if v := os.Getenv("REFERRALOPS_KPI_BENCH_IDS"); v != "" {
			if err := ids.Set(v); err != nil {
				t.Fatalf("REFERRALOPS_KPI_BENCH_IDS=%q: %v", v, err)
			}
		}
		db := keptDatabase(t, keep)
		loadGenerated(t, db, base, days, end, ids)
		db.PassKPIState(t)
		mergeFully(t, db)
		t.Logf("loaded into %s (drop it when done)", keep)
		return
	}
	if name := os.Getenv("REFERRALOPS_KPI_BENCH_DB"); name != "" {
		// Measure a database loaded before (REFERRALOPS_KPI_BENCH_KEEP).
		m := measure(t, keptDatabase(t, name), end)
		t.Logf("%s: refresh %.3fs (runs %v), with the referrer KPIs %.3fs (runs %v); rows read %d by %d queries", name, m.seconds, m.runs, m.fullSeconds, m.fullRuns, m.rows, m.queries)
		return
	}
	var lines []string
	for _, ds := range []struct {
		name   string
		events int
		days   int
		ids    generator.IDFormat
	}{
		{"1m", base, 365, generator.IDSequential},
		{"10m", scale * base, scale * 365, generator.IDSequential},
		{"10m_random_ids", scale * base, scale * 365, generator.IDRandom},
	} {
		db := testenv.ClickHouse(t)
		n := loadGenerated(t, db, ds.events, ds.days, end, ds.ids)
		// The KPI state as the ingesters' passes keep it (migration 0018).
		passStart := time.Now()
		db.PassKPIState(t)
		passSeconds := time.Since(passStart).Seconds()
		parts := mergeFully(t, db)
		m := measure(t, db, end)
		t.Logf("%s: %d events over %d days, %s ids, KPI state passed in %.1fs, %s; refresh %.3fs (runs %v), with the referrer KPIs %.3fs (runs %v); rows read %d by %d queries",
			ds.name, n, ds.days, ds.ids, passSeconds, parts, m.seconds, m.runs, m.fullSeconds, m.fullRuns, m.rows, m.queries)
		lines = append(lines,
			fmt.Sprintf("kpi_refresh_seconds_%s %.3f s", ds.name, m.seconds),
			fmt.Sprintf("kpi_full_refresh_seconds_%s %.3f s", ds.name, m.fullSeconds),
			fmt.Sprintf("kpi_rows_read_%s %d rows", ds.name, m.rows),
			fmt.Sprintf("kpi_state_pass_seconds_%s %.1f s", ds.name, passSeconds))
		// Free the server's disk and caches for the next dataset.
		if err := db.Conn.Exec(context.Background(), "TRUNCATE TABLE "+schema.PHIDatabase(db.Database)+".events"); err != nil {
			t.Logf("truncating the raw events: %v", err)
		}
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

// envInt reads the integer variable name (def when unset), at least min.
func envInt(t *testing.T, name string, def, min int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min {
		t.Fatalf("%s=%q: want a number >= %d", name, v, min)
	}
	return n
}

// loadGenerated streams about n generated events over days, with referral ids
// in format ids, into db's events table, in batches like the ingester's, and
// returns the count.
func loadGenerated(t *testing.T, db *testenv.ClickHouseDB, n, days int, end time.Time, ids generator.IDFormat) int {
	t.Helper()
	cfg := generator.DefaultConfig()
	cfg.Seed = 11
	cfg.Days = days
	cfg.End = end
	cfg.IDFormat = ids
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

// mergeFully merges every MergeTree table of db (the facts, the index, the
// KPI tables) down to one part per partition, the steady state of a server
// that has had time to merge, and checks it: 18.16's OPTIMIZE ... FINAL can
// return without merging (a merge of the same parts already running, no
// disk reservation, and without PARTITION one partition at a time), so each
// partition left with several active parts is optimized again until
// system.parts shows one active part per partition and system.merges nothing
// of db. It describes the result.
func mergeFully(t *testing.T, db *testenv.ClickHouseDB) string {
	t.Helper()
	ctx := context.Background()
	q := db.Querier()
	tables, err := q.Query(ctx, fmt.Sprintf(
		"SELECT name FROM system.tables WHERE database = '%s' AND engine LIKE '%%MergeTree' ORDER BY name", db.Database))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Minute)
	for _, r := range tables {
		table := r[0]
		for attempt := 0; ; attempt++ {
			// The partitions left to merge, and the merges of the table running.
			split, err := q.Query(ctx, fmt.Sprintf(`SELECT partition_id FROM system.parts
				WHERE database = '%s' AND table = '%s' AND active GROUP BY partition_id HAVING count() > 1`, db.Database, table))
			if err != nil {
				t.Fatal(err)
			}
			running, err := q.Query(ctx, fmt.Sprintf(
				"SELECT count() FROM system.merges WHERE database = '%s' AND table = '%s'", db.Database, table))
			if err != nil {
				t.Fatal(err)
			}
			if len(split) == 0 && running[0][0] == "0" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s.%s: still %d partitions with several parts and %s merges running after %d rounds of OPTIMIZE FINAL",
					db.Database, table, len(split), running[0][0], attempt)
			}
			if running[0][0] != "0" {
				time.Sleep(200 * time.Millisecond) // poll: a merge of the table is running
				continue
			}
			for _, p := range split {
				if err := db.Conn.Exec(ctx, fmt.Sprintf("OPTIMIZE TABLE %s.%s PARTITION ID '%s' FINAL", db.Database, table, p[0])); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	parts, err := q.Query(ctx, fmt.Sprintf(
		"SELECT count(), sum(rows) FROM system.parts WHERE database = '%s' AND active", db.Database))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("merged into %s parts of %s rows in all", parts[0][0], parts[0][1])
}

type measurement struct {
	seconds float64 // the refresh between the referrer KPIs' evaluations
	runs    []time.Duration
	// fullSeconds is the refresh that also evaluates the referrer KPIs.
	fullSeconds float64
	fullRuns    []time.Duration
	rows        int64
	queries     int
}

// refresher is the exporter as deployments run it (default windows and
// settings, as of T) over db through q; its Refresh is one production
// refresh. The timeout is lifted: a slow refresh is measured, not cut off.
func refresher(db *testenv.ClickHouseDB, q clickhouse.Querier, T time.Time) *metrics.Exporter {
	cfg := metrics.DefaultConfig()
	cfg.AsOf = T
	kc := kpi.DefaultConfig()
	kc.Timeout = time.Hour
	return metrics.NewExporter(cfg, kc, metrics.ClickHouseSource(q, db.Database),
		slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
}

// measure runs the exporter's refresh as of T five times after a warm-up
// (which evaluates the referrer KPIs, the five do not: they are evaluated
// every --referrer-refresh-interval), then five refreshes of new exporters,
// whose first refresh evaluates everything, and then one more of those with
// every query tagged, to count its rows.
func measure(t *testing.T, db *testenv.ClickHouseDB, T time.Time) measurement {
	t.Helper()
	ctx := context.Background()
	timed := func(e *metrics.Exporter) time.Duration {
		start := time.Now()
		if err := e.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Round(time.Millisecond)
	}
	median := func(runs []time.Duration) float64 {
		sorted := slices.Clone(runs)
		slices.Sort(sorted)
		return sorted[len(sorted)/2].Seconds()
	}
	var m measurement
	e := refresher(db, db.Querier(), T)
	timed(e)
	for range 5 {
		m.runs = append(m.runs, timed(e))
	}
	for range 5 {
		m.fullRuns = append(m.fullRuns, timed(refresher(db, db.Querier(), T)))
	}
	m.seconds, m.fullSeconds = median(m.runs), median(m.fullRuns)

	tq := &taggedQuerier{q: db.Querier(), prefix: testenv.UniqueName("kpibench-")}
	if err := refresher(db, tq, T).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	m.queries = len(tq.sql)
	// A query's log entry can come after its result reached the client: poll.
	var rows [][]string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if err := db.Conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		var err error
		rows, err = db.Querier().Query(ctx, fmt.Sprintf(
			"SELECT query_id, read_rows, query_duration_ms FROM system.query_log WHERE type = 2 AND event_date >= today() - 1 AND query_id LIKE '%s-%%'", tq.prefix))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == len(tq.sql) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("query_log has %d of the %d queries", len(rows), len(tq.sql))
		}
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
// The refresh runs queries concurrently (kpi.DefaultParallelism).
type taggedQuerier struct {
	q      clickhouse.Querier
	prefix string
	mu     sync.Mutex
	sql    []string
}

func (tq *taggedQuerier) Query(ctx context.Context, query string) ([][]string, error) {
	tq.mu.Lock()
	id := fmt.Sprintf("%s-%d", tq.prefix, len(tq.sql))
	tq.sql = append(tq.sql, query)
	tq.mu.Unlock()
	return tq.q.Query(ch.Context(ctx, ch.WithQueryID(id)), query)
}

package schema_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

func allVersions(t *testing.T) []int {
	t.Helper()
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func appliedVersions(t *testing.T, e *testenv.Engine, db string) []int {
	t.Helper()
	vs, err := schema.AppliedVersions(context.Background(), e, db)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// TestMigrateTwice: a second run applies nothing; every statement of every
// migration can run again right after it was applied (what a crash before
// the version was recorded, or a concurrent run, does), through Migrate's own
// statement runner; the data stays right.
func TestMigrateTwice(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Database(t)
		want := allVersions(t)
		applied, err := schema.Migrate(ctx, e, e.Dialect, db)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, want) {
			t.Errorf("first run applied %v, want %v", applied, want)
		}
		e.Insert(t, db, fixture)
		applied, err = schema.Migrate(ctx, e, e.Dialect, db)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Errorf("second run applied %v, want nothing", applied)
		}
		if got := appliedVersions(t, e, db); !slices.Equal(got, want) {
			t.Errorf("recorded versions %v, want %v", got, want)
		}
		rerun := func(db string, m schema.Migration) {
			stmts, err := m.Statements(e.Dialect, db)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range stmts {
				if err := schema.ExecOnce(ctx, e, s); err != nil {
					t.Errorf("%04d_%s statement %d again: %v", m.Version, m.Name, i+1, err)
				}
			}
		}
		ms, _ := schema.Migrations()
		rerun(db, ms[len(ms)-1])
		checkFacts(t, e, db, "after the last migration's statements ran twice")
		stepwise := e.Database(t)
		for _, m := range ms {
			if _, err := schema.MigrateTo(ctx, e, e.Dialect, stepwise, m.Version); err != nil {
				t.Fatal(err)
			}
			rerun(stepwise, m)
		}
		e.Insert(t, stepwise, fixture)
		checkFacts(t, e, stepwise, "after every migration's statements ran twice")
	})
}

// TestMigrateConcurrently: processes that migrate one database at the same time
// all succeed, and the schema is whole (each object once).
func TestMigrateConcurrently(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		for round := range 3 {
			db := e.Database(t)
			const workers = 4
			execs := make([]clickhouse.Executor, workers)
			for i := range execs {
				execs[i] = e.NewExecutor(t) // a connection each, as separate processes would have
			}
			var wg sync.WaitGroup
			errs := make([]error, workers)
			applied := make([][]int, workers)
			for i := range workers {
				wg.Go(func() {
					applied[i], errs[i] = schema.Migrate(context.Background(), execs[i], e.Dialect, db)
				})
			}
			wg.Wait()
			var union []int
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, migration %d of %d: %v", round, i+1, workers, err)
				}
				union = append(union, applied[i]...)
			}
			slices.Sort(union)
			want := allVersions(t)
			if got := slices.Compact(union); !slices.Equal(got, want) {
				t.Errorf("round %d: versions applied between them %v, want %v", round, got, want)
			}
			if got := appliedVersions(t, e, db); !slices.Equal(got, want) {
				t.Errorf("round %d: recorded versions %v, want %v", round, got, want)
			}
			rows, err := e.Query(context.Background(),
				"SELECT name, engine FROM system.tables WHERE database = '"+db+"' ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			wantTables := [][]string{
				{"appointment_facts", "AggregatingMergeTree"},
				{"appointment_facts_by_created", "AggregatingMergeTree"},
				{"kpi_created", "ReplacingMergeTree"},
				{"kpi_index", "ReplacingMergeTree"},
				{"kpi_referrers", "AggregatingMergeTree"},
				{"kpi_state_index", "ReplacingMergeTree"},
				{"kpi_state_passes", "MergeTree"},
				{"kpi_touched", "MergeTree"},
				{"referral_facts", "AggregatingMergeTree"},
				{"referral_facts_by_created", "AggregatingMergeTree"},
				{"referral_patient_order", "ReplacingMergeTree"},
				{"referral_patient_order_by_created", "ReplacingMergeTree"},
				{"referral_stages", "AggregatingMergeTree"},
				{"referral_stages_by_created", "AggregatingMergeTree"},
				{"referrer_notes", "AggregatingMergeTree"},
				{"referrer_notes_by_created", "AggregatingMergeTree"},
				{"schema_migrations", "ReplacingMergeTree"},
				{"v_loops", "View"}, {"v_referrals", "View"}, {"v_referrer_attention", "View"}, {"v_referrer_scorecard", "View"},
				{"v_unscheduled_worklist", "View"},
			}
			if !slices.EqualFunc(rows, wantTables, slices.Equal) {
				t.Errorf("round %d: tables %q, want %q", round, rows, wantTables)
			}
			phi := schema.PHIDatabase(db)
			rows, err = e.Query(context.Background(),
				"SELECT name, engine FROM system.tables WHERE database = '"+phi+"' ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			wantPHI := [][]string{
				{"appointment_facts_lists_mv", "MaterializedView"},
				{"events", "ReplacingMergeTree"},
				{"kpi_created_mv", "MaterializedView"},
				{"kpi_index_rows_mv", "MaterializedView"},
				{"kpi_referrers_mv", "MaterializedView"},
				{"kpi_service_lines_mv", "MaterializedView"},
				{"kpi_touched_mv", "MaterializedView"},
				{"kpi_touched_order_mv", "MaterializedView"},
				{"patient_referrals", "AggregatingMergeTree"},
				{"patient_referrals_light_mv", "MaterializedView"},
				{"referral_facts_lists_mv", "MaterializedView"},
				{"referral_stages_mv", "MaterializedView"},
				{"referrer_notes_mv", "MaterializedView"},
			}
			if !slices.EqualFunc(rows, wantPHI, slices.Equal) {
				t.Errorf("round %d: tables of %s %q, want %q", round, phi, rows, wantPHI)
			}
			e.Insert(t, db, fixture)
			checkFacts(t, e, db, "after concurrent migrations")
		}
	})
}

// TestSchemaDialect: the engine got the DDL its dialect selects: the named
// columns of `events` in order, LowCardinality and TTL only where supported.
func TestSchemaDialect(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		rows, err := e.Query(ctx, "SELECT name, type FROM system.columns WHERE database = '"+schema.PHIDatabase(db)+"' AND table = 'events'")
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		types := map[string]string{}
		for _, r := range rows {
			names = append(names, r[0])
			types[r[0]] = r[1]
		}
		if !slices.Equal(names, schema.EventColumns) {
			t.Errorf("events columns\n got %v\nwant %v", names, schema.EventColumns)
		}
		wantEnum := "String"
		if e.Dialect.LowCardinality {
			wantEnum = "LowCardinality(String)"
		}
		for col, want := range map[string]string{
			"event_type": wantEnum, "service_line": wantEnum, "event_id": "String", "referral_id": "String",
			"event_time": "DateTime('UTC')", "missing": "Array(String)", "kafka_offset": "Int64",
		} {
			if types[col] != want {
				t.Errorf("events.%s is %s, want %s", col, types[col], want)
			}
		}
		create, err := e.Query(ctx, "SHOW CREATE TABLE "+schema.EventsTable(db))
		if err != nil {
			t.Fatal(err)
		}
		ddl := create[0][0]
		if got := strings.Contains(ddl, "TTL "); got != e.Dialect.TTL {
			t.Errorf("TTL in DDL = %v, want %v (dialect %s):\n%s", got, e.Dialect.TTL, e.Dialect.Version, ddl)
		}
		t.Logf("%s %s: LowCardinality=%v TTL=%v", e.Name, e.Dialect.Version, e.Dialect.LowCardinality, e.Dialect.TTL)
	})
}

// TestMigrateConn: the CLI path, database from the DSN, dialect from the server.
func TestMigrateConn(t *testing.T) {
	e := testenv.Server(t)
	db := e.Database(t)
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = e.DSN(db)
	cfg.RetentionDays = 400
	conn, err := clickhouse.Open(context.Background(), cfg) // the database does not exist yet
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, applied, err := schema.MigrateConn(context.Background(), conn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != e.Dialect.Version || d.RetentionDays != 400 || !slices.Equal(applied, allVersions(t)) {
		t.Errorf("MigrateConn = %+v, %v", d, applied)
	}
	if got := appliedVersions(t, e, db); !slices.Equal(got, allVersions(t)) {
		t.Errorf("recorded %v", got)
	}
}

// TestMigrateToAndMissing: a database migrated to the last version but one
// misses exactly the last migration, by name; a database that does not exist
// misses them all; after Migrate none.
func TestMigrateToAndMissing(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		ms, err := schema.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		names := func(ms []schema.Migration) []string {
			var out []string
			for _, m := range ms {
				out = append(out, m.String())
			}
			return out
		}
		db := e.Database(t)
		if missing, err := schema.Missing(ctx, e, db); err != nil || len(missing) != len(ms) {
			t.Fatalf("no database: missing %v, %v; want all %d", names(missing), err, len(ms))
		}
		last := ms[len(ms)-1]
		applied, err := schema.MigrateTo(ctx, e, e.Dialect, db, last.Version-1)
		if err != nil {
			t.Fatal(err)
		}
		if want := allVersions(t)[:len(ms)-1]; !slices.Equal(applied, want) {
			t.Errorf("MigrateTo(%d) applied %v, want %v", last.Version-1, applied, want)
		}
		missing, err := schema.Missing(ctx, e, db)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(missing); !slices.Equal(got, []string{last.String()}) {
			t.Errorf("one behind: missing %v, want [%s]", got, last)
		}
		if _, err := schema.Migrate(ctx, e, e.Dialect, db); err != nil {
			t.Fatal(err)
		}
		if missing, err := schema.Missing(ctx, e, db); err != nil || len(missing) != 0 {
			t.Errorf("after Migrate: missing %v, %v", names(missing), err)
		}
	})
}

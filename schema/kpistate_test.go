package schema_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestPassKPIState: on both engines, passes over random-id referrals loaded
// in two halves bring the KPI state (migration 0018) to their facts, in hash
// buckets when they are many (here 7 per statement); a repeated pass over
// the same touches changes nothing; the state tables have the facts tables'
// columns (and referral_facts' created_key); a database without the state says so (ErrNoKPIState) to a pass,
// even before it exists, and to a prune; a prune of a database that does not
// exist fails.
func TestPassKPIState(t *testing.T) {
	if testing.Short() {
		t.Skip("loads generated referrals into two engines")
	}
	defer schema.SetKPIStateReferralsPerStatement(schema.SetKPIStateReferralsPerStatement(7))
	cfg := generator.DefaultConfig()
	cfg.Seed = 3
	cfg.Referrals = 400
	cfg.Days = 60
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.05
	cfg.Shuffle = true
	cfg.IDFormat = generator.IDRandom
	events := testenv.GenerateEvents(t, cfg)
	ctx := context.Background()
	for _, e := range []*testenv.Engine{testenv.Server(t), testenv.ChDB(t)} {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Migrated(t)
			e.Load(t, db, events[:len(events)/2])
			e.PassKPIState(t, db)
			e.Load(t, db, events[len(events)/2:])
			e.PassKPIState(t, db)
			testenv.CheckKPIState(t, e, db)

			// Again over every touch: the states only merge.
			if err := e.Exec(ctx, "TRUNCATE TABLE "+db+".kpi_state_passes"); err != nil {
				t.Fatal(err)
			}
			pass, err := schema.PassKPIState(ctx, e, db, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if pass.Referrals < int64(cfg.Referrals) {
				t.Errorf("the pass from the start touched %d referrals, want every one of %d", pass.Referrals, cfg.Referrals)
			}
			testenv.CheckKPIState(t, e, db)

			// The state tables are the facts tables' columns after created_at.
			for _, table := range schema.KPIStateTables {
				cols := func(name string) []string {
					rows, err := e.Query(ctx, "SELECT concat(name, ' ', type) FROM system.columns WHERE database = '"+db+"' AND table = '"+name+"'") // in the table's order
					if err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, r := range rows {
						out = append(out, r[0])
					}
					return out
				}
				want := append([]string{"created_at DateTime('UTC')"}, cols(table)...)
				if table == "referral_facts" {
					want = append(want, "created_key AggregateFunction(minIf, String, UInt8)") // 0020
				}
				if got := cols(table + "_by_created"); !slices.Equal(got, want) {
					t.Errorf("%s_by_created has the columns %q, want created_at and %s's: %q", table, got, table, want)
				}
			}

			bare := e.Database(t)
			if _, err := schema.PassKPIState(ctx, e, bare, time.Second); !errors.Is(err, schema.ErrNoKPIState) {
				t.Errorf("a pass over an empty database: %v, want ErrNoKPIState", err)
			}
			if _, err := schema.PruneKPITouched(ctx, e, bare, "", time.Hour); err == nil || errors.Is(err, schema.ErrNoKPIState) {
				t.Errorf("a prune of a database that does not exist: %v, want an error other than ErrNoKPIState", err)
			}
			if err := e.Exec(ctx, "CREATE DATABASE "+bare); err != nil {
				t.Fatal(err)
			}
			if _, err := schema.PruneKPITouched(ctx, e, bare, "", time.Hour); !errors.Is(err, schema.ErrNoKPIState) {
				t.Errorf("a prune of an empty database: %v, want ErrNoKPIState", err)
			}
		})
	}
}

// TestMigrateKPIStateCreatedKey: a KPI state written by passes of the release
// before migration 0020 (no created_key, no state version), whose touches are
// pruned, has after 0020 the created_key of every referral (the backfill from
// created_event); a pass of that release recorded later, even one claiming to
// cover the future, counts for neither the readers nor the next pass
// (KPIStateCoveredSQL), which starts from the last pass of this release.
func TestMigrateKPIStateCreatedKey(t *testing.T) {
	if testing.Short() {
		t.Skip("loads generated referrals into two engines")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 5
	cfg.Referrals = 400
	cfg.Days = 60
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.IDFormat = generator.IDRandom
	events := testenv.GenerateEvents(t, cfg)
	ctx := context.Background()
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Database(t)
		if _, err := schema.MigrateTo(ctx, e, e.Dialect, db, 19); err != nil {
			t.Fatal(err)
		}
		e.Load(t, db, events)
		if err := schema.PassKPIStateVersion0(ctx, e, db); err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(ctx, "TRUNCATE TABLE "+db+".kpi_touched"); err != nil { // pruned
			t.Fatal(err)
		}
		if applied, err := schema.Migrate(ctx, e, e.Dialect, db); err != nil || !slices.Equal(applied, []int{20}) {
			t.Fatalf("migrating to 0020: applied %v, %v", applied, err)
		}
		covered := func() string {
			t.Helper()
			rows, err := e.Query(ctx, schema.KPIStateCoveredSQL(db))
			if err != nil {
				t.Fatal(err)
			}
			return rows[0][0]
		}
		if c := covered(); c != "0" {
			t.Errorf("after 0020 the state is covered to %s by the earlier release's pass; want 0", c)
		}
		testenv.CheckKPIState(t, e, db)

		pass, err := schema.PassKPIState(ctx, e, db, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(ctx, "INSERT INTO "+db+".kpi_state_passes (covered_to, passed_at) SELECT now() + 86400, now()"); err != nil {
			t.Fatal(err)
		}
		if c := covered(); c != strconv.FormatInt(pass.To.Unix(), 10) {
			t.Errorf("covered to %s after an earlier release's pass; want this release's %d", c, pass.To.Unix())
		}
		next, err := schema.PassKPIState(ctx, e, db, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !next.From.Equal(pass.To) {
			t.Errorf("the next pass starts from %s, want %s (the earlier release's pass is not counted)", next.From, pass.To)
		}
		testenv.CheckKPIState(t, e, db)
	})
}

package kpi_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
)

// TestLookupDensity: the cohort (referrals created in the 90 days) is read
// densely, by its id range alone, when ids sort by creation time, and from the
// KPI state (migration 0018), its rows in creation order, when they do not
// (UUIDs): two years of random ids put nearly every referral in the cohort's
// range, whose facts a dense read would merge. Without the state (--kpi-state
// never) such a cohort is read sparsely, its facts joined with its ids from
// kpi_index; with --kpi-state always even sequential ids read the state. The
// snapshot is the same every way (exact against the reference:
// TestGeneratedAgainstReferenceIDFormats). The backlog, an "open" lookup,
// leaves out the referrals booked or closed in its year before their facts
// merge, from the state too.
func TestLookupDensity(t *testing.T) {
	if testing.Short() {
		t.Skip("loads generated datasets")
	}
	server := testenv.Server(t)
	// Each format's database outlives its subtests.
	dbs := map[generator.IDFormat]string{}
	for _, ids := range []generator.IDFormat{generator.IDSequential, generator.IDRandom} {
		cfg := generator.DefaultConfig()
		cfg.Seed = 5
		cfg.Referrals = 2000
		cfg.Days = 730 // 8 cohorts of history: random ids spread them over the whole range
		cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
		cfg.IDFormat = ids
		dbs[ids] = server.Migrated(t)
		server.Load(t, dbs[ids], testenv.GenerateEvents(t, cfg))
	}
	for _, c := range []struct {
		ids           generator.IDFormat
		use           kpi.StateUse
		sparse, state bool
	}{
		{generator.IDSequential, kpi.StateAuto, false, false},
		{generator.IDRandom, kpi.StateAuto, true, true},
		{generator.IDRandom, kpi.StateNever, true, false},
		{generator.IDSequential, kpi.StateAlways, false, true},
	} {
		t.Run(string(c.ids)+"/"+string(c.use), func(t *testing.T) {
			db := dbs[c.ids]
			rec := &taggedQuerier{q: server, prefix: testenv.UniqueName("density-")}
			if _, err := (kpi.Request{DB: db, AsOf: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC), State: c.use}).Evaluate(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			cohort := findQuery(t, rec.sql, "-- Cohort KPIs")
			state := strings.Contains(cohort, db+".referral_facts_by_created")
			if sparse := strings.Contains(cohort, db+".kpi_index") || state; sparse != c.sparse && !c.state {
				t.Errorf("%s ids: the cohort query reads kpi_index (sparse) = %v, want %v", c.ids, sparse, c.sparse)
			}
			if state != c.state {
				t.Errorf("%s ids, --kpi-state %s: the cohort query reads the KPI state = %v, want %v", c.ids, c.use, state, c.state)
			}
			// The CMS50-style query reads its cohort's patient order and notes
			// from the state too (migration 0019).
			cms50 := findQuery(t, rec.sql, "-- CMS50-style")
			for _, table := range []string{"referral_patient_order", "referrer_notes"} {
				if got := strings.Contains(cms50, db+"."+table+"_by_created"); got != c.state {
					t.Errorf("%s ids, --kpi-state %s: the CMS50-style query reads %s from the KPI state = %v, want %v", c.ids, c.use, table, got, c.state)
				}
			}
			// The backlog's year of referrals (two years of history: dense
			// unless forced) is read with those booked or closed in it left
			// out before their facts merge, from the state too.
			backlog := findQuery(t, rec.sql, "-- Unscheduled backlog")
			if state := strings.Contains(backlog, db+".referral_facts_by_created"); state != (c.use == kpi.StateAlways) {
				t.Errorf("%s ids, --kpi-state %s: the backlog query reads the KPI state = %v, want %v", c.ids, c.use, state, !state)
			}
			if !strings.Contains(backlog, "AS settled_ids") {
				t.Errorf("%s ids, --kpi-state %s: the backlog query does not leave out the referrals booked or closed in its span", c.ids, c.use)
			}
		})
	}
}

// TestLookupDensityRemembered: an exporter's refreshes share kpi.Densities,
// so the densities are counted (density.sql, a read of every referral's
// kpi_created row when ids do not sort by time) once, not at every refresh;
// once older than MaxAge they are counted again. The lookups are read as
// when counted, and the snapshot is the same.
func TestLookupDensityRemembered(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset")
	}
	server := testenv.Server(t)
	cfg := generator.DefaultConfig()
	cfg.Seed = 6
	cfg.Referrals = 1000
	cfg.Days = 730
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.IDFormat = generator.IDRandom
	db := server.Migrated(t)
	server.Load(t, db, testenv.GenerateEvents(t, cfg))
	const densityQuery = "-- The kpi_created rows"
	for _, c := range []struct {
		maxAge       time.Duration
		countedAgain bool
	}{
		{time.Hour, false},
		{time.Nanosecond, true},
	} {
		t.Run(c.maxAge.String(), func(t *testing.T) {
			densities := &kpi.Densities{MaxAge: c.maxAge}
			var snapshots []kpi.Snapshot
			var counted []int
			for range 2 {
				rec := &taggedQuerier{q: server, prefix: testenv.UniqueName("densities-")}
				s, err := (kpi.Request{DB: db, AsOf: cfg.End, Densities: densities}).Evaluate(context.Background(), rec)
				if err != nil {
					t.Fatal(err)
				}
				snapshots = append(snapshots, s)
				counted = append(counted, len(queriesStartingWith(rec.sql, densityQuery)))
				if cohort := findQuery(t, rec.sql, "-- Cohort KPIs"); !strings.Contains(cohort, db+".referral_facts_by_created") {
					t.Errorf("evaluation %d: the cohort query does not read the KPI state", len(snapshots))
				}
			}
			if counted[0] != 1 {
				t.Errorf("the first evaluation counted the densities %d times, want 1", counted[0])
			}
			if want := map[bool]int{false: 0, true: 1}[c.countedAgain]; counted[1] != want {
				t.Errorf("with MaxAge %s the second evaluation counted the densities %d times, want %d", c.maxAge, counted[1], want)
			}
			if !reflect.DeepEqual(snapshots[0], snapshots[1]) {
				t.Error("the second snapshot differs from the first")
			}
		})
	}
}

// findQuery returns the one query of sql that starts with prefix.
func findQuery(t *testing.T, sql []string, prefix string) string {
	t.Helper()
	found := queriesStartingWith(sql, prefix)
	if len(found) != 1 {
		t.Fatalf("%d queries start with %q, want 1", len(found), prefix)
	}
	return found[0]
}

// queriesStartingWith returns the queries of sql that start with prefix.
func queriesStartingWith(sql []string, prefix string) []string {
	var found []string
	for _, q := range sql {
		if strings.HasPrefix(strings.TrimSpace(q), prefix) {
			found = append(found, q)
		}
	}
	return found
}

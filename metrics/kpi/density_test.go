package kpi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
)

// TestLookupDensity: the cohort (referrals created in the 90 days) is read
// densely, by its id range alone, when ids sort by creation time, and sparsely,
// its facts joined with its ids from kpi_index, when they do not (UUIDs): two
// years of random ids put nearly every referral in the cohort's range, whose
// facts a dense read would merge. The snapshot is the same either way (exact
// against the reference: TestGeneratedAgainstReferenceIDFormats).
func TestLookupDensity(t *testing.T) {
	if testing.Short() {
		t.Skip("loads generated datasets")
	}
	server := testenv.Server(t)
	for _, c := range []struct {
		ids    generator.IDFormat
		sparse bool
	}{
		{generator.IDSequential, false},
		{generator.IDRandom, true},
	} {
		t.Run(string(c.ids), func(t *testing.T) {
			cfg := generator.DefaultConfig()
			cfg.Seed = 5
			cfg.Referrals = 2000
			cfg.Days = 730 // 8 cohorts of history: random ids spread them over the whole range
			cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
			cfg.IDFormat = c.ids
			db := server.Migrated(t)
			server.Load(t, db, testenv.GenerateEvents(t, cfg))
			rec := &taggedQuerier{q: server, prefix: testenv.UniqueName("density-")}
			if _, err := (kpi.Request{DB: db, AsOf: cfg.End}).Evaluate(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			cohort := findQuery(t, rec.sql, "-- Cohort KPIs")
			if sparse := strings.Contains(cohort, db+".kpi_index"); sparse != c.sparse {
				t.Errorf("%s ids: the cohort query reads kpi_index (sparse) = %v, want %v", c.ids, sparse, c.sparse)
			}
		})
	}
}

// findQuery returns the one query of sql that starts with prefix.
func findQuery(t *testing.T, sql []string, prefix string) string {
	t.Helper()
	var found []string
	for _, q := range sql {
		if strings.HasPrefix(strings.TrimSpace(q), prefix) {
			found = append(found, q)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d queries start with %q, want 1", len(found), prefix)
	}
	return found[0]
}

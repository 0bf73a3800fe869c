package kpi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// TestPruneKPITouched: on both engines, `referralops prune`'s
// schema.PruneKPITouched drops the months of kpi_touched a pass has covered,
// and the KPIs read from the state stay exact without them, with the touches
// after the pass (the second half of the events) still read from the facts.
// Before any pass it drops nothing; a second run drops nothing more; a
// cluster named for a single server's table is refused.
//
// The view stamps touches with the server's now(), so the test ages the first
// half's touches by 62 days (the log as a month later): they stay before the
// pass's covered_to, as they were.
func TestPruneKPITouched(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into two engines")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 13
	cfg.Referrals = 500
	cfg.Days = 120
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.IDFormat = generator.IDRandom
	events := testenv.GenerateEvents(t, cfg)
	half := len(events) / 2
	var want []map[string]any
	for _, w := range kpi.DefaultWindows() {
		want = append(want, referenceKPIs(events, cfg.End, w.Duration(), w.String()))
	}
	ctx := context.Background()
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		count := func(where string) int64 {
			t.Helper()
			rows, err := e.Query(ctx, "SELECT toString(count()) FROM "+db+".kpi_touched WHERE "+where)
			if err != nil {
				t.Fatal(err)
			}
			n, err := strconv.ParseInt(rows[0][0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		prune := func() schema.KPITouchedPrune {
			t.Helper()
			p, err := schema.PruneKPITouched(ctx, e, db, "", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}

		e.Load(t, db, events[:half])
		touched := count("1")
		if p := prune(); !p.Before.IsZero() || len(p.Months) > 0 || count("1") != touched {
			t.Fatalf("before any pass: pruned %+v, %d of %d touches left; want nothing pruned", p, count("1"), touched)
		}
		if _, err := schema.PruneKPITouched(ctx, e, db, "c1", time.Hour); err == nil {
			t.Error("a cluster named for a single server's kpi_touched: no error")
		}

		e.PassKPIState(t, db)
		months, err := e.Query(ctx, "SELECT DISTINCT toString(toYYYYMM(touched_at)) FROM "+db+".kpi_touched")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(ctx, "INSERT INTO "+db+".kpi_touched SELECT touched_at - toIntervalDay(62), referral_id FROM "+db+".kpi_touched"); err != nil {
			t.Fatal(err)
		}
		for _, m := range months {
			if err := e.Exec(ctx, "ALTER TABLE "+db+".kpi_touched DROP PARTITION "+m[0]); err != nil {
				t.Fatal(err)
			}
		}
		if n := count("1"); n != touched {
			t.Fatalf("aged the log: %d touches, want %d", n, touched)
		}

		p := prune()
		if len(p.Months) == 0 || p.Rows != touched || count("1") != 0 {
			t.Fatalf("after a pass over every touch, 62 days on: pruned %+v, %d touches left; want all %d pruned", p, count("1"), touched)
		}
		if again := prune(); len(again.Months) > 0 || again.Rows != 0 {
			t.Errorf("a second prune dropped %+v, want nothing", again)
		}

		e.Load(t, db, events[half:])
		if n := count("1"); n == 0 {
			t.Fatal("the second half logged no touches")
		}
		if p := prune(); len(p.Months) > 0 {
			t.Errorf("the touches after the pass were pruned: %+v", p)
		}
		evaluate := func(label string) {
			t.Helper()
			got, err := kpi.Request{DB: db, AsOf: cfg.End, Attention: true, State: kpi.StateAlways}.Evaluate(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			compareJSON(t, e.Name+" vs reference, "+label, snapshotJSON(t, got), want)
		}
		evaluate("the covered touches pruned, the rest not passed")
		e.PassKPIState(t, db)
		evaluate("and passed")
	})
}

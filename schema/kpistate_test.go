package schema_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestPassKPIState: on both engines, passes over random-id referrals loaded
// in two halves bring the KPI state (migration 0018) to their facts, in hash
// buckets when they are many (here 7 per statement); a repeated pass over
// the same touches changes nothing, and a database without the state says
// so (ErrNoKPIState).
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

			bare := e.Database(t)
			if _, err := schema.PassKPIState(ctx, e, bare, time.Second); !errors.Is(err, schema.ErrNoKPIState) {
				t.Errorf("a pass over an empty database: %v, want ErrNoKPIState", err)
			}
		})
	}
}

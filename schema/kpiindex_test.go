package schema_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestLightKPIIndex: migration 0013's view, and 0014's two that replaced it,
// write the rows 0004's did. A database migrated to 0012 and one migrated to
// the head hold the same kpi_index after the same events, of every type the
// index takes.
func TestLightKPIIndex(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		ms, err := schema.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		before := e.Database(t)
		if err := e.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+before); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Version >= 13 {
				break
			}
			stmts, err := m.Statements(e.Dialect, before)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts {
				if err := e.Exec(ctx, s); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
			}
		}
		head := e.Migrated(t)
		events := append(slices.Clone(fixture),
			ev("x1", "referral.auth_approved", "2026-03-04 10:00:00", "R1"),
			ev("x2", "referral.auth_denied", "2026-03-05 10:00:00", "R2"),
			ev("x3", "referral.rejected", "2026-03-06 10:00:00", "R3"),
			ev("x4", "appointment.booked", "2026-03-07 10:00:00", "R3", appt("A9", "2026-03-20 09:00:00")),
		)
		index := map[string][][]string{}
		for _, db := range []string{before, head} {
			e.InsertInto(t, schema.EventsTable(db), events)
			rows, err := e.Query(ctx, "SELECT toString(kind), key_value, toString(toInt64(at)), referral FROM (SELECT DISTINCT kind, key_value, at, referral FROM "+
				db+".kpi_index) ORDER BY kind, key_value, at, referral")
			if err != nil {
				t.Fatal(err)
			}
			index[db] = rows
		}
		if !reflect.DeepEqual(index[head], index[before]) {
			t.Errorf("kpi_index at the head:\n%v\nbefore:\n%v", index[head], index[before])
		}
		kinds := map[string]bool{}
		for _, r := range index[head] {
			kinds[r[0]] = true
		}
		if len(kinds) != 9 { // schema.KindCreated to KindServiceLine
			t.Errorf("kinds %v in kpi_index, want all 9 of schema.IndexKind", kinds)
		}
	})
}

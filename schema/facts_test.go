package schema_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// redelivered is rows delivered again: reversed, from later offsets.
func redelivered(rows []row) []row {
	out := slices.Clone(rows)
	slices.Reverse(out)
	for i := range out {
		out[i].Offset += 1000
		out[i].IngestedAt = out[i].IngestedAt.Add(time.Hour)
	}
	return out
}

func asOfTimes() []time.Time { return []time.Time{asOf, asOfEarly, asOfFirst} }

func diffFacts(got, want []schema.ReferralFact) string {
	var sb strings.Builder
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = fmt.Sprintf("%+v", got[i])
		}
		if i < len(want) {
			w = fmt.Sprintf("%+v", want[i])
		}
		if g != w {
			fmt.Fprintf(&sb, "\n  got  %s\n  want %s", g, w)
		}
	}
	return sb.String()
}

func checkFacts(t *testing.T, e *testenv.Engine, db string, when string) {
	t.Helper()
	for _, at := range asOfTimes() {
		if d := diffFacts(facts(t, e, db, at), wantFacts[at]); d != "" {
			t.Errorf("%s (%s), %s, as of %s:%s", e.Name, e.Dialect.Version, when, at.Format(time.DateTime), d)
		}
	}
}

// TestReferralFacts: the fixture's facts equal the hand-computed ones, and a
// second delivery of every event (other order, other offsets) changes nothing,
// before and after the engine merges parts.
func TestReferralFacts(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		e.Insert(t, db, fixture)
		checkFacts(t, e, db, "after one delivery")
		e.Insert(t, db, redelivered(fixture))
		checkFacts(t, e, db, "after a second delivery")
		for _, table := range []string{schema.EventsTable(db), db + ".referral_facts", db + ".appointment_facts"} {
			if err := e.Exec(context.Background(), "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
				t.Fatal(err)
			}
		}
		checkFacts(t, e, db, "after OPTIMIZE FINAL")
		rows, err := e.Query(context.Background(), "SELECT count() FROM "+schema.EventsTable(db))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rows[0][0], fmt.Sprint(len(fixture)); got != want {
			t.Errorf("events after merge: %s rows, want %s (one per event id)", got, want)
		}
	})
}

// TestBackfill: events stored before the views exist (an upgrade, or an
// ingester that raced the migration) reach the facts through the migrations'
// backfill.
func TestBackfill(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Database(t)
		ms, err := schema.Migrations()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			t.Fatal(err)
		}
		stmts, err := ms[0].Statements(e.Dialect, db) // events only
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if err := e.Exec(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		e.InsertInto(t, db+".events", fixture) // where 0001 put it; 0009 moves it
		if _, err := schema.Migrate(ctx, e, e.Dialect, db); err != nil {
			t.Fatal(err)
		}
		checkFacts(t, e, db, "backfilled")
		e.Insert(t, db, redelivered(fixture))
		checkFacts(t, e, db, "backfilled, then a second delivery")
	})
}

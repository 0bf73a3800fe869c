package kpi_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// lightFacts is the migration that folded referral_facts' dimension states
// into created_event (schema/migrations/0012); the databases of
// TestMigrateLightFacts start one before it.
const lightFacts = 12

// TestMigrateLightFactsKeepsKPIs: a database holding data in the
// referral_facts of migrations 0002-0011 (an argMinIf state per dimension),
// migrated to the light facts and then fed more events, has the KPIs (every
// breakdown, attention) and the as-of facts of a database that had the light
// facts from the start, at present and past T, on both engines; and both agree
// with the reference. The events after the migration include a redelivery of
// a tenth of those before it, and two more referral.created of a converted
// referral at its creation's second: one with a smaller event id, whose
// dimensions win (so the conversion kept the winning event's id, not only its
// time), one with a greater id, which changes nothing.
func TestMigrateLightFactsKeepsKPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into four databases")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 13
	cfg.Referrals = 3_000
	cfg.Days = 420
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.05
	cfg.Shuffle = true
	generated := testenv.GenerateEvents(t, cfg)
	before := generated[:len(generated)/2]

	// The tie: the first referral.created before the migration, and two of
	// other service lines and referrers to tell the winner by.
	var created event.Event
	var others []event.Event
	for _, ev := range before {
		if ev.Type != event.ReferralCreated {
			continue
		}
		if created.ID == "" {
			created = ev
			continue
		}
		if ev.Data.ServiceLine != created.Data.ServiceLine && ev.Data.ReferrerID != created.Data.ReferrerID &&
			(len(others) == 0 || ev.Data.ServiceLine != others[0].Data.ServiceLine) {
			if others = append(others, ev); len(others) == 2 {
				break
			}
		}
	}
	if len(others) != 2 {
		t.Fatal("no three referral.created of different service lines and referrers")
	}
	earlier, later := created, created
	earlier.ID = created.ID[:len(created.ID)-1] + "!" // sorts before created.ID
	later.ID = created.ID + "~"
	earlier.Data, later.Data = others[0].Data, others[1].Data
	winner := others[0].Data
	after := append([]event.Event{earlier, later}, generated[len(generated)/2:]...)
	after = append(after, before[:len(before)/10]...)
	all := append(append([]event.Event{}, before...), after...)

	asOfs := []time.Time{
		cfg.End,
		time.Date(2025, 11, 3, 9, 15, 7, 0, time.UTC),
		created.Time, // the tied creations' second
		created.Time.Add(-time.Second),
	}
	windows := kpi.DefaultWindows()
	breakdowns := []kpi.Breakdown{{kpi.Location}, {kpi.ReferrerType}, {kpi.ReferrerNetwork}, {kpi.PayerClass},
		{kpi.Priority}, {kpi.ServiceLine, kpi.Location}}

	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		migrated := e.Database(t)
		if _, err := schema.MigrateTo(ctx, e, e.Dialect, migrated, lightFacts-1); err != nil {
			t.Fatal(err)
		}
		e.Load(t, migrated, before)
		if applied, err := schema.Migrate(ctx, e, e.Dialect, migrated); err != nil || len(applied) == 0 || applied[0] != lightFacts {
			t.Fatalf("migrating a database with data: applied %v, %v; want %d first", applied, err, lightFacts)
		}
		e.Load(t, migrated, after)
		fresh := e.Migrated(t)
		e.Load(t, fresh, all)

		for _, asOf := range asOfs {
			stamp := asOf.Format(time.RFC3339)
			got, err := schema.ReferralFacts(ctx, e, migrated, asOf)
			if err != nil {
				t.Fatal(err)
			}
			want, err := schema.ReferralFacts(ctx, e, fresh, asOf)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("as of %s the facts of the migrated database differ from a fresh one's", stamp)
			}
			if asOf.Equal(created.Time) {
				for _, f := range got {
					if f.ReferralID == created.Subject && (f.ServiceLine != winner.ServiceLine || f.ReferrerID != winner.ReferrerID) {
						t.Errorf("referral with tied creations: service line %q, referrer %q; want the smallest event id's %q, %q",
							f.ServiceLine, f.ReferrerID, winner.ServiceLine, winner.ReferrerID)
					}
				}
			}
			var fromMigrated, fromFresh kpi.Snapshot
			for db, s := range map[string]*kpi.Snapshot{migrated: &fromMigrated, fresh: &fromFresh} {
				req := kpi.Request{DB: db, AsOf: asOf, Breakdowns: breakdowns, Attention: true}
				if *s, err = req.Evaluate(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(fromMigrated, fromFresh) {
				t.Errorf("as of %s the KPIs of the migrated database differ from a fresh one's", stamp)
				compareJSON(t, "migrated vs fresh as of "+stamp, snapshotJSON(t, fromMigrated), snapshotJSON(t, fromFresh))
			}
			var ref []map[string]any
			for _, w := range windows {
				ref = append(ref, referenceKPIs(all, asOf, w.Duration(), w.String()))
			}
			compareJSON(t, "migrated vs reference as of "+stamp, snapshotJSON(t, fromMigrated), ref)
		}
	})
}

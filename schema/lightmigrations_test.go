package schema_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// lightAppointmentFacts is the migration that dropped appointment_facts'
// unread states (schema/migrations/0015).
const lightAppointmentFacts = 15

// TestMigrateLightAppointmentFacts: a database holding appointments in the
// appointment_facts of migrations 0003-0014, migrated to 0015 (and on to the
// head) and then fed more events (a redelivery of the first half among them),
// has the appointment histories and the as-of facts of a database migrated to
// the head before any event, at present and past T; the unread states are
// gone.
func TestMigrateLightAppointmentFacts(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		migrated := e.Database(t)
		if _, err := schema.MigrateTo(ctx, e, e.Dialect, migrated, lightAppointmentFacts-1); err != nil {
			t.Fatal(err)
		}
		half := len(fixture) / 2
		e.InsertInto(t, schema.EventsTable(migrated), fixture[:half])
		if applied, err := schema.Migrate(ctx, e, e.Dialect, migrated); err != nil || len(applied) == 0 || applied[0] != lightAppointmentFacts {
			t.Fatalf("migrating a database with data: applied %v, %v; want %d first", applied, err, lightAppointmentFacts)
		}
		e.InsertInto(t, schema.EventsTable(migrated), fixture)
		fresh := e.Migrated(t)
		e.InsertInto(t, schema.EventsTable(fresh), fixture)

		histories := func(db string) [][]string {
			t.Helper()
			rows, err := e.Query(ctx, "SELECT referral_id, appointment_id, toString(arraySort(arrayDistinct(groupArrayMerge(history_list)))) FROM "+db+
				".appointment_facts GROUP BY referral_id, appointment_id ORDER BY referral_id, appointment_id")
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		got, want := histories(migrated), histories(fresh)
		if len(want) < 3 || !reflect.DeepEqual(got, want) {
			t.Errorf("appointment histories after 0015:\n%v\nof a fresh database:\n%v", got, want)
		}
		for _, at := range []struct{ name, db string }{{"migrated", migrated}, {"fresh", fresh}} {
			cols, err := e.Query(ctx, "SELECT name FROM system.columns WHERE database = '"+at.db+"' AND table = 'appointment_facts' ORDER BY name")
			if err != nil {
				t.Fatal(err)
			}
			if wantCols := [][]string{{"appointment_id"}, {"history_list"}, {"referral_id"}}; !reflect.DeepEqual(cols, wantCols) {
				t.Errorf("%s appointment_facts columns %v, want %v", at.name, cols, wantCols)
			}
		}
		sameFactsAsOf(t, e, migrated, fresh)
	})
}

// lightPatientReferrals is the migration that keeps only the creation time
// in patient_referrals (schema/migrations/0016).
const lightPatientReferrals = 16

// TestMigrateLightPatientReferrals: a database whose patient_referrals holds
// 0010's (time, event id) states, migrated to 0016 and then fed more events
// (a redelivery, a referral of a known patient created before that
// patient's others, an earlier creation of a converted referral), has the creation times and, recomputed, the patient
// order of a database migrated to the head before any event.
func TestMigrateLightPatientReferrals(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		tok := func(s string) func(*row) { return func(r *row) { r.PatientToken = s } }
		before := []row{
			ev("e1", "referral.created", "2026-01-10 09:00:00", "R-1", tok("P")),
			ev("e2", "referral.created", "2026-01-12 09:00:00", "R-2", tok("P")),
			ev("e3", "referral.created", "2026-01-11 09:00:00", "R-3", tok("Q")),
		}
		after := []row{
			ev("e4", "referral.created", "2026-01-05 09:00:00", "R-4", tok("P")),
			ev("e5", "referral.created", "2026-01-09 09:00:00", "R-1", tok("P")), // an earlier creation of R-1
			before[0], // a redelivery; have only their converted rows
		}
		migrated := e.Database(t)
		if _, err := schema.MigrateTo(ctx, e, e.Dialect, migrated, lightPatientReferrals-1); err != nil {
			t.Fatal(err)
		}
		e.InsertInto(t, schema.EventsTable(migrated), before)
		if applied, err := schema.Migrate(ctx, e, e.Dialect, migrated); err != nil || len(applied) == 0 || applied[0] != lightPatientReferrals {
			t.Fatalf("migrating a database with data: applied %v, %v; want %d first", applied, err, lightPatientReferrals)
		}
		e.InsertInto(t, schema.EventsTable(migrated), after)
		fresh := e.Migrated(t)
		e.InsertInto(t, schema.EventsTable(fresh), append(slices.Clone(before), after...))

		for _, db := range []string{migrated, fresh} {
			if err := schema.RefreshPatientOrder(ctx, e.NewExecutor(t), db, []string{"R-1", "R-2", "R-3", "R-4"}, 0); err != nil {
				t.Fatal(err)
			}
		}
		read := func(db string) [][]string {
			t.Helper()
			rows, err := e.Query(ctx, "SELECT referral_id, toString(toInt64(minMerge(first_created))) FROM "+schema.PHIDatabase(db)+
				".patient_referrals GROUP BY referral_id ORDER BY referral_id")
			if err != nil {
				t.Fatal(err)
			}
			order, err := e.Query(ctx, "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+db+
				".referral_patient_order GROUP BY referral_id ORDER BY referral_id")
			if err != nil {
				t.Fatal(err)
			}
			return append(rows, order...)
		}
		want := [][]string{
			{"R-1", unix("2026-01-09 09:00:00")}, {"R-2", unix("2026-01-12 09:00:00")},
			{"R-3", unix("2026-01-11 09:00:00")}, {"R-4", unix("2026-01-05 09:00:00")},
			// P; Q: R-3
			{"R-1", unix("2026-01-05 09:00:00")}, {"R-2", unix("2026-01-09 09:00:00")}, {"R-3", "0"}, {"R-4", "0"},
		}
		for _, db := range []string{migrated, fresh} {
			if got := read(db); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: creation times and order %v, want %v", db, got, want)
			}
		}
		cols, err := e.Query(ctx, "SELECT name FROM system.columns WHERE database = '"+schema.PHIDatabase(migrated)+"' AND table = 'patient_referrals' ORDER BY name")
		if wantCols := [][]string{{"first_created"}, {"patient_token"}, {"referral_id"}}; err != nil || !reflect.DeepEqual(cols, wantCols) {
			t.Errorf("patient_referrals columns %v, %v; want %v", cols, err, wantCols)
		}
	})
}

// eventLists is the migration that made the facts' event sets lists
// (schema/migrations/0017).
const eventLists = 17

// TestMigrateEventLists: a database whose facts keep their events in
// groupUniqArray states (migrations 0002-0016), migrated to 0017 and then fed
// the other events (and a redelivery of three, so that converted and newly
// written entries meet), has the events, the as-of facts and the
// analyst view of a database migrated to the head before any event; the set
// columns are gone.
func TestMigrateEventLists(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		// the fixture has no authorization decisions: two, at one second
		events := append(slices.Clone(fixture),
			ev("e901", "referral.auth_requested", "2026-03-03 09:00:00", "R1"),
			ev("e902", "referral.auth_denied", "2026-03-04 09:00:00", "R1"),
			ev("e903", "referral.auth_approved", "2026-03-04 09:00:00", "R1"),
			ev("e904", "referral.auth_approved", "2026-03-12 09:00:00", "R2"))
		migrated := e.Database(t)
		if _, err := schema.MigrateTo(ctx, e, e.Dialect, migrated, eventLists-1); err != nil {
			t.Fatal(err)
		}
		// before: the first half and the decisions; after: the rest and a
		// redelivery of three converted events
		half := len(fixture) / 2
		e.InsertInto(t, schema.EventsTable(migrated), append(events[:half:half], events[len(fixture):]...))
		if applied, err := schema.Migrate(ctx, e, e.Dialect, migrated); err != nil || len(applied) == 0 || applied[0] != eventLists {
			t.Fatalf("migrating a database with data: applied %v, %v; want %d first", applied, err, eventLists)
		}
		e.InsertInto(t, schema.EventsTable(migrated), append(events[half:len(fixture):len(fixture)], events[0], events[1], events[len(fixture)+1]))
		fresh := e.Migrated(t)
		e.InsertInto(t, schema.EventsTable(fresh), events)

		lists := []struct{ table, keys, merge string }{
			{"referral_facts", "referral_id", "groupArrayIfMerge(destinations_list)"},
			{"referral_facts", "referral_id", "groupArrayIfMerge(auth_decisions_list)"},
			{"referral_facts", "referral_id", "groupArrayIfMerge(consult_notes_list)"},
			{"appointment_facts", "referral_id, appointment_id", "groupArrayMerge(history_list)"},
		}
		for _, l := range lists {
			read := func(db string) [][]string {
				t.Helper()
				rows, err := e.Query(ctx, "SELECT "+l.keys+", toString(arraySort(arrayDistinct("+l.merge+"))) AS events FROM "+db+"."+l.table+
					" GROUP BY "+l.keys+" HAVING events != '[]' ORDER BY "+l.keys)
				if err != nil {
					t.Fatal(err)
				}
				return rows
			}
			if got, want := read(migrated), read(fresh); len(want) < 2 || !reflect.DeepEqual(got, want) {
				t.Errorf("%s after 0017:\n%v\nof a fresh database:\n%v", l.merge, got, want)
			}
		}
		for _, at := range []struct{ name, db string }{{"migrated", migrated}, {"fresh", fresh}} {
			cols, err := e.Query(ctx, "SELECT name FROM system.columns WHERE database = '"+at.db+"' AND table IN ('referral_facts', 'appointment_facts')"+
				" AND name IN ('destinations', 'auth_decisions', 'consult_notes', 'history')")
			if err != nil {
				t.Fatal(err)
			}
			if len(cols) != 0 {
				t.Errorf("%s facts still have the set columns %v", at.name, cols)
			}
		}
		sameFactsAsOf(t, e, migrated, fresh)
		view := func(db string) [][]string {
			t.Helper()
			rows, err := e.Query(ctx, "SELECT referral_id, toString(auth_decided_at), toString(loop_closed_at), destination_network FROM "+db+".v_referrals ORDER BY referral_id")
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		if got, want := view(migrated), view(fresh); len(want) < 2 || !reflect.DeepEqual(got, want) {
			t.Errorf("v_referrals after 0017:\n%v\nof a fresh database:\n%v", got, want)
		}
	})
}

// sameFactsAsOf checks that databases migrated and fresh have the same as-of
// facts at present and past T.
func sameFactsAsOf(t *testing.T, e *testenv.Engine, migrated, fresh string) {
	t.Helper()
	ctx := context.Background()
	for _, asOf := range []time.Time{asOf, asOfEarly, asOfFirst} {
		got, err := schema.ReferralFacts(ctx, e, migrated, asOf)
		if err != nil {
			t.Fatal(err)
		}
		want, err := schema.ReferralFacts(ctx, e, fresh, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("as of %s the facts of the migrated database differ from a fresh one's:\n%+v\n%+v", asOf, got, want)
		}
	}
}

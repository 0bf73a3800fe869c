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
// appointment_facts of migrations 0003-0014, migrated to 0015 and then fed
// more events (a redelivery of the first half among them), has the
// appointment histories and the as-of facts of a database migrated to the
// head before any event, at present and past T; the unread states are gone.
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
			rows, err := e.Query(ctx, "SELECT referral_id, appointment_id, toString(arraySort(groupUniqArrayMerge(history))) FROM "+db+
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
			if wantCols := [][]string{{"appointment_id"}, {"history"}, {"referral_id"}}; !reflect.DeepEqual(cols, wantCols) {
				t.Errorf("%s appointment_facts columns %v, want %v", at.name, cols, wantCols)
			}
		}
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

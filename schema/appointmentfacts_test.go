package schema_test

import (
	"context"
	"reflect"
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

package testenv

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// PassKPIState runs schema.PassKPIState on db until a pass covers every
// referral touched so far (kpi_touched): what an ingester's passes do over
// time. The pass leaves the last second alone (its margin), so this waits
// for the clock to pass the latest touch: about two seconds.
func (e *Engine) PassKPIState(t testing.TB, db string) {
	t.Helper()
	PassKPIState(t, e, db)
}

// PassKPIState is Engine.PassKPIState on this database.
func (c *ClickHouseDB) PassKPIState(t testing.TB) {
	t.Helper()
	PassKPIState(t, clickhouse.Native{Conn: c.Conn}, c.Database)
}

// PassKPIState is Engine.PassKPIState through exec.
func PassKPIState(t testing.TB, exec clickhouse.Executor, db string) {
	t.Helper()
	ctx := context.Background()
	rows, err := exec.Query(ctx, "SELECT toString(toInt64(max(touched_at))) FROM "+db+".kpi_touched")
	if err != nil || len(rows) != 1 {
		t.Fatalf("the latest touch in %s: %v %v", db, rows, err)
	}
	latest, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Minutes: the first pass over a bench's 10 M events takes a while.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		pass, err := schema.PassKPIState(ctx, exec, db, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if pass.To.Unix() >= latest {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the KPI state of %s covers %s, not yet the latest touch %s", db, pass.To, time.Unix(latest, 0).UTC())
		}
		time.Sleep(100 * time.Millisecond) // the server's clock, polled
	}
}

// CheckKPIState fails t unless db's KPI state (migrations 0018, 0019) holds the
// facts of every referral with a creation: per referral (and appointment),
// the states of each *_by_created table merged equal the facts', and
// created_key the facts' created_event (schema.CreatedKeySQL). Call it
// once a pass covers every touch (PassKPIState).
func CheckKPIState(t testing.TB, q clickhouse.Querier, db string) {
	t.Helper()
	ctx := context.Background()
	created := "referral_id IN (SELECT referral_id FROM " + db + ".kpi_created)"
	// Each table needs some rows for the check to mean anything; fewer
	// referrals have a note to the referrer than any other fact.
	for _, c := range []struct {
		table, keys, cols string
		least             int
	}{
		{"referral_facts", "referral_id", "toString(minIfMerge(created_event)), toString(minIfMerge(first_booked_at)), toString(minIfMerge(first_completed_at)), " +
			"toString(minIfMerge(leaked_at)), toString(minIfMerge(closed_at)), toString(minIfMerge(accepted_at)), toString(minIfMerge(info_requested_at)), " +
			"toString(minIfMerge(auth_requested_at)), toString(minMerge(first_event_at)), toString(arraySort(arrayDistinct(groupArrayIfMerge(destinations_list)))), " +
			"toString(arraySort(arrayDistinct(groupArrayIfMerge(consult_notes_list)))), toString(arraySort(arrayDistinct(groupArrayIfMerge(auth_decisions_list))))", 50},
		{"referral_stages", "referral_id", "toString(minIfMerge(rejected_at)), toString(arraySort(groupUniqArrayIfMerge(info_received))), argMinIfMerge(leak_reason)", 50},
		{"appointment_facts", "referral_id, appointment_id", "toString(arraySort(arrayDistinct(groupArrayMerge(history_list))))", 50},
		{"referral_patient_order", "referral_id", "toString(argMax(prev_patient_referral_created_at, version)), toString(max(version))", 50},
		{"referrer_notes", "referral_id", "toString(arraySort(groupUniqArrayMerge(note_times)))", 20},
	} {
		facts, err := q.Query(ctx, "SELECT "+c.keys+", "+c.cols+" FROM "+db+"."+c.table+" WHERE "+created+" GROUP BY "+c.keys+" ORDER BY "+c.keys)
		if err != nil {
			t.Fatal(err)
		}
		state, err := q.Query(ctx, "SELECT "+c.keys+", "+c.cols+" FROM "+db+"."+c.table+"_by_created GROUP BY "+c.keys+" ORDER BY "+c.keys)
		if err != nil {
			t.Fatal(err)
		}
		if len(facts) < c.least {
			t.Fatalf("%s: %d rows of referrals with a creation: too few to check the KPI state", c.table, len(facts))
		}
		if !reflect.DeepEqual(facts, state) {
			t.Errorf("%s_by_created: %d rows, the facts of the referrals with a creation %d; first difference: %s", c.table, len(state), len(facts), firstDifference(facts, state))
		}
	}
	// created_key (migration 0020): the facts' creation, packed.
	facts, err := q.Query(ctx, "SELECT referral_id, "+schema.CreatedKeySQL("minIfMerge(created_event)")+" FROM "+db+".referral_facts WHERE "+created+" GROUP BY referral_id ORDER BY referral_id")
	if err != nil {
		t.Fatal(err)
	}
	state, err := q.Query(ctx, "SELECT referral_id, minIfMerge(created_key) FROM "+db+".referral_facts_by_created GROUP BY referral_id ORDER BY referral_id")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(facts, state) {
		t.Errorf("referral_facts_by_created's created_key: %d rows, the facts' creations %d; first difference: %q", len(state), len(facts), firstDifference(facts, state))
	}
}

func firstDifference(a, b [][]string) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			return fmt.Sprintf("%v against %v", a[i], b[i])
		}
	}
	return "one has more rows"
}

package ingest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/testenv"
	"strconv"
)

// TestRecheckQueue: referrals come due after the delay, oldest first; a full
// queue drops the oldest and reports how many once.
func TestRecheckQueue(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	q := newRecheckQueue(time.Minute, 5)
	q.add(t0, []string{"R-1", "R-2"})
	q.add(t0.Add(10*time.Second), []string{"R-3"})
	q.add(t0, nil)
	if due, dropped := q.take(t0.Add(59 * time.Second)); len(due) != 0 || dropped != 0 {
		t.Errorf("before the delay: due %v, dropped %d", due, dropped)
	}
	if due, _ := q.take(t0.Add(time.Minute)); !slices.Equal(due, []string{"R-1", "R-2"}) {
		t.Errorf("at the delay: due %v, want R-1 R-2", due)
	}
	q.add(t0.Add(20*time.Second), []string{"R-4", "R-5", "R-6", "R-7", "R-8"})
	if got := q.pending(); got != 5 {
		t.Errorf("pending %d, want the limit 5", got)
	}
	due, dropped := q.take(t0.Add(time.Hour))
	if !slices.Equal(due, []string{"R-4", "R-5", "R-6", "R-7", "R-8"}) || dropped != 1 {
		t.Errorf("after the limit: due %v dropped %d, want R-4..R-8 and R-3 dropped", due, dropped)
	}
	if _, dropped := q.take(t0.Add(time.Hour)); dropped != 0 || q.pending() != 0 {
		t.Errorf("drops reported twice (%d) or referrals left (%d)", dropped, q.pending())
	}
}

// TestPatientOrderRecheck: a referral whose recompute missed the patient's
// other referral (on a cluster: written through another replica that had not
// replicated yet; here written beside the store, with the order row such a
// recompute leaves) is corrected when the other referral's batch is
// rechecked, and only once its delay has passed.
func TestPatientOrderRecheck(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	store := NewClickHouseStore(ch.Conn, ch.Database, 1, true).RecheckPatientOrder(time.Minute)
	created := func(id, referral string, at time.Time) event.Event {
		return event.Event{ID: id, Source: "epic/test", Type: event.ReferralCreated, Time: at, Subject: referral,
			Data: event.Data{ServiceLine: "cardiology", LocationID: "loc-1", ReferrerID: "npi-1", ReferrerType: "pcp",
				ReferrerNetwork: "in", DestinationNetwork: "in", PayerClass: "commercial", Priority: "routine", Channel: "fax", PatientToken: "tok-P"}}
	}
	first := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var r rows
	a := created("e-a", "R-A", first)
	r.add(&a, "referral-events", 0, 1)
	if err := store.Insert(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := store.Refresh(ctx, r.patientReferrals()); err != nil {
		t.Fatal(err)
	}
	// R-B, the same patient's next referral, stored elsewhere; its recompute
	// did not see R-A, so it says R-B is the patient's first.
	b := created("e-b", "R-B", first.Add(24*time.Hour))
	var rb rows
	rb.add(&b, "referral-events", 1, 1)
	if err := NewClickHouseStore(ch.Conn, ch.Database, 1, true).insert(ctx, &rb, nil, 0, 1, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	if err := ch.Conn.Exec(ctx, "INSERT INTO "+ch.Database+".referral_patient_order (referral_id, prev_patient_referral_created_at, version)"+
		" SELECT 'R-B', toDateTime(0, 'UTC'), 4294967296 + toUInt64(toUInt32(now()))"); err != nil {
		t.Fatal(err)
	}
	prevOfB := func() string {
		t.Helper()
		got, err := ch.Querier().Query(ctx, "SELECT toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+
			ch.Database+".referral_patient_order WHERE referral_id = 'R-B'")
		if err != nil {
			t.Fatal(err)
		}
		return got[0][0]
	}
	if got := prevOfB(); got != "0" {
		t.Fatalf("R-B's order before any recheck: previous referral at %s, want the missed one's 0", got)
	}
	n, dropped, err := store.RecheckDue(ctx, time.Now().Add(30*time.Second))
	if err != nil || n != 0 || dropped != 0 {
		t.Fatalf("recheck before the delay: %d rechecked, %d dropped, %v; want none", n, dropped, err)
	}
	n, _, err = store.RecheckDue(ctx, time.Now().Add(time.Minute+time.Second))
	if err != nil || n != 1 {
		t.Fatalf("recheck after the delay: %d rechecked, %v; want R-A's batch", n, err)
	}
	if got, want := prevOfB(), first.Unix(); got != strconv.FormatInt(want, 10) {
		t.Errorf("R-B's order after R-A's recheck: previous referral at %s, want R-A's %d", got, want)
	}
	if store.RecheckPending() != 0 {
		t.Errorf("%d referrals still pending", store.RecheckPending())
	}
}

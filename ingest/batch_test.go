package ingest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// TestRowsColumnsMatchEventColumns guards the insert: each column slice must
// sit at the position of its name in the column list the INSERT names.
func TestRowsColumnsMatchEventColumns(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 5, 0, 0, time.UTC)
	slot := at.Add(72 * time.Hour)
	now := at.Add(time.Hour)
	e := event.Event{ID: "id-1", Source: "src", Type: event.AppointmentBooked, Time: at, Subject: "R-1", Data: event.Data{
		ReferrerID: "ref", ReferrerOrgID: "org", ReferrerType: "primary_care", ReferrerNetwork: "in",
		ServiceLine: "cardiology", LocationID: "loc", DestinationNetwork: "out", DestinationOrgID: "dest",
		PayerClass: "medicare", Priority: "urgent", Channel: "fax", PatientToken: "pt", Reason: "why",
		Missing: []string{"a"}, AppointmentID: "A-1", ScheduledFor: slot, VisitType: "new",
		CancelledBy: "patient", Recipient: "pcp", Outcome: "reached",
	}}
	r := &rows{}
	r.add(&e, "topic-x", 4, 42)
	var v blockViews
	v.fill(r, nil, 0, 1, now.Unix())
	want := map[string]any{
		"event_id": "id-1", "event_type": "appointment.booked", "event_time": at.Unix(), "referral_id": "R-1", "source": "src",
		"referrer_id": "ref", "referrer_org_id": "org", "referrer_type": "primary_care", "referrer_network": "in",
		"service_line": "cardiology", "location_id": "loc", "destination_network": "out", "destination_org_id": "dest",
		"payer_class": "medicare", "priority": "urgent", "channel": "fax", "patient_token": "pt", "reason": "why",
		"missing": "a", "appointment_id": "A-1", "scheduled_for": slot.Unix(), "visit_type": "new", "cancelled_by": "patient",
		"recipient": "pcp", "outcome": "reached", "kafka_topic": "topic-x", "kafka_partition": int32(4),
		"kafka_offset": int64(42), "ingested_at": now.Unix(),
	}
	cols := v.columns()
	if len(cols) != len(eventColumns) || len(want) != len(eventColumns) {
		t.Fatalf("%d column slices, %d column names, %d expectations", len(cols), len(eventColumns), len(want))
	}
	for i, name := range eventColumns {
		var got any
		switch c := cols[i].(type) {
		case []string:
			got = c[0]
		case []any:
			got = c[0].([]string)[0]
		case []int32:
			got = c[0]
		case []int64:
			got = c[0]
		default:
			t.Fatalf("column %s has unexpected type %T", name, c)
		}
		if got != want[name] {
			t.Errorf("column %s (position %d) holds %v, want %v", name, i, got, want[name])
		}
	}
}

func TestRowsZeroValues(t *testing.T) {
	r := &rows{}
	r.add(&event.Event{ID: "x", Type: event.ReferralAccepted, Time: time.Unix(1e9, 0).UTC(), Subject: "R"}, "t", 0, 0)
	var v blockViews
	v.fill(r, nil, 0, 1, 0)
	if got := v.scheduled[0]; got != 0 {
		t.Errorf("missing scheduled_for stored as %v, want the epoch (ClickHouse's zero DateTime)", got)
	}
	if l, ok := v.missing[0].([]string); !ok || l == nil || len(l) != 0 {
		t.Errorf("missing list stored as %#v, want an empty array", v.missing[0])
	}
	r.reset()
	if r.len() != 0 {
		t.Errorf("reset left %d rows", r.len())
	}
}

// TestBlockViews: a block of rows picked by index holds each row's own
// values, its `missing` list included, whatever lists its neighbours have.
func TestBlockViews(t *testing.T) {
	r := &rows{}
	lists := [][]string{{"a", "b"}, nil, {"c"}, {"d", "", "e"}}
	for i, l := range lists {
		r.add(&event.Event{ID: fmt.Sprint("id-", i), Subject: fmt.Sprint("R-", i), Time: time.Unix(int64(1e9+i), 0), Data: event.Data{Missing: l}}, "t", i, int64(i))
	}
	var v blockViews
	for _, pick := range [][]int{{0, 1, 2, 3}, {3, 1, 0}, {2}} {
		v.fill(r, pick, 0, len(pick), 7)
		for k, i := range pick {
			if v.strs[colEventID][k] != fmt.Sprint("id-", i) || v.strs[colReferralID][k] != fmt.Sprint("R-", i) ||
				v.eventTime[k] != int64(1e9+i) || v.partition[k] != int32(i) || v.offset[k] != int64(i) || v.ingestedAt[k] != 7 {
				t.Errorf("rows %v, row %d: %v %v %d %d %d %d", pick, i, v.strs[colEventID][k], v.strs[colReferralID][k], v.eventTime[k], v.partition[k], v.offset[k], v.ingestedAt[k])
			}
			want := lists[i]
			if want == nil {
				want = []string{}
			}
			if l, ok := v.missing[k].([]string); !ok || l == nil || !slices.Equal(l, want) {
				t.Errorf("rows %v, row %d: missing %#v, want %#v", pick, i, v.missing[k], want)
			}
		}
	}
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: time.Second}
	for i := range 100 {
		d := b.next()
		ceil := min(b.min<<min(i, 30), b.max)
		if d < b.min || d > ceil {
			t.Fatalf("attempt %d: wait %s outside [%s, %s]", i, d, b.min, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Errorf("after reset the first wait is %s, want %s", d, b.min)
	}
}

// TestBackoffSlow: after a permanent failure the wait is never shorter than
// half the cap, whatever the attempt, so a refused INSERT is not retried hot.
func TestBackoffSlow(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: time.Second}
	for i := range 100 {
		if d := b.slow(); d < b.max/2 || d > b.max {
			t.Fatalf("attempt %d: slow wait %s outside [%s, %s]", i, d, b.max/2, b.max)
		}
	}
}

func TestBatchTracksNextOffsets(t *testing.T) {
	b := newBatch()
	now := time.Now()
	b.track("a", 0, 7, now)
	b.track("a", 0, 5, now) // out of order within a batch cannot lower the commit
	b.track("b", 3, 0, now)
	b.track("b", 3, 1, now)
	b.reset()
	if !b.empty() || len(b.ledger().next) != 0 || !b.started.IsZero() {
		t.Errorf("reset left %+v", b)
	}
	b.track("a", 0, 7, now)
	b.track("a", 0, 5, now) // out of order within a batch cannot lower the commit
	b.track("b", 3, 0, now)
	if l := b.ledger(); l.next["a"][0] != 8 || l.next["b"][3] != 1 || l.count != 3 || !l.started.Equal(now) {
		t.Errorf("next %v, count %d", l.next, l.count)
	}
}

// TestBatchRuns: records counted run by run (a partition's, a topic and
// format's) come out as if counted one by one, whichever way the runs
// interleave, and a run goes on across the reads of offsets().
func TestBatchRuns(t *testing.T) {
	b := newBatch()
	now := time.Now()
	add := func(topic string, partition int, offset int64, format string) {
		b.track(topic, partition, offset, now)
		if format != "" {
			b.counted(topic, format, 2)
		}
	}
	add("r", 0, 10, formatCloudEvents)
	add("r", 0, 11, formatCloudEvents)
	add("r", 1, 3, "fhir")
	if got, want := b.offsets(), "r/0 10-11, r/1 3-3"; got != want {
		t.Errorf("offsets() = %q, want %q", got, want)
	}
	add("r", 1, 4, "fhir")
	add("r", 0, 9, "") // a dead letter: tracked, not counted
	add("r", 0, 12, formatCloudEvents)
	add("s", 0, 0, formatCloudEvents)
	add("r", 1, 2, formatCloudEvents)
	l := b.ledger()
	if got, want := l.offsets(), "r/0 9-12, r/1 2-4, s/0 0-0"; got != want {
		t.Errorf("offsets() = %q, want %q", got, want)
	}
	if l.count != 8 || l.stored["r"] != 6 || l.stored["s"] != 1 || l.events[formatCloudEvents] != 10 || l.events["fhir"] != 4 {
		t.Errorf("count %d, stored %v, events %v", l.count, l.stored, l.events)
	}
	if b.span != (offsetSpan{}) || b.tally != (storedTally{}) || len(b.stored) != 0 {
		t.Errorf("the batch kept a run after ledger(): %+v %+v %v", b.span, b.tally, b.stored)
	}
}

// TestBatchOffsets: a batch names its records by topic, partition and offset
// range (sorted), which is what an operator reads when it was not stored.
func TestBatchOffsets(t *testing.T) {
	b := newBatch()
	now := time.Now()
	for _, r := range []struct {
		topic     string
		partition int
		offset    int64
	}{{"scheduling", 0, 7}, {"referrals", 3, 120}, {"referrals", 3, 118}, {"referrals", 0, 5}, {"referrals", 3, 121}} {
		b.track(r.topic, r.partition, r.offset, now)
	}
	if got, want := b.offsets(), "referrals/0 5-5, referrals/3 118-121, scheduling/0 7-7"; got != want {
		t.Errorf("offsets() = %q, want %q", got, want)
	}
	b.reset()
	if got := b.offsets(); got != "" {
		t.Errorf("offsets() after reset = %q, want empty", got)
	}
}

// TestStoredBatchAbsorb: the batches of one super-batch INSERT are committed
// as one: the offsets after the later of each partition, counts summed, the
// first offsets kept for the log; the batch handed over starts afresh.
func TestStoredBatchAbsorb(t *testing.T) {
	now := time.Now()
	first, second := newBatch(), newBatch()
	first.track("referrals", 0, 10, now)
	first.track("referrals", 1, 4, now)
	first.counted("referrals", formatCloudEvents, 1)
	second.track("referrals", 0, 11, now)
	second.track("scheduling", 2, 0, now)
	second.counted("scheduling", formatCloudEvents, 1)
	second.addSkip("referrals", formatCloudEvents, "test")
	var s storedBatch
	s.absorb(first.ledger(), []string{"R-1"})
	s.absorb(second.ledger(), []string{"R-2"})
	if s.ledger.count != 4 || s.ledger.next["referrals"][0] != 12 || s.ledger.next["referrals"][1] != 5 || s.ledger.next["scheduling"][2] != 1 {
		t.Errorf("count %d, next %v", s.ledger.count, s.ledger.next)
	}
	if got, want := s.ledger.offsets(), "referrals/0 10-11, referrals/1 4-4, scheduling/2 0-0"; got != want {
		t.Errorf("offsets() = %q, want %q", got, want)
	}
	if s.ledger.stored["referrals"] != 1 || s.ledger.stored["scheduling"] != 1 || len(s.ledger.skipped) != 1 || s.ledger.events[formatCloudEvents] != 2 {
		t.Errorf("stored %v, skipped %v, events %v", s.ledger.stored, s.ledger.skipped, s.ledger.events)
	}
	if !slices.EqualFunc(s.referrals, [][]string{{"R-1"}, {"R-2"}}, slices.Equal) {
		t.Errorf("referrals %v", s.referrals)
	}
	if len(first.next) != 0 || len(first.stored) != 0 {
		t.Errorf("the batch kept its ledger: next %v, stored %v", first.next, first.stored)
	}
}

// TestPatientReferrals: the referrals of the rows' referral.created events
// with a patient token, which outlive the rows (the rows are reused while a
// backlog holds the batch for its refresh).
func TestPatientReferrals(t *testing.T) {
	var r rows
	add := func(typ event.Type, id, token string) {
		r.add(&event.Event{ID: "e-" + id, Type: typ, Subject: id, Data: event.Data{PatientToken: token}}, "referrals", 0, 0)
	}
	add(event.ReferralCreated, "R-1", "P1")
	add(event.ReferralCreated, "R-2", "")
	add(event.AppointmentBooked, "R-3", "P3")
	add(event.ReferralCreated, "R-4", "P1")
	got := r.patientReferrals()
	r.reset()
	add(event.ReferralCreated, "X-9", "P9")
	add(event.ReferralCreated, "X-8", "P8")
	if want := []string{"R-1", "R-4"}; !slices.Equal(got, want) {
		t.Errorf("patientReferrals() = %q, want %q", got, want)
	}
	r.reset()
	if got := r.patientReferrals(); got != nil {
		t.Errorf("patientReferrals() of no rows = %q, want nil", got)
	}
}

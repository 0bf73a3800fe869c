package kpi_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
)

// boundaryReferrers builds referrers that sit on each boundary of KPIS.md
// "Referrer attention" as of T, and just beside it. Every time is T minus whole
// days and 12 hours, so the view, which evaluates as of now(), sees the same
// levels while the test's seconds pass.
func boundaryReferrers(T time.Time) []event.Event {
	const day = 24 * time.Hour
	at := func(daysAgo int) time.Time { return T.Add(-time.Duration(daysAgo)*day - 12*time.Hour) }
	var evs []event.Event
	seq := 0
	add := func(id string, typ event.Type, when time.Time, referral string, d event.Data) {
		evs = append(evs, event.Event{ID: id, Source: "test", Type: typ, Time: when, Subject: referral, Data: d})
	}
	// referral creates one referral of referrer r, daysAgo days before T, and
	// returns its id.
	referral := func(r, typ, line string, daysAgo int) string {
		seq++
		id := fmt.Sprintf("RA-%05d", seq)
		add(id+"-c", "referral.created", at(daysAgo), id, event.Data{
			ReferrerID: r, ReferrerOrgID: "ORG-" + r, ReferrerType: typ, ReferrerNetwork: "in",
			ServiceLine: line, LocationID: "loc-1", DestinationNetwork: "in", PayerClass: "commercial",
			Priority: "routine", Channel: "ehr"})
		return id
	}
	// volume gives r c referrals in (T−365d, T−90d] and n in (T−90d, T], the
	// latest `last` days before T.
	volume := func(r string, c, n, last int) {
		for i := range c {
			referral(r, "primary_care", "cardiology", 100+i%250)
		}
		for i := range n {
			referral(r, "primary_care", "cardiology", last+i%(89-last))
		}
	}
	volume("B-drop75", 110, 9, 5)  // drop exactly 0.75, base 36: critical
	volume("B-drop72", 110, 10, 5) // drop 0.72: high (drop >= 0.5)
	volume("B-drop50", 55, 9, 5)   // drop exactly 0.5, base 18: high
	volume("B-drop44", 55, 10, 5)  // drop 0.44: medium (>= 0.25)
	volume("B-drop25", 110, 27, 5) // drop exactly 0.25: medium
	volume("B-drop22", 110, 28, 5) // drop 0.22: minor
	volume("B-days60", 7, 1, 60)   // base 2.29, 60 days since the last: critical
	volume("B-days59", 7, 1, 59)   // 59 days: high (drop 0.56)
	volume("B-base196", 6, 0, 100) // base 1.96 < 2, drop 1: high
	volume("B-base131", 4, 0, 100) // base 1.31 >= 1, drop 1: high
	volume("B-base098", 3, 0, 100) // base 0.98 < 1, drop 1: medium
	volume("B-quiet", 0, 3, 1)     // new: minor
	// leak share exactly 0.5 with base 1.31 and no drop: high; 4 of 9: minor
	for _, l := range []struct {
		r         string
		n, leaked int
	}{{"B-leak50", 4, 4}, {"B-leak44", 5, 4}} {
		volume(l.r, 4, 0, 0)
		for i := range l.n {
			id := referral(l.r, "primary_care", "cardiology", 10+i)
			if i < l.leaked {
				add(id+"-l", "referral.leaked", at(9), id, event.Data{Reason: "patient_choice"})
			}
		}
		for i := range 4 - l.leaked {
			id := referral(l.r, "primary_care", "cardiology", 20+i)
			add(id+"-r", "referral.redirected", at(19), id, event.Data{DestinationNetwork: "out", DestinationOrgID: "OUT-1"})
		}
	}
	// open loops: completed 30 days ago without a note (open), with one in time
	// (closed), one before the visit (open), completed 10 days ago (too recent)
	loops := func(r string, open int) {
		for i := range open {
			id := referral(r, "specialist", "orthopedics", 60)
			add(id+"-b", "appointment.booked", at(59), id, event.Data{AppointmentID: id + "A", ScheduledFor: at(30), LocationID: "loc-1", VisitType: "new_patient"})
			if i == 0 {
				add(id+"-e", "communication.consult_note_sent", at(40), id, event.Data{Channel: "ehr", Recipient: "referrer"})
			}
			add(id+"-v", "appointment.completed", at(30), id, event.Data{AppointmentID: id + "A"})
		}
		closed := referral(r, "specialist", "orthopedics", 60)
		add(closed+"-v", "appointment.completed", at(30), closed, event.Data{AppointmentID: closed + "A"})
		add(closed+"-n", "communication.consult_note_sent", at(25), closed, event.Data{Channel: "ehr", Recipient: "referrer"})
		recent := referral(r, "specialist", "orthopedics", 20)
		add(recent+"-v", "appointment.completed", at(10), recent, event.Data{AppointmentID: recent + "A"})
	}
	loops("B-open3", 3) // medium
	loops("B-open2", 2) // minor
	// main service line and type: most referrals (ties by name), latest type
	referral("B-lines", "specialist", "imaging", 200)
	referral("B-lines", "specialist", "cardiology", 150)
	referral("B-lines", "urgent_care", "imaging", 40)
	referral("B-tie", "specialist", "oncology", 30)
	referral("B-tie", "specialist", "gastroenterology", 31)
	// older than 365 days: not in the population
	referral("B-gone", "primary_care", "cardiology", 366)
	return evs
}

// checkWorklist compares the worklist with the reference's, row by row.
func checkWorklist(t *testing.T, what string, got []kpi.AttentionRow, want []refAttention) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d referrers, want %d", what, len(got), len(want))
	}
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.ReferrerID != w.referrer || g.ReferrerOrgID != w.org || g.ReferrerType != w.typ || g.ServiceLine != w.line ||
			g.N != w.n || g.DaysSinceLast != w.daysSinceLast || g.OpenLoops != w.openLoops || g.Level != w.level ||
			!close(g.Base, w.base) || !close(g.Drop, w.drop) || !close(g.LeakShare, w.leakShare) {
			t.Errorf("%s: row %d %+v, want %+v", what, i, g, w)
		}
	}
}

// TestReferrerAttention: the levels of the as-of query (`kpi`, `report`) and of
// the view v_referrer_attention equal the reference's over constructed
// boundary referrers and a generated network, on both engines.
func TestReferrerAttention(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	events := boundaryReferrers(now)
	// A generated network that ended two years ago: replayed at its end, and
	// outside the view's 365 days today.
	cfg := generator.DefaultConfig()
	cfg.Seed = 15
	cfg.Referrals = 4000
	cfg.Days = 400
	cfg.End = now.AddDate(-2, 0, 0).Truncate(24 * time.Hour)
	cfg.DuplicateRatio = 0.05
	generated := testenv.GenerateEvents(t, cfg)
	events = append(events, generated...)

	asOfs := []time.Time{now, now.Add(-45 * 24 * time.Hour), cfg.End, cfg.End.Add(-100*24*time.Hour + 4321*time.Second)}
	want := map[time.Time][]refAttention{}
	levels := map[string]bool{}
	for _, T := range asOfs {
		want[T] = referenceAttention(referenceFacts(events, T.Unix()), T.Unix())
		for _, r := range want[T] {
			levels[r.level] = true
		}
	}
	// the boundaries as KPIS.md draws them (B-gone has no referral in 365 days)
	boundaries := map[string]string{
		"B-drop75": "critical", "B-drop72": "high", "B-drop50": "high", "B-drop44": "medium", "B-drop25": "medium",
		"B-drop22": "minor", "B-days60": "critical", "B-days59": "high", "B-base196": "high", "B-base131": "high",
		"B-base098": "medium", "B-quiet": "minor", "B-leak50": "high", "B-leak44": "minor", "B-open3": "medium",
		"B-open2": "minor", "B-lines": "minor", "B-tie": "minor",
	}
	gotLevels := map[string]string{}
	for _, r := range want[now] {
		gotLevels[r.referrer] = r.level
	}
	if !maps.Equal(gotLevels, boundaries) {
		t.Fatalf("reference levels as of now %v, want %v", gotLevels, boundaries)
	}
	if len(levels) != len(kpi.Levels) {
		t.Fatalf("the data reach only the levels %v", levels)
	}

	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		e.Load(t, db, events)
		for _, T := range asOfs {
			what := T.Format(time.RFC3339)
			got, err := kpi.Request{DB: db, AsOf: T}.Worklist(ctx, e, 0)
			if err != nil {
				t.Fatal(err)
			}
			checkWorklist(t, "worklist as of "+what, got, want[T])
			top, err := kpi.Request{DB: db, AsOf: T}.Worklist(ctx, e, 3)
			if err != nil {
				t.Fatal(err)
			}
			checkWorklist(t, "top 3 as of "+what, top, want[T][:min(3, len(want[T]))])

			s, err := kpi.Evaluate(ctx, e, db, T, []kpi.Window{kpi.Window(30 * 24 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			compareJSON(t, "referrer_attention as of "+what, snapshotJSON(t, s).(map[string]any)["referrer_attention"], referenceAttentionJSON(want[T]))
		}
		// not asked for (the exporter's refresh), not evaluated
		s, err := kpi.Request{DB: db, AsOf: now}.Evaluate(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if s.Attention.Totals != (kpi.AttentionLevels{}) || len(s.Attention.ByType) != 0 {
			t.Errorf("attention evaluated without Request.Attention: %+v", s.Attention)
		}

		rows, err := e.Query(ctx, "SELECT referrer_id, referrer_org_id, referrer_type, service_line, n, base, `drop`, "+
			"days_since_last, leak_share, open_loops, level FROM "+db+".v_referrer_attention")
		if err != nil {
			t.Fatal(err)
		}
		view := make([]kpi.AttentionRow, len(rows))
		for i, r := range rows {
			f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
			n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
			view[i] = kpi.AttentionRow{ReferrerID: r[0], ReferrerOrgID: r[1], ReferrerType: r[2], ServiceLine: r[3],
				N: n(r[4]), Base: f(r[5]), Drop: f(r[6]), DaysSinceLast: n(r[7]), LeakShare: f(r[8]), OpenLoops: n(r[9]), Level: r[10]}
		}
		checkWorklist(t, "v_referrer_attention", view, want[now])
	})
}

// TestWorklistRejectsBadRequest: the worklist validates its request like
// Evaluate, before any query.
func TestWorklistRejectsBadRequest(t *testing.T) {
	for _, r := range []kpi.Request{{DB: "no-such;db", AsOf: time.Now()}, {DB: "referralops"}} {
		if _, err := r.Worklist(context.Background(), nil, 10); err == nil {
			t.Errorf("%+v: no error", r)
		}
	}
}

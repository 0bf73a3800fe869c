package schema_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// referenceFacts computes KPIS.md's per-referral facts as of asOf straight from
// the event rows, independently of the SQL. Tie rules (documented with the
// schema): the earliest referral.created by (time, event id); the latest
// destination by (time, redirect over created, event id); an appointment's
// latest event by (time, status rank, event id).
func referenceFacts(rows []row, asOf time.Time) []schema.ReferralFact {
	seen := map[string]bool{}
	byRef := map[string][]row{}
	for _, r := range rows {
		if seen[r.EventID] || r.EventTime.After(asOf) {
			continue
		}
		seen[r.EventID] = true
		byRef[r.ReferralID] = append(byRef[r.ReferralID], r)
	}
	var out []schema.ReferralFact
	for id, evs := range byRef {
		f := schema.ReferralFact{ReferralID: id}
		earliest := func(typ ...string) (time.Time, bool) {
			var best time.Time
			for _, e := range evs {
				if slices.Contains(typ, e.EventType) && (best.IsZero() || e.EventTime.Before(best)) {
					best = e.EventTime
				}
			}
			return best, !best.IsZero()
		}
		var first *row
		for i, e := range evs {
			if e.EventType == "referral.created" && (first == nil ||
				cmp.Or(e.EventTime.Compare(first.EventTime), cmp.Compare(e.EventID, first.EventID)) < 0) {
				first = &evs[i]
			}
		}
		if first != nil {
			f.CreatedAt = first.EventTime
			f.ServiceLine, f.LocationID, f.ReferrerID, f.ReferrerOrgID = first.ServiceLine, first.LocationID, first.ReferrerID, first.ReferrerOrgID
			f.ReferrerType, f.ReferrerNetwork, f.PayerClass, f.Priority, f.Channel = first.ReferrerType, first.ReferrerNetwork, first.PayerClass, first.Priority, first.Channel
		}
		var dest *row
		kind := func(r *row) int {
			if r.EventType == "referral.redirected" {
				return 1
			}
			return 0
		}
		for i, e := range evs {
			if e.EventType != "referral.created" && e.EventType != "referral.redirected" {
				continue
			}
			if dest == nil || cmp.Or(e.EventTime.Compare(dest.EventTime), cmp.Compare(kind(&evs[i]), kind(dest)), cmp.Compare(e.EventID, dest.EventID)) > 0 {
				dest = &evs[i]
			}
		}
		if dest != nil {
			f.DestinationNetwork = dest.DestinationNetwork
		}
		_, leakedEvent := earliest("referral.leaked")
		f.Leaked = f.DestinationNetwork == "out" || leakedEvent
		f.FirstBookedAt, _ = earliest("appointment.booked")
		f.FirstCompletedAt, _ = earliest("appointment.completed")
		_, f.Closed = earliest("referral.cancelled", "referral.rejected")
		f.InfoRequestedAt, _ = earliest("referral.info_requested")
		if !f.FirstCompletedAt.IsZero() {
			for _, e := range evs {
				if e.EventType == "communication.consult_note_sent" && !e.EventTime.Before(f.FirstCompletedAt) &&
					(f.LoopClosedAt.IsZero() || e.EventTime.Before(f.LoopClosedAt)) {
					f.LoopClosedAt = e.EventTime
				}
			}
		}
		rank := map[string]int{"appointment.booked": 1, "appointment.rescheduled": 2, "appointment.cancelled": 3,
			"appointment.no_show": 4, "appointment.completed": 5}
		later := func(a, b *row) bool {
			return cmp.Or(a.EventTime.Compare(b.EventTime), cmp.Compare(rank[a.EventType], rank[b.EventType]), cmp.Compare(a.EventID, b.EventID)) > 0
		}
		status, slot := map[string]*row{}, map[string]*row{}
		for i, e := range evs {
			if rank[e.EventType] == 0 || e.AppointmentID == "" {
				continue
			}
			if s := status[e.AppointmentID]; s == nil || later(&evs[i], s) {
				status[e.AppointmentID] = &evs[i]
			}
			if rank[e.EventType] <= 2 {
				if s := slot[e.AppointmentID]; s == nil || later(&evs[i], s) {
					slot[e.AppointmentID] = &evs[i]
				}
			}
		}
		for a, s := range status {
			if s.EventType == "appointment.cancelled" || slot[a] == nil {
				continue
			}
			if at := slot[a].ScheduledFor; f.AccessAt.IsZero() || at.Before(f.AccessAt) {
				f.AccessAt = at
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b schema.ReferralFact) int { return cmp.Compare(a.ReferralID, b.ReferralID) })
	return out
}

// randomEvents is a seeded event set made to hit the edge cases: times on a
// coarse grid (many same-second ties), several referral.created per referral,
// events before their referral.created, redirects both ways, appointment
// histories in any order, and a fifth of the events delivered twice, out of
// order.
func randomEvents(seed uint64, referrals int) []row {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := ts("2026-01-01 00:00:00")
	at := func() time.Time { return base.Add(time.Duration(rng.IntN(45)) * 48 * time.Hour) } // 90 days, 45 instants
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var rows []row
	n := 0
	add := func(ref, typ string, set ...func(*row)) {
		n++
		r := ev(fmt.Sprintf("ev-%05d", n), typ, "2026-01-01 00:00:00", ref, set...)
		r.EventTime = at()
		r.Offset = int64(n)
		rows = append(rows, r)
	}
	for i := range referrals {
		ref := fmt.Sprintf("R-%04d", i)
		for range rng.IntN(3) { // 0, 1 or 2 referral.created
			add(ref, "referral.created", created(dims{
				pick("cardiology", "orthopedics", "imaging"), pick("LOC-A", "LOC-B"), fmt.Sprintf("NPI-%d", rng.IntN(20)), "ORG-1",
				pick("primary_care", "specialist", "self"), pick("in", "out"), pick("in", "out"),
				pick("commercial", "medicare", "unknown"), pick("routine", "urgent"), pick("fax", "portal"),
			}))
		}
		for range rng.IntN(3) {
			add(ref, "referral.redirected", dest(pick("in", "out"), "ORG-X"))
		}
		for _, typ := range []string{"referral.leaked", "referral.cancelled", "referral.rejected", "referral.info_requested",
			"referral.accepted", "referral.auth_approved", "referral.auth_denied", "communication.patient_outreach"} {
			if rng.IntN(6) == 0 {
				add(ref, typ)
			}
		}
		for a := range rng.IntN(4) {
			id := fmt.Sprintf("%s-A%d", ref, a)
			for range 1 + rng.IntN(4) {
				typ := pick("appointment.booked", "appointment.booked", "appointment.rescheduled",
					"appointment.cancelled", "appointment.no_show", "appointment.completed", "appointment.completed")
				add(ref, typ, func(r *row) {
					r.AppointmentID, r.Topic = id, "scheduling-events"
					if typ == "appointment.booked" || typ == "appointment.rescheduled" {
						r.ScheduledFor = base.Add(time.Duration(rng.IntN(90)) * 24 * time.Hour)
					}
				})
			}
		}
		for range rng.IntN(3) {
			add(ref, "communication.consult_note_sent")
		}
	}
	for _, r := range rows {
		if rng.IntN(5) == 0 {
			r.Offset += 1_000_000
			rows = append(rows, r)
		}
	}
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

func randomAsOfTimes() []time.Time {
	return []time.Time{
		ts("2026-01-10 12:00:00"), ts("2026-01-20 00:00:00"), // on the grid: ties with T itself
		ts("2026-02-01 07:30:00"), ts("2026-03-15 00:00:00"),
	}
}

// TestFactsMatchReference: on each engine, the SQL facts of a random event set
// equal the Go reference at several T.
func TestFactsMatchReference(t *testing.T) {
	rows := randomEvents(42, 300)
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		for chunk := range slices.Chunk(rows, 500) { // several inserts: several parts
			e.Insert(t, db, chunk)
		}
		for _, at := range randomAsOfTimes() {
			got, want := facts(t, e, db, at), referenceFacts(rows, at)
			if len(want) < 100 {
				t.Fatalf("only %d referrals as of %s: the data set is too thin", len(want), at)
			}
			if d := diffFacts(got, want); d != "" {
				t.Errorf("%s (%s) as of %s: SQL vs reference:%s", e.Name, e.Dialect.Version, at.Format(time.DateTime), d)
			}
		}
	})
}

// TestEnginesAgree: the 18.16 server and chDB (26.7) give identical facts for
// the same events.
func TestEnginesAgree(t *testing.T) {
	rows := randomEvents(7, 200)
	rows = append(rows, fixture...)
	server, embedded := testenv.Server(t), testenv.ChDB(t)
	if server.Dialect.Version == embedded.Dialect.Version {
		t.Logf("both engines run ClickHouse %s", server.Dialect.Version)
	}
	dbS, dbC := server.Migrated(t), embedded.Migrated(t)
	server.Insert(t, dbS, rows)
	embedded.Insert(t, dbC, rows)
	for _, at := range append(randomAsOfTimes(), asOfTimes()...) {
		a, b := facts(t, server, dbS, at), facts(t, embedded, dbC, at)
		if d := diffFacts(a, b); d != "" {
			t.Errorf("as of %s, %s (got) vs %s (want):%s", at.Format(time.DateTime), server.Dialect.Version, embedded.Dialect.Version, d)
		}
	}
}

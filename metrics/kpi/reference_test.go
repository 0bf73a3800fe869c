package kpi_test

import (
	"cmp"
	"slices"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// This file is an independent reference implementation of KPIS.md, written
// straight from its text over decoded events in memory. It shares nothing with
// the KPI SQL (nor with package schema's reference) and produces the JSON
// contract of `referralops kpi --format json` as plain maps, so the tests compare
// the two field for field.
//
// Readings of KPIS.md it shares with the SQL, because the text leaves them open:
//   - times are whole seconds (ClickHouse DateTime): an event time is floored;
//   - "earliest referral.created": ties by event id (the smaller wins);
//   - final destination: the latest created/redirected by time; at one second a
//     redirect beats the creation, then the greater event id wins;
//   - an appointment is (referral, appointment_id); its latest event ties by
//     completed > no_show > cancelled > rescheduled > booked, then the greater
//     event id; its slot is that of its latest booked/rescheduled in the same
//     order; an appointment with no booked/rescheduled has no slot;
//   - loop_closed_at counts notes at or before T (as everything);
//   - a referrer's type is that of its latest referral created in (T−365d, T]
//     (ties: the greater referral id); referrers with no referral there have no
//     state (nor attention level); its organization likewise;
//   - a referrer's main service line is the one with most of its referrals in
//     (T−365d, T] (ties: the first by name).

const (
	daySeconds      = 86400
	loopSeconds     = 14 * daySeconds
	lookbackSeconds = 365 * daySeconds
	recentSeconds   = 90 * daySeconds
)

// refEvent is an event reduced to whole seconds.
type refEvent struct {
	id, typ, referral string
	at                int64
	d                 event.Data
	slot              int64
}

// refReferral is one referral's facts as of T.
type refReferral struct {
	id                                               string
	hasCreated                                       bool
	created                                          int64
	line, referrer, referrerType, referrerNetwork    string
	referrerOrg                                      string
	leaked, booked, completed, closed, infoRequested bool
	firstBooked, firstCompleted                      int64
	hasAccess                                        bool
	access                                           int64
	hasLoopClosed                                    bool
	loopClosed                                       int64
	appointments                                     []refAppointment
	authDecisions                                    []refEvent
	// KPIS.md "Stage, priority and payer KPIs"
	priority, payerClass, firstDestination string
	hasClockEnd                            bool
	clockEnd                               int64 // earliest accepted, rejected or cancelled
	hasAuthTurnaround                      bool
	authTurnaround                         int64
	hasDecided                             bool
	decided                                int64 // earliest accepted or rejected
	hasInfoTurnaround                      bool
	infoTurnaround                         int64
	leakReason                             string // "" when not leaked
	// the earliest auth_requested and info_requested (0 when none): with the
	// turnarounds, the stage times of the analyst view v_referrals
	authRequestedAt, infoRequestedAt int64
	// KPIS.md "CMS50-style closed loop"
	patientToken  string  // of the earliest referral.created
	referrerNotes []int64 // consult notes to the referrer (or to no one named)
}

type refAppointment struct {
	status  string // latest event type
	hasSlot bool
	slot    int64
}

var statusRank = map[string]int{
	"appointment.booked": 1, "appointment.rescheduled": 2, "appointment.cancelled": 3,
	"appointment.no_show": 4, "appointment.completed": 5,
}

// referenceFacts derives every referral's facts as of T (Unix seconds) from
// the events, each event id counted once and events after T ignored.
func referenceFacts(events []event.Event, T int64) map[string]*refReferral {
	seen := map[string]bool{}
	byReferral := map[string][]refEvent{}
	for _, e := range events {
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		at := e.Time.Unix()
		if at > T {
			continue
		}
		re := refEvent{id: e.ID, typ: string(e.Type), referral: e.Subject, at: at, d: e.Data}
		if !e.Data.ScheduledFor.IsZero() {
			re.slot = e.Data.ScheduledFor.Unix()
		}
		byReferral[e.Subject] = append(byReferral[e.Subject], re)
	}
	out := map[string]*refReferral{}
	for id, evs := range byReferral {
		r := &refReferral{id: id}
		var first, dest *refEvent
		appts := map[string][]refEvent{}
		var notes []int64
		leakedEvent := false
		var authRequested, infoRequested, firstLeak *refEvent
		var infoReceived []int64
		for i := range evs {
			e := &evs[i]
			switch e.typ {
			case "referral.created":
				if first == nil || e.at < first.at || e.at == first.at && e.id < first.id {
					first = e
				}
			case "referral.leaked":
				leakedEvent = true
				if firstLeak == nil || e.at < firstLeak.at || e.at == firstLeak.at && e.id < firstLeak.id {
					firstLeak = e
				}
			case "referral.info_received":
				infoReceived = append(infoReceived, e.at)
			case "referral.cancelled", "referral.rejected":
				r.closed = true
			case "referral.auth_requested":
				if authRequested == nil || e.at < authRequested.at {
					authRequested = e
				}
			case "referral.info_requested":
				r.infoRequested = true
				if infoRequested == nil || e.at < infoRequested.at {
					infoRequested = e
				}
			case "referral.auth_approved", "referral.auth_denied":
				r.authDecisions = append(r.authDecisions, *e)
			case "communication.consult_note_sent":
				notes = append(notes, e.at)
				if e.d.Recipient == "referrer" || e.d.Recipient == "" {
					r.referrerNotes = append(r.referrerNotes, e.at)
				}
			}
			if (e.typ == "referral.accepted" || e.typ == "referral.rejected") && (!r.hasDecided || e.at < r.decided) {
				r.hasDecided, r.decided = true, e.at
			}
			if e.typ == "referral.accepted" || e.typ == "referral.rejected" || e.typ == "referral.cancelled" {
				if !r.hasClockEnd || e.at < r.clockEnd {
					r.hasClockEnd, r.clockEnd = true, e.at
				}
			}
			if e.typ == "referral.created" || e.typ == "referral.redirected" {
				if dest == nil || laterDestination(e, dest) {
					dest = e
				}
			}
			if e.typ == "appointment.booked" && (!r.booked || e.at < r.firstBooked) {
				r.booked, r.firstBooked = true, e.at
			}
			if e.typ == "appointment.completed" && (!r.completed || e.at < r.firstCompleted) {
				r.completed, r.firstCompleted = true, e.at
			}
			if _, ok := statusRank[e.typ]; ok {
				appts[e.d.AppointmentID] = append(appts[e.d.AppointmentID], *e)
			}
		}
		if first != nil {
			r.hasCreated, r.created = true, first.at
			r.line, r.referrer = first.d.ServiceLine, first.d.ReferrerID
			r.referrerType, r.referrerNetwork = first.d.ReferrerType, first.d.ReferrerNetwork
			r.referrerOrg = first.d.ReferrerOrgID
			r.priority, r.payerClass, r.firstDestination = first.d.Priority, first.d.PayerClass, first.d.DestinationNetwork
			r.patientToken = first.d.PatientToken
		}
		if authRequested != nil {
			r.authRequestedAt = authRequested.at
			for _, d := range r.authDecisions {
				if d.at >= authRequested.at && (!r.hasAuthTurnaround || d.at-authRequested.at < r.authTurnaround) {
					r.hasAuthTurnaround, r.authTurnaround = true, d.at-authRequested.at
				}
			}
		}
		r.leaked = leakedEvent || dest != nil && dest.d.DestinationNetwork == "out"
		switch {
		case firstLeak != nil && firstLeak.d.Reason == "":
			r.leakReason = "other"
		case firstLeak != nil:
			r.leakReason = firstLeak.d.Reason
		case r.leaked:
			r.leakReason = "destination_out"
		}
		if infoRequested != nil {
			r.infoRequestedAt = infoRequested.at
			for _, at := range infoReceived {
				if at >= infoRequested.at && (!r.hasInfoTurnaround || at-infoRequested.at < r.infoTurnaround) {
					r.hasInfoTurnaround, r.infoTurnaround = true, at-infoRequested.at
				}
			}
		}
		for _, aevs := range appts {
			var a refAppointment
			var last, lastSlot *refEvent
			for i := range aevs {
				e := &aevs[i]
				if last == nil || laterAppointmentEvent(e, last) {
					last = e
				}
				if (e.typ == "appointment.booked" || e.typ == "appointment.rescheduled") &&
					(lastSlot == nil || laterAppointmentEvent(e, lastSlot)) {
					lastSlot = e
				}
			}
			a.status = last.typ
			if lastSlot != nil {
				a.hasSlot, a.slot = true, lastSlot.slot
			}
			r.appointments = append(r.appointments, a)
			if a.hasSlot && a.status != "appointment.cancelled" && (!r.hasAccess || a.slot < r.access) {
				r.hasAccess, r.access = true, a.slot
			}
		}
		if r.completed {
			for _, n := range notes {
				if n >= r.firstCompleted && (!r.hasLoopClosed || n < r.loopClosed) {
					r.hasLoopClosed, r.loopClosed = true, n
				}
			}
		}
		out[id] = r
	}
	return out
}

func laterDestination(a, b *refEvent) bool {
	kind := func(e *refEvent) int {
		if e.typ == "referral.redirected" {
			return 1
		}
		return 0
	}
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(kind(a), kind(b)), cmp.Compare(a.id, b.id)) > 0
}

func laterAppointmentEvent(a, b *refEvent) bool {
	return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(statusRank[a.typ], statusRank[b.typ]), cmp.Compare(a.id, b.id)) > 0
}

// refGroup accumulates one group's fields.
type refGroup struct {
	referrals, scheduled, completed, leaked, internal, internalLeaked, incomplete int64
	tts, tta                                                                      []int64
	loopCohort, loopClosed, keptOrMissed, noShows, authDecisions, authDenied      int64
	backlog                                                                       [5]int64
	authTurnaround                                                                []int64
	slaCohort, slaBreaches                                                        int64
	leakedByPayer                                                                 map[string]int64
	triage, info                                                                  []int64
	leakedByReason                                                                map[string]int64
	cms50Patients, cms50Closed, cms50NoToken                                      int64
}

func newRefGroup() *refGroup {
	g := &refGroup{leakedByPayer: map[string]int64{}, leakedByReason: map[string]int64{}}
	for _, r := range []string{"patient_choice", "access", "payer", "other", "destination_out"} {
		g.leakedByReason[r] = 0
	}
	for _, c := range []string{"commercial", "medicare", "medicare_advantage", "medicaid", "self_pay", "other", "unknown"} {
		g.leakedByPayer[c] = 0
	}
	return g
}

// nearestRank is the value at 1-based position ceil(p·n) of the sorted values,
// p = percent/100; the position is the least k with 100·k >= percent·n.
func nearestRank(values []int64, percent int) any {
	if len(values) == 0 {
		return nil
	}
	s := slices.Clone(values)
	slices.Sort(s)
	k := 1
	for 100*k < percent*len(s) {
		k++
	}
	return s[k-1]
}

func (g *refGroup) json() map[string]any {
	return map[string]any{
		"referrals": g.referrals, "scheduled": g.scheduled, "completed": g.completed, "leaked": g.leaked,
		"internal_referrals": g.internal, "internal_leaked": g.internalLeaked, "incomplete": g.incomplete,
		"time_to_schedule_p50_seconds":    nearestRank(g.tts, 50),
		"time_to_schedule_p90_seconds":    nearestRank(g.tts, 90),
		"time_to_appointment_p50_seconds": nearestRank(g.tta, 50),
		"time_to_appointment_p90_seconds": nearestRank(g.tta, 90),
		"loop_cohort":                     g.loopCohort, "loop_closed_14d": g.loopClosed,
		"appointments_kept_or_missed": g.keptOrMissed, "no_shows": g.noShows,
		"auth_decisions": g.authDecisions, "auth_denied": g.authDenied,
		"backlog": map[string]any{
			"0-2d": g.backlog[0], "3-7d": g.backlog[1], "8-14d": g.backlog[2], "15-30d": g.backlog[3], "31d+": g.backlog[4],
		},
		"auth_turnaround_p50_seconds": nearestRank(g.authTurnaround, 50),
		"auth_turnaround_p90_seconds": nearestRank(g.authTurnaround, 90),
		"triage_sla_cohort":           g.slaCohort, "triage_sla_breaches": g.slaBreaches,
		"leaked_by_payer_class":       g.leakedByPayer,
		"time_to_triage_p50_seconds":  nearestRank(g.triage, 50),
		"time_to_triage_p90_seconds":  nearestRank(g.triage, 90),
		"info_turnaround_p50_seconds": nearestRank(g.info, 50),
		"info_turnaround_p90_seconds": nearestRank(g.info, 90),
		"leaked_by_reason":            g.leakedByReason,
		"cms50_patients":              g.cms50Patients, "cms50_closed": g.cms50Closed,
		"cms50_no_patient_token": g.cms50NoToken,
	}
}

// referenceKPIs is the JSON object of one window as of asOf, with KPIS.md's
// default calendar.
func referenceKPIs(events []event.Event, asOf time.Time, window time.Duration, windowName string) map[string]any {
	return referenceKPIsCalendar(events, asOf, window, windowName, defaultRefCalendar())
}

// referenceKPIsCalendar is referenceKPIs with the calendar cal.
func referenceKPIsCalendar(events []event.Event, asOf time.Time, window time.Duration, windowName string, cal refCalendar) map[string]any {
	T := asOf.Unix()
	W := int64(window / time.Second)
	facts := referenceFacts(events, T)
	totals := newRefGroup()
	lines := map[string]*refGroup{}
	priorities := map[string]*refGroup{"routine": newRefGroup(), "urgent": newRefGroup(), "stat": newRefGroup()}
	groupsOf := func(r *refReferral) []*refGroup {
		g := lines[r.line]
		if g == nil {
			g = newRefGroup()
			lines[r.line] = g
		}
		return []*refGroup{totals, g, priorities[r.priority]}
	}
	in := func(t, from, to int64) bool { return t > from && t <= to }

	type referrerCounts struct{ n, c, older int64 }
	referrers := map[string]*referrerCounts{}

	for _, r := range facts {
		if !r.hasCreated { // in no KPI until its referral.created arrives
			continue
		}
		gs := groupsOf(r) // every service line with a referral created <= T is listed
		if in(r.created, T-W, T) {
			for _, g := range gs {
				g.referrals++
				if r.booked {
					g.scheduled++
					g.tts = append(g.tts, r.firstBooked-r.created)
				}
				if r.completed {
					g.completed++
				}
				if r.leaked {
					g.leaked++
				}
				if r.referrerNetwork == "in" {
					g.internal++
					if r.leaked {
						g.internalLeaked++
					}
				}
				if r.infoRequested {
					g.incomplete++
				}
				if r.hasAccess {
					g.tta = append(g.tta, r.access-r.created)
				}
				if r.leaked {
					g.leakedByPayer[r.payerClass]++
					g.leakedByReason[r.leakReason]++
				}
				if r.hasDecided {
					g.triage = append(g.triage, r.decided-r.created)
				}
				if r.hasInfoTurnaround {
					g.info = append(g.info, r.infoTurnaround)
				}
				if r.hasAuthTurnaround {
					g.authTurnaround = append(g.authTurnaround, r.authTurnaround)
				}
				if r.firstDestination == "in" {
					g.slaCohort++
					end := T
					if r.hasClockEnd {
						end = r.clockEnd
					}
					if cal.businessDays(r.created, end) > cal.triage[r.priority] {
						g.slaBreaches++
					}
				}
			}
		}
		if r.completed && in(r.firstCompleted, T-W-loopSeconds, T-loopSeconds) {
			for _, g := range gs {
				g.loopCohort++
				if r.hasLoopClosed && r.loopClosed-r.firstCompleted <= loopSeconds {
					g.loopClosed++
				}
			}
		}
		for _, a := range r.appointments {
			if a.hasSlot && in(a.slot, T-W, T) && (a.status == "appointment.completed" || a.status == "appointment.no_show") {
				for _, g := range gs {
					g.keptOrMissed++
					if a.status == "appointment.no_show" {
						g.noShows++
					}
				}
			}
		}
		for _, d := range r.authDecisions {
			if in(d.at, T-W, T) {
				for _, g := range gs {
					g.authDecisions++
					if d.typ == "referral.auth_denied" {
						g.authDenied++
					}
				}
			}
		}
		if in(r.created, T-lookbackSeconds, T) && !r.closed && !r.leaked && !r.booked {
			age := (T - r.created) / daySeconds
			bucket := 4
			switch {
			case age <= 2:
				bucket = 0
			case age <= 7:
				bucket = 1
			case age <= 14:
				bucket = 2
			case age <= 30:
				bucket = 3
			}
			for _, g := range gs {
				g.backlog[bucket]++
			}
		}
		rc := referrers[r.referrer]
		if rc == nil {
			rc = &referrerCounts{}
			referrers[r.referrer] = rc
		}
		switch {
		case in(r.created, T-recentSeconds, T):
			rc.n++
		case in(r.created, T-lookbackSeconds, T-recentSeconds):
			rc.c++
		}
		if r.created <= T-recentSeconds {
			rc.older++
		}
	}

	states := map[string]int64{"new": 0, "active": 0, "fading": 0, "inactive": 0}
	for _, rc := range referrers {
		// base = c·90/275; n >= 0.5·base  <=>  550·n >= 90·c
		switch {
		case rc.n > 0 && rc.older == 0:
			states["new"]++
		case rc.n > 0 && 550*rc.n >= 90*rc.c:
			states["active"]++
		case rc.n > 0:
			states["fading"]++
		case rc.c > 0:
			states["inactive"]++
		}
	}
	// CMS50-style: each patient's earliest referral created in (T−W, T],
	// ties by referral id; closed by a note to the referrer in (created, T].
	earliest := map[string]*refReferral{}
	for _, r := range facts {
		if !r.hasCreated || !in(r.created, T-W, T) {
			continue
		}
		if r.patientToken == "" {
			for _, g := range groupsOf(r) {
				g.cms50NoToken++
			}
			continue
		}
		e := earliest[r.patientToken]
		if e == nil || r.created < e.created || r.created == e.created && r.id < e.id {
			earliest[r.patientToken] = r
		}
	}
	for _, r := range earliest {
		closed := slices.ContainsFunc(r.referrerNotes, func(at int64) bool { return at > r.created && at <= T })
		for _, g := range groupsOf(r) {
			g.cms50Patients++
			if closed {
				g.cms50Closed++
			}
		}
	}
	byLine := map[string]any{}
	for line, g := range lines {
		byLine[line] = g.json()
	}
	byPriority := map[string]any{}
	for p, g := range priorities {
		byPriority[p] = g.json()
	}
	return map[string]any{
		"as_of":           asOf.UTC().Format(time.RFC3339),
		"window":          windowName,
		"totals":          totals.json(),
		"by_service_line": byLine,
		"by_priority":     byPriority,
		"sla_calendar":    cal.json,
		"referrers": map[string]any{
			"new": states["new"], "active": states["active"], "fading": states["fading"], "inactive": states["inactive"],
		},
		"referrer_attention": referenceAttentionJSON(referenceAttention(facts, T)),
	}
}

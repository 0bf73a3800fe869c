package generator

import (
	"math/rand/v2"
)

// kind is a compact event type; kinds[k] is its contract type.
type kind uint8

const (
	kCreated kind = iota
	kAccepted
	kRejected
	kInfoRequested
	kInfoReceived
	kAuthRequested
	kAuthApproved
	kAuthDenied
	kRedirected
	kLeaked
	kReferralCancelled
	kBooked
	kRescheduled
	kApptCancelled
	kNoShow
	kCompleted
	kConsultNote
	kReferrerUpdate
	kOutreach
	numKinds
)

// simEvent is one event of a referral as the simulation makes it.
type simEvent struct {
	t     int64 // unix seconds
	sched int64 // scheduled_for (booked, rescheduled)
	kind  kind
	appt  uint8 // appointment number, 1-based
	a, b  uint8 // kind-specific enum indexes (reason, network, channel, ...)
	loc   uint16
}

// storedEvent is a simEvent waiting for delivery, packed into 16 bytes: a
// referral in flight costs about 100 bytes plus 16 per pending event.
type storedEvent struct {
	t     uint32 // seconds after the period's start
	sched int32  // scheduled_for − t
	kind  kind
	appt  uint8
	a, b  uint8
	loc   uint8
}

// referral is one simulated referral and its pending events.
type referral struct {
	events  []storedEvent
	ref     *referrer
	name    string // its id (IDFormat), set when its first event is encoded
	key     []byte
	created int64
	seq     int32 // 0-based creation order
	pos     int32 // next event to deliver
	patient int32
	line    uint8
	loc     uint8
	payer   uint8
	prio    uint8
	channel uint8
	omitPay bool
	omitPri bool
}

// add records e unless it falls at or after the cutoff: the simulation stops
// at the end of the last day.
func (s *simulator) add(e simEvent) {
	if e.t < s.cutoff {
		s.buf = append(s.buf, e)
	}
}

// simulator holds what every referral shares.
type simulator struct {
	pop    *population
	r      *rand.Rand
	pcg    *rand.PCG
	seedK  uint64
	base   int64 // the period's start: stored times are offsets from it
	cutoff int64 // end of End's day: no event at or after it
	buf    []simEvent
	d      dims // of the referral being simulated
}

// dims are a referral's dimensions while it is simulated.
type dims struct {
	line, loc, payer, prio, channel, patient int
	omitPay, omitPri                         bool
	noteTo                                   *[len(recipients)]float64 // by the referrer's type
}

func newSimulator(cfg Config, pop *population, base, cutoff int64) *simulator {
	pcg := rand.NewPCG(0, 0)
	return &simulator{
		pop: pop, r: rand.New(pcg), pcg: pcg,
		seedK:  seedKey(cfg.Seed, streamReferral),
		base:   base,
		cutoff: cutoff,
		buf:    make([]simEvent, 0, 64),
	}
}

// simulate fills rf (whose seq and created are set) with its dimensions and its
// whole life, dropping events at or after the cutoff, sorted by time. Each
// referral has its own random stream, so one referral's story depends only on
// the seed, its number and its creation time.
func (s *simulator) simulate(rf *referral) {
	s.pcg.Seed(s.seedK, mix64(uint64(rf.seq)))
	r, p := s.r, s.pop
	s.buf = s.buf[:0]
	rf.pos = 0

	ref := p.drawReferrer(r, rf.created)
	rf.ref = ref
	self := ref.typ < 0
	rt := &referrerTypes[0] // a placeholder: self-referrals have their own numbers
	s.d.noteTo = &noteToNonClinician
	if !self {
		rt = &referrerTypes[ref.typ]
		s.d.noteTo = rt.noteTo
	}
	s.d.line = p.pickLine.draw(r)
	if !self && r.Float64() < primaryLineP {
		s.d.line = ref.line
	}
	s.d.loc = p.pickLoc.draw(r)
	if !self && r.Float64() < homeLocShare {
		s.d.loc = ref.homeLoc
	}
	s.d.payer = p.pickPayer.draw(r)
	s.d.omitPay = r.Float64() < omitPayerP
	if s.d.omitPay {
		s.d.payer = len(payers) - 1 // the decoder's default, unknown
	}
	pw := priorityWeight
	if !self {
		pw[1] *= rt.urgentMultiplier
		pw[2] *= rt.urgentMultiplier
	}
	s.d.prio = pick(r, pw[:])
	s.d.omitPri = s.d.prio == prRoutine && r.Float64() < omitPriorityP
	s.d.channel = ref.channel
	if r.Float64() < 0.15 {
		if self {
			s.d.channel = chPortal + r.IntN(2)
		} else {
			s.d.channel = pick(r, rt.channels[:])
		}
	}
	s.d.patient = r.IntN(p.patients)

	line := &serviceLines[s.d.line]
	leak := leakNone
	if r.Float64() < leakProbability(rt, self, ref.inNetwork, line) {
		switch u := r.Float64(); {
		case u < leakAtCreateP:
			leak = leakAtCreate
		case u < leakAtCreateP+leakRedirectP:
			leak = leakRedirect
		default:
			leak = leakClaims
		}
	}
	leaked := leak != leakNone
	createdOutIn := !leaked && r.Float64() < createdOutInP

	c := rf.created
	const netIn, netOut = 0, 1
	dest := uint8(netIn)
	if leak == leakAtCreate || createdOutIn {
		dest = netOut
	}
	s.add(simEvent{t: c, kind: kCreated, a: dest})

	if leak == leakAtCreate {
		// Sent straight out of network; sometimes claims confirm it later.
		if r.Float64() < referrerUpdateOtherP/2 {
			s.add(simEvent{t: bizTime(r, c+durDays(r, 0.5, 1)), kind: kReferrerUpdate})
		}
		if r.Float64() < 0.2 {
			s.add(simEvent{t: c + durDays(r, claimsLagMedianD, 0.5), kind: kLeaked, a: uint8(pick(r, leakReasonAtCreate[:]))})
		}
		s.finish(rf)
		return
	}

	// Triage review, some business days after arrival.
	t := afterBusinessDays(r, c, pick(r, triageBusinessDays[s.d.prio]))
	if createdOutIn {
		s.add(simEvent{t: t, kind: kRedirected, a: netIn, b: uint8(r.IntN(numNetworkOrgs))})
	}

	// Intake: incomplete referrals wait for information, or die of it.
	if r.Float64() < min(maxInfoCap, line.infoShare*channelIncomplete[s.d.channel]) {
		s.add(simEvent{t: t, kind: kInfoRequested, a: uint8(r.IntN(len(missingLists)))})
		if r.Float64() >= infoReceivedP {
			end := t + between(r, 14*day, 35*day)
			if r.IntN(2) == 0 {
				s.add(simEvent{t: bizTime(r, end), kind: kRejected, a: rejectIncomplete})
			} else {
				s.add(simEvent{t: bizTime(r, end), kind: kReferralCancelled, a: cancelNoResponse})
			}
			s.maybeUpdate(end, referrerUpdateOtherP)
			s.finish(rf)
			return
		}
		t = afterBusinessDays(r, t, int(logNormal(r, infoReturnMedianBD, infoReturnSigma)))
		s.add(simEvent{t: t, kind: kInfoReceived})
		t = afterBusinessDays(r, t, pick(r, infoReviewBD))
	}
	if r.Float64() < rejectP {
		s.add(simEvent{t: t, kind: kRejected, a: uint8(pick(r, rejectReasonWeight[:]))})
		s.maybeUpdate(t, referrerUpdateOtherP)
		s.finish(rf)
		return
	}
	if r.Float64() < acceptedEventP {
		s.add(simEvent{t: t, kind: kAccepted})
	}

	if leak == leakRedirect {
		t = bizTime(r, t+durDays(r, 2, 0.8))
		s.add(simEvent{t: t, kind: kRedirected, a: netOut, b: uint8(r.IntN(numExternalOrgs))})
		s.maybeUpdate(t, referrerUpdateOtherP)
		if r.Float64() < 0.25 {
			s.add(simEvent{t: t + durDays(r, claimsLagMedianD, 0.5), kind: kLeaked, a: uint8(pick(r, leakReasonRedirect[:]))})
		}
		s.finish(rf)
		return
	}
	if !leaked && !createdOutIn && r.Float64() < outAndBackP {
		// Routed out, then pulled back in when a slot opened.
		t = bizTime(r, t+durDays(r, 1, 0.8))
		s.add(simEvent{t: t, kind: kRedirected, a: netOut, b: uint8(r.IntN(numExternalOrgs))})
		t = bizTime(r, t+durDays(r, 2, 0.8))
		s.add(simEvent{t: t, kind: kRedirected, a: netIn, b: uint8(r.IntN(numNetworkOrgs))})
	}

	// Prior authorization, decided in business days; a denial may be
	// appealed once, and most appeals are overturned.
	if needP := line.authShare * payerAuth[s.d.payer]; r.Float64() < needP {
		t = afterBusinessDays(r, t, pick(r, authSubmitBD))
		decideBD := authStandardBD
		if s.d.prio != prRoutine {
			decideBD = authExpeditedBD
		}
		for attempt := 0; ; attempt++ {
			s.add(simEvent{t: t, kind: kAuthRequested})
			t = afterBusinessDays(r, t, pick(r, decideBD))
			deny := payerDenial[s.d.payer]
			if attempt > 0 {
				deny = 1 - appealOverturnP
			}
			if r.Float64() >= deny {
				s.add(simEvent{t: t, kind: kAuthApproved})
				break
			}
			s.add(simEvent{t: t, kind: kAuthDenied, a: uint8(r.IntN(len(authDenyReasons)))})
			if attempt > 0 || r.Float64() >= appealP {
				t = bizTime(r, t+durDays(r, 2, 0.8))
				s.add(simEvent{t: t, kind: kReferralCancelled, a: cancelAuthDenied})
				s.maybeUpdate(t, referrerUpdateOtherP)
				s.finish(rf)
				return
			}
			t = afterBusinessDays(r, t, pick(r, authAppealBD))
		}
	}

	if leak == leakClaims { // the patient went elsewhere after all
		reason := uint8(pick(r, leakReasonClaims[:]))
		if r.Float64() < claimsLeakBookP {
			tb := s.outreachThenBook(t)
			sched := s.scheduleFor(rf, tb)
			s.add(simEvent{t: tb, kind: kBooked, appt: 1, sched: sched, loc: uint16(s.d.loc), a: uint8(pick(r, visitTypeWeight[:]))})
			tc := between(r, tb+hour, sched)
			s.add(simEvent{t: tc, kind: kApptCancelled, appt: 1, a: 0}) // by the patient
			t = tc
		} else {
			s.outreach(t, 1+r.IntN(3), false)
		}
		if r.Float64() < 0.3 {
			s.add(simEvent{t: bizTime(r, t+durDays(r, 3, 0.8)), kind: kReferralCancelled, a: cancelPatientDeclined})
		}
		s.add(simEvent{t: t + durDays(r, claimsLagMedianD, 0.5), kind: kLeaked, a: reason})
		s.finish(rf)
		return
	}

	if r.Float64() < preBookCancelP {
		t = t + durDays(r, 3, 1)
		s.add(simEvent{t: t, kind: kReferralCancelled, a: cancelPatientDeclined})
		s.maybeUpdate(t, referrerUpdateOtherP)
		s.finish(rf)
		return
	}
	if r.Float64() < unreachableP {
		s.outreach(t, 2+r.IntN(3), false)
		if r.Float64() < 0.6 {
			s.add(simEvent{t: bizTime(r, t+between(r, 21*day, 45*day)), kind: kReferralCancelled, a: cancelUnableToReach})
		}
		s.finish(rf)
		return
	}

	s.appointments(rf, s.outreachThenBook(t))
	s.finish(rf)
}

// appointments plays out bookings from the first one at tb: reschedules,
// cancellations, no-shows and rebookings, up to a completed visit.
func (s *simulator) appointments(rf *referral, tb int64) {
	r := s.r
	sched := s.scheduleFor(rf, tb)
	loc := s.d.loc
	for appt := uint8(1); appt <= maxAppointments; appt++ {
		if appt > 1 && r.Float64() < otherSiteP {
			loc = s.pop.pickLoc.draw(r)
		}
		s.add(simEvent{t: tb, kind: kBooked, appt: appt, sched: sched, loc: uint16(loc), a: uint8(pick(r, visitTypeWeight[:]))})
		s.maybeUpdate(tb, referrerUpdateBookP)
		if r.Float64() < preVisitNoteP {
			if tn := bizTime(r, tb+durDays(r, 1, 0.5)); tn < sched {
				s.consultNote(tn)
			}
		}
		if u := r.Float64(); u < rescheduleP && sched-tb > 6*hour {
			tr := bizTime(r, between(r, tb+hour, sched-2*hour))
			if tr < sched-hour {
				var ns int64
				if r.Float64() < 0.2 && sched-tr > 3*day {
					ns = s.slotAfter(tr+(sched-tr)*int64(30+r.IntN(50))/100, tr+day)
				} else {
					ns = s.slotAfter(sched+durDays(r, 7, 0.7), tr+day)
				}
				s.add(simEvent{t: tr, kind: kRescheduled, appt: appt, sched: ns})
				sched = ns
				if r.Float64() < rescheduleCancelP {
					// A second, kept appointment booked, then the rescheduled one cancelled.
					tb2 := bizTime(r, between(r, tr+hour, sched-hour))
					if tb2 < sched-hour {
						s2 := s.slotAfter(sched+between(r, -3*day, 3*day), tb2+priorityMinLead[s.d.prio])
						tc := tb2 + between(r, minute, 30*minute)
						s.add(simEvent{t: tc, kind: kApptCancelled, appt: appt, a: 0})
						tb, sched = tb2, s2
						continue
					}
				}
			}
		} else if u < rescheduleP+cancelP {
			by := uint8(pick(r, cancelledByWeight[:]))
			tc := between(r, tb+hour, sched-hour)
			if by != 0 {
				tc = bizTime(r, tc)
			}
			if tc < sched {
				s.add(simEvent{t: tc, kind: kApptCancelled, appt: appt, a: by})
				if r.Float64() >= rebookAfterCancelP {
					if r.Float64() < 0.5 {
						reason := uint8(cancelPatientDeclined)
						if by != 0 {
							reason = cancelOther // the clinic cancelled and nobody rebooked
						}
						s.add(simEvent{t: bizTime(r, tc+durDays(r, 2, 0.8)), kind: kReferralCancelled, a: reason})
					}
					return
				}
				tb = bizTime(r, tc+durDays(r, 1.5, 0.8))
				remaining := max(0, rf.created+int64(lineMedianDays(&serviceLines[s.d.line])*day)-tb)
				sched = s.slotAfter(tb+int64(logNormal(r, float64(remaining)*0.6+float64(3*day), 0.5)), tb+priorityMinLead[s.d.prio])
				continue
			}
		}

		if r.Float64() < noShowProbability(sched-tb, s.d.payer, &serviceLines[s.d.line]) {
			tn := sched + between(r, 15*minute, 45*minute)
			s.add(simEvent{t: tn, kind: kNoShow, appt: appt})
			s.outreach(bizTime(r, tn+durDays(r, 1, 0.5)), 1, false)
			if r.Float64() >= rebookAfterNoShowP {
				if r.Float64() < 0.3 {
					s.add(simEvent{t: bizTime(r, tn+between(r, 14*day, 30*day)), kind: kReferralCancelled, a: cancelNoShow})
				}
				return
			}
			tb = bizTime(r, tn+durDays(r, 3, 0.8))
			sched = s.slotAfter(tb+durDays(r, 14, 0.6), tb+priorityMinLead[s.d.prio])
			continue
		}

		s.add(simEvent{t: sched, kind: kCompleted, appt: appt})
		s.maybeUpdate(sched+hour, referrerUpdateDoneP)
		s.closeLoop(sched, loc)
		return
	}
}

// closeLoop sends the consult note back after a completed visit, late or never,
// by the site's habits.
func (s *simulator) closeLoop(visit int64, loc int) {
	r, l := s.r, &s.pop.locations[loc]
	if r.Float64() < l.noteNever {
		return
	}
	tn := bizTime(r, visit+durDays(r, l.noteMedian, noteDelaySigma))
	s.consultNote(tn)
	if r.Float64() < addendumNoteP {
		s.consultNote(bizTime(r, tn+durDays(r, 5, 0.8)))
	}
}

func (s *simulator) consultNote(t int64) {
	s.add(simEvent{t: t, kind: kConsultNote, a: uint8(pick(s.r, noteChannelWeight[:])), b: uint8(pick(s.r, s.d.noteTo[:]))})
}

func (s *simulator) maybeUpdate(t int64, p float64) {
	if s.r.Float64() < p {
		s.add(simEvent{t: bizTime(s.r, t+durDays(s.r, 0.1, 1)), kind: kReferrerUpdate})
	}
}

// outreach adds n calls to the patient from t on, a few days apart; the last
// one reaches the patient when reached is set.
func (s *simulator) outreach(t int64, n int, reached bool) int64 {
	r := s.r
	for i := range n {
		t = bizTime(r, t+durDays(r, 0.6, 0.8))
		outcome := uint8(1 + pick(r, missedCallWeight[:])) // voicemail, no_answer, other
		if reached && i == n-1 {
			outcome = 0
		}
		s.add(simEvent{t: t, kind: kOutreach, a: outcome})
	}
	return t
}

// outreachThenBook returns the booking time for a referral ready at t, after
// zero or more calls to the patient.
func (s *simulator) outreachThenBook(t int64) int64 {
	r := s.r
	tb := t + int64(logNormal(r, priorityBook[s.d.prio], 0.9)*day)
	if s.d.prio != prStat && r.Float64() < outreachReachedP {
		n := 1 + pick(r, callsBeforeBooking[:])
		tb = max(tb, s.outreach(t, n, true)+between(r, minute, 20*minute))
	}
	return bizTime(r, tb)
}

// scheduleFor draws the slot of a first booking made at tb: log-normal time to
// appointment from creation by service line, site and priority.
func (s *simulator) scheduleFor(rf *referral, tb int64) int64 {
	r := s.r
	median := lineMedianDays(&serviceLines[s.d.line]) * s.pop.locations[s.d.loc].accessFactor * priorityTTA[s.d.prio]
	target := rf.created + min(durDays(r, median, ttaSigma), maxLeadDays*day)
	minLead := priorityMinLead[s.d.prio]
	if target < tb+minLead {
		target = tb + minLead + r.Int64N(2*day)
	}
	if s.d.prio == prStat {
		return max(target, tb+minLead)
	}
	return s.slotAfter(target, tb+minLead)
}

// slotAfter is a clinic slot on target's day, or the first day after with a
// slot at or after notBefore.
func (s *simulator) slotAfter(target, notBefore int64) int64 {
	t := slot(s.r, max(target, notBefore))
	for t < notBefore {
		t = slot(s.r, t+day)
	}
	return t
}

// finish sorts the events by time (they are nearly sorted, and equal times
// keep the order they happened in) and packs them into the referral.
func (s *simulator) finish(rf *referral) {
	ev := s.buf
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].t < ev[j-1].t; j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
	rf.line, rf.loc, rf.payer, rf.prio, rf.channel = uint8(s.d.line), uint8(s.d.loc), uint8(s.d.payer), uint8(s.d.prio), uint8(s.d.channel)
	rf.patient, rf.omitPay, rf.omitPri = int32(s.d.patient), s.d.omitPay, s.d.omitPri
	rf.events = make([]storedEvent, len(ev))
	for i, e := range ev {
		st := storedEvent{t: uint32(e.t - s.base), kind: e.kind, appt: e.appt, a: e.a, b: e.b, loc: uint8(e.loc)}
		if e.sched != 0 {
			st.sched = int32(e.sched - e.t)
		}
		rf.events[i] = st
	}
}

package generator

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// Message is one Kafka message for one of the three input streams. Key, Value
// and header values may share memory with other messages: do not modify them.
type Message struct {
	Stream  event.Stream
	Key     []byte // the referral id
	Value   []byte
	Headers []event.Header // binary mode only
	// EventID is the CloudEvents id of a valid event, also on its duplicates.
	EventID string
	// Type is the event type of a valid event; empty for invalid messages.
	Type event.Type
	// Invalid is "" for a valid event, else the dead-letter reason the decoder
	// must give.
	Invalid   event.Reason
	Duplicate bool
}

// Stats counts what a run emitted. Events are distinct valid events; the
// messages emitted are Events + Duplicates + Invalid.
type Stats struct {
	Referrals  int
	Events     int
	Duplicates int
	Invalid    int
	ByType     map[event.Type]int
	ByReason   map[event.Reason]int
}

// Delivery parameters.
const (
	shuffleWindow = 5000 // messages the windowed shuffle holds
	lateP         = 0.01 // events delivered days late when shuffling
	lateMin       = day
	lateMax       = 5 * day
	dupMaxGap     = 5000 // a duplicate follows its original within this many messages
	slabSize      = 64 << 10
	slabHeadroom  = 4 << 10
	ctxCheckEvery = 1024
)

var kindTypes = [numKinds]event.Type{
	kCreated:           event.ReferralCreated,
	kAccepted:          event.ReferralAccepted,
	kRejected:          event.ReferralRejected,
	kInfoRequested:     event.ReferralInfoRequested,
	kInfoReceived:      event.ReferralInfoReceived,
	kAuthRequested:     event.ReferralAuthRequested,
	kAuthApproved:      event.ReferralAuthApproved,
	kAuthDenied:        event.ReferralAuthDenied,
	kRedirected:        event.ReferralRedirected,
	kLeaked:            event.ReferralLeaked,
	kReferralCancelled: event.ReferralCancelled,
	kBooked:            event.AppointmentBooked,
	kRescheduled:       event.AppointmentRescheduled,
	kApptCancelled:     event.AppointmentCancelled,
	kNoShow:            event.AppointmentNoShow,
	kCompleted:         event.AppointmentCompleted,
	kConsultNote:       event.ConsultNoteSent,
	kReferrerUpdate:    event.ReferrerUpdateSent,
	kOutreach:          event.PatientOutreach,
}

// The producing systems: a small bounded set, as in production.
const (
	srcReferrals = "epic/prod/referrals"
	srcFax       = "fax-intake"
	srcPortal    = "patient-portal"
	srcAuth      = "prior-auth/prod"
	srcClaims    = "claims-feed"
	srcSched     = "scheduling/prod"
	srcComms     = "epic/prod/communications"
	srcOutreach  = "patient-outreach"
)

var networks = [2]string{"in", "out"}

// Generate simulates cfg and hands every message to emit, in delivery order.
// It stops at the first error from emit or when ctx is done, returning the
// stats so far. Messages are deterministic for cfg, except future_time invalid
// messages, which are relative to cfg.Now.
func Generate(ctx context.Context, cfg Config, emit func(Message) error) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	g := newGenerator(cfg, emit)
	err := g.run(ctx)
	return g.stats(), err
}

type generator struct {
	cfg  Config
	emit func(Message) error

	pop      *population
	sim      *simulator
	arr      *arrivals
	inFlight refHeap
	base     int64 // the period's start; stored event times are offsets from it
	slab     []byte

	idKey1, idKey2, binKey, patKey, refKey uint64

	// delivery
	rng     *rand.Rand
	window  []pending
	late    pendingHeap
	dups    pendingHeap
	sent    int64 // messages emitted so far
	invalid *invalidMaker

	tally
}

// tally counts what a generator or a Stream emitted.
type tally struct {
	referrals, events, duplicates int
	byKind                        [numKinds]int
	byReason                      map[event.Reason]int
}

func newTally() tally { return tally{byReason: map[event.Reason]int{}} }

// pending is a message held back by the shuffle or the duplicator.
type pending struct {
	msg    Message
	due    int64 // late: unix time; duplicates: message count
	seq    int64 // tie-breaker: arrival order
	kind   kind
	inSlab bool
}

func newGenerator(cfg Config, emit func(Message) error) *generator {
	end := cfg.End.Unix()
	start := end - int64(cfg.Days)*day
	dayEnd := floorDiv(end, day)*day + day
	pop := newPopulation(cfg, start, end)
	g := &generator{
		cfg:    cfg,
		emit:   emit,
		pop:    pop,
		sim:    newSimulator(cfg, pop, start, dayEnd),
		base:   start,
		arr:    newArrivals(cfg.Seed, cfg.Referrals, start, end),
		idKey1: seedKey(cfg.Seed, streamEventID),
		idKey2: seedKey(cfg.Seed, streamEventID2),
		binKey: seedKey(cfg.Seed, streamBinary),
		patKey: seedKey(cfg.Seed, streamPatient),
		refKey: seedKey(cfg.Seed, streamReferralID),
		rng:    rand.New(rand.NewPCG(seedKey(cfg.Seed, streamDelivery), streamDelivery)),
		tally:  newTally(),
	}
	g.invalid = newInvalidMaker(cfg)
	return g
}

func (g *generator) run(ctx context.Context) error {
	for i := range g.cfg.Referrals {
		if i%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		created := g.arr.next()
		// Every later event is at or after created: deliver what comes before.
		for g.inFlight.len() > 0 && g.base+int64(g.inFlight.nextTime()) < created {
			if err := g.deliverNext(); err != nil {
				return err
			}
		}
		rf := &referral{seq: int32(i), created: created}
		g.sim.simulate(rf)
		g.referrals++
		g.inFlight.push(rf)
	}
	for n := 0; g.inFlight.len() > 0; n++ {
		if n%(ctxCheckEvery*8) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := g.deliverNext(); err != nil {
			return err
		}
	}
	return g.flush(ctx)
}

// deliverNext encodes the earliest pending event of all referrals in flight.
func (g *generator) deliverNext() error {
	rf := g.inFlight.top()
	se := &rf.events[rf.pos]
	t := g.base + int64(se.t)
	m, inSlab := g.encode(rf, se, t)
	p := pending{msg: m, kind: se.kind, inSlab: inSlab}
	rf.pos++
	if int(rf.pos) == len(rf.events) {
		g.inFlight.pop()
		rf.events = nil
	} else {
		g.inFlight.advance()
	}
	return g.deliver(p, t)
}

// encode turns one simulated event into its message.
func (g *generator) encode(rf *referral, se *storedEvent, t int64) (Message, bool) {
	if rf.pos == 0 {
		rf.name = g.referralName(rf.seq)
		rf.key = []byte(rf.name)
	}
	k := uint64(rf.seq)<<20 | uint64(rf.pos)
	hi, lo := mix64(k^g.idKey1), mix64(k^g.idKey2)
	var idBuf [36]byte
	id := string(appendUUID(idBuf[:0], hi, lo))

	e := event.Event{
		ID:      id,
		Type:    kindTypes[se.kind],
		Time:    time.Unix(t, 0).UTC(),
		Subject: rf.name,
	}
	g.fillData(&e, rf, se, t)

	m := Message{Stream: e.Type.Stream(), Key: rf.key, EventID: id, Type: e.Type}
	if g.cfg.BinaryRatio > 0 && unitFloat(mix64(hi^g.binKey)) < g.cfg.BinaryRatio {
		m.Value, m.Headers = event.EncodeBinary(e)
		return m, false
	}
	if cap(g.slab)-len(g.slab) < slabHeadroom {
		g.slab = make([]byte, 0, slabSize)
	}
	n := len(g.slab)
	g.slab = event.AppendEncode(g.slab, e)
	m.Value = g.slab[n:len(g.slab):len(g.slab)]
	return m, true
}

func (g *generator) fillData(e *event.Event, rf *referral, se *storedEvent, t int64) {
	d := &e.Data
	switch se.kind {
	case kCreated:
		ref := rf.ref
		e.Source = srcReferrals
		switch rf.channel {
		case chFax:
			e.Source = srcFax
		case chPortal:
			e.Source = srcPortal
		}
		d.ReferrerID, d.ReferrerOrgID = ref.id, ref.orgID
		d.ReferrerType, d.ReferrerNetwork = "self", "out"
		if ref.typ >= 0 {
			d.ReferrerType = referrerTypes[ref.typ].name
			if ref.inNetwork {
				d.ReferrerNetwork = "in"
			}
		}
		d.ServiceLine = serviceLines[rf.line].name
		d.LocationID = g.pop.locations[rf.loc].id
		d.DestinationNetwork = networks[se.a]
		if !rf.omitPay {
			d.PayerClass = payers[rf.payer]
		}
		if !rf.omitPri {
			d.Priority = priorities[rf.prio]
		}
		d.Channel = channels[rf.channel]
		if !g.untokened(rf) {
			d.PatientToken = g.patientToken(int(rf.patient))
		}
	case kAccepted, kInfoReceived:
		e.Source = srcReferrals
	case kRejected:
		e.Source, d.Reason = srcReferrals, rejectReasons[se.a]
	case kInfoRequested:
		e.Source, d.Missing = srcReferrals, missingLists[se.a]
	case kAuthRequested, kAuthApproved:
		e.Source = srcAuth
	case kAuthDenied:
		e.Source, d.Reason = srcAuth, authDenyReasons[se.a]
	case kRedirected:
		e.Source = srcReferrals
		d.DestinationNetwork = networks[se.a]
		if se.a == 0 {
			d.DestinationOrgID = g.pop.networkOrg[se.b]
		} else {
			d.DestinationOrgID = g.pop.externalOrg[se.b]
		}
	case kLeaked:
		e.Source, d.Reason = srcClaims, leakReasons[se.a]
	case kReferralCancelled:
		e.Source, d.Reason = srcReferrals, referralCancelReasons[se.a]
	case kBooked:
		e.Source = srcSched
		d.AppointmentID = apptID(rf, se.appt)
		d.ScheduledFor = time.Unix(t+int64(se.sched), 0).UTC()
		d.LocationID = g.pop.locations[se.loc].id
		d.VisitType = visitTypes[se.a]
	case kRescheduled:
		e.Source = srcSched
		d.AppointmentID = apptID(rf, se.appt)
		d.ScheduledFor = time.Unix(t+int64(se.sched), 0).UTC()
	case kApptCancelled:
		e.Source = srcSched
		d.AppointmentID = apptID(rf, se.appt)
		d.CancelledBy = cancelledBy[se.a]
	case kNoShow, kCompleted:
		e.Source = srcSched
		d.AppointmentID = apptID(rf, se.appt)
	case kConsultNote:
		e.Source = srcComms
		d.Channel, d.Recipient = noteChannels[se.a], recipients[se.b]
	case kReferrerUpdate:
		e.Source = srcComms
	case kOutreach:
		e.Source, d.Outcome = srcOutreach, outreachOutcomes[se.a]
	}
}

func apptID(rf *referral, n uint8) string {
	return "A-" + strings.TrimPrefix(rf.name, "R-") + "-" + strconv.Itoa(int(n))
}

// untokenedPer10k referrals in 10,000 arrive without a patient token (a fax
// the MPI could not match): the CMS50-style loop leaves them out and counts
// them. Decided by a hash of the referral's creation order, not the random
// stream, so every other value of a seed stays what it was.
const untokenedPer10k = 150

func (g *generator) untokened(rf *referral) bool {
	return mix64(uint64(rf.seq)^g.patKey^0x5ca1ab1e)%10_000 < untokenedPer10k
}

// patientToken is a stable pseudonym for patient number n of this seed.
func (g *generator) patientToken(n int) string {
	var b [19]byte
	copy(b[:], "PT-")
	h := mix64(uint64(n) ^ g.patKey)
	for i := range 16 {
		b[3+i] = hexDigits[(h>>(60-4*uint(i)))&0xf]
	}
	return string(b[:])
}

// deliver passes a valid message through the shuffle stage when enabled.
func (g *generator) deliver(p pending, t int64) error {
	if !g.cfg.Shuffle {
		return g.output(p)
	}
	for len(g.late) > 0 && g.late[0].due <= t {
		if err := g.output(g.late.pop()); err != nil {
			return err
		}
	}
	if g.rng.Float64() < lateP {
		p = p.owned()
		p.due, p.seq = t+between(g.rng, lateMin, lateMax), g.sent
		g.late.push(p)
		return nil
	}
	if len(g.window) < shuffleWindow {
		g.window = append(g.window, p)
		return nil
	}
	i := g.rng.IntN(len(g.window))
	out := g.window[i]
	g.window[i] = p
	return g.output(out)
}

// output emits a valid message, then whatever duplicates and invalid messages
// fall due after it.
func (g *generator) output(p pending) error {
	if err := g.send(p.msg); err != nil {
		return err
	}
	g.events++
	g.byKind[p.kind]++
	if g.cfg.DuplicateRatio > 0 && g.rng.Float64() < g.cfg.DuplicateRatio {
		d := p.owned()
		d.msg.Duplicate = true
		d.due, d.seq = g.sent+1+g.rng.Int64N(dupMaxGap), g.sent
		g.dups.push(d)
	}
	if g.cfg.InvalidRatio > 0 && g.rng.Float64() < g.cfg.InvalidRatio {
		inv := g.invalid.next(g.rng, p.msg.Key)
		if err := g.send(inv); err != nil {
			return err
		}
		g.byReason[inv.Invalid]++
	}
	for len(g.dups) > 0 && g.dups[0].due <= g.sent {
		if err := g.send(g.dups.pop().msg); err != nil {
			return err
		}
		g.duplicates++
	}
	return nil
}

func (g *generator) send(m Message) error {
	if err := g.emit(m); err != nil {
		return fmt.Errorf("emit message %d: %w", g.sent, err)
	}
	g.sent++
	return nil
}

// flush drains the shuffle window, the late events and the duplicates.
func (g *generator) flush(ctx context.Context) error {
	for len(g.window) > 0 {
		if len(g.window)%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		i := g.rng.IntN(len(g.window))
		p := g.window[i]
		g.window[i] = g.window[len(g.window)-1]
		g.window = g.window[:len(g.window)-1]
		if err := g.output(p); err != nil {
			return err
		}
	}
	for len(g.late) > 0 {
		if err := g.output(g.late.pop()); err != nil {
			return err
		}
	}
	for len(g.dups) > 0 {
		if err := g.send(g.dups.pop().msg); err != nil {
			return err
		}
		g.duplicates++
	}
	return nil
}

func (g *tally) stats() Stats {
	s := Stats{
		Referrals:  g.referrals,
		Events:     g.events,
		Duplicates: g.duplicates,
		ByType:     make(map[event.Type]int, numKinds),
		ByReason:   make(map[event.Reason]int, len(g.byReason)),
	}
	for k, n := range g.byKind {
		if n > 0 {
			s.ByType[kindTypes[k]] = n
		}
	}
	for r, n := range g.byReason {
		s.ByReason[r] = n
		s.Invalid += n
	}
	return s
}

// owned gives a message held for long its own copy of a slab-backed value, so
// it does not pin a whole slab.
func (p pending) owned() pending {
	if p.inSlab {
		p.msg.Value = append([]byte(nil), p.msg.Value...)
		p.inSlab = false
	}
	return p
}

// refHeap orders referrals in flight by their next event's time, then by
// creation order, so delivery is deterministic. Entries hold their keys and a
// slot in refs instead of a pointer: sifting then neither chases pointers nor
// pays GC write barriers.
type refHeap struct {
	h    []refEntry
	refs []*referral // by slot
	free []int32     // unused slots
}

type refEntry struct {
	t    uint32 // the next event's time, as an offset from the base
	seq  int32
	slot int32
}

func (a refEntry) less(b refEntry) bool { return a.t < b.t || a.t == b.t && a.seq < b.seq }

func (h *refHeap) len() int { return len(h.h) }

// nextTime is the earliest pending event's time, as an offset from the base.
func (h *refHeap) nextTime() uint32 { return h.h[0].t }

// top is the referral with the earliest pending event.
func (h *refHeap) top() *referral { return h.refs[h.h[0].slot] }

func (h *refHeap) push(rf *referral) {
	if len(rf.events) == 0 {
		return
	}
	var slot int32
	if n := len(h.free); n > 0 {
		slot, h.free = h.free[n-1], h.free[:n-1]
		h.refs[slot] = rf
	} else {
		slot = int32(len(h.refs))
		h.refs = append(h.refs, rf)
	}
	h.h = append(h.h, refEntry{t: rf.events[0].t, seq: rf.seq, slot: slot})
	s := h.h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

// pop removes the top referral, which has delivered all its events.
func (h *refHeap) pop() {
	slot := h.h[0].slot
	h.refs[slot] = nil
	h.free = append(h.free, slot)
	n := len(h.h) - 1
	h.h[0] = h.h[n]
	h.h = h.h[:n]
	h.down()
}

// advance moves the top referral to its next event and restores the order.
func (h *refHeap) advance() {
	rf := h.refs[h.h[0].slot]
	h.h[0].t = rf.events[rf.pos].t
	h.down()
}

func (h *refHeap) down() {
	s := h.h
	n := len(s)
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			return
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
}

// pendingHeap is a min-heap by (due, seq).
type pendingHeap []pending

func (h pendingHeap) less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].seq < h[j].seq
}

func (h *pendingHeap) push(p pending) {
	*h = append(*h, p)
	s := *h
	for i := len(s) - 1; i > 0; {
		q := (i - 1) / 2
		if !s.less(i, q) {
			break
		}
		s[i], s[q] = s[q], s[i]
		i = q
	}
}

func (h *pendingHeap) pop() pending {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s[n] = pending{}
	s = s[:n]
	*h = s
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	return top
}

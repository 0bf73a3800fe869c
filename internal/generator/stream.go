package generator

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// StreamEpoch anchors the stream's timeline: referral numbers count hours
// from it, and no referral is created before it.
var StreamEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Limits of the stream's referral numbering: seq = streamSeqBase +
// hours since StreamEpoch × maxPerHour + i, within int32 until about 2083.
const (
	streamSeqBase = 1 << 30
	maxPerHour    = 2048
	// MaxReferralsPerDay keeps the busiest hour well below maxPerHour.
	MaxReferralsPerDay = 10_000
)

// StreamReferralLike is a SQL LIKE pattern that matches the referral ids of a
// Stream (R- and ten digits, from R-1073741825 on) and none of Generate's,
// whose numbers have at most eight digits.
const StreamReferralLike = "R-__________"

// MaxReferralLifetime bounds how long after its creation a referral has
// events: appointments are booked at most a year out, and rebookings and
// notes follow. A stream resumed at t must start this long before t to
// deliver every event after t.
const MaxReferralLifetime = maxLifetime * time.Second

const maxLifetime = 550 * day

// Random streams of the Stream, and its tenure model: a referrer slot (a
// seat in a practice) is held by one referrer for a few years, whose
// referrals fade out before a new referrer takes the seat.
const (
	streamPopSeedStream uint64 = 0x6c697665706f7031 // "livepop1"
	streamArrSeedStream uint64 = 0x6c69766561727231 // "livearr1"
	streamDupSeedStream uint64 = 0x6c69766564757031 // "livedup1"
	streamInvSeedStream uint64 = 0x6c697665696e7631 // "liveinv1"
	tenureMeanDays             = 4 * 365
	tenureFadeDays             = 90 // fading starts this long before the seat changes hands
	tenureFadeTauDays          = 30
	streamDupMaxGap            = 200 // a duplicate follows its original within this many messages
)

// StreamConfig says what a Stream simulates.
type StreamConfig struct {
	Seed int64 `yaml:"seed"`
	// PerDay is the mean number of referrals created per day over a week;
	// weekday office hours get most of them.
	PerDay float64 `yaml:"per_day"`
	// DuplicateRatio, InvalidRatio and BinaryRatio are as in Config.
	DuplicateRatio float64 `yaml:"duplicate_ratio"`
	InvalidRatio   float64 `yaml:"invalid_ratio"`
	BinaryRatio    float64 `yaml:"binary_ratio"`
	// MaxMessageBytes is the decoder's size limit; too_large messages are one
	// byte over it. Zero means DefaultMaxMessageBytes.
	MaxMessageBytes int `yaml:"-"`
}

// DefaultStreamConfig is 500 referrals a day (15,000 a month, as the
// month-long demo had), 1% duplicates, 0.2% invalid messages, 10% binary
// mode.
func DefaultStreamConfig() StreamConfig {
	return StreamConfig{Seed: 1, PerDay: 500, DuplicateRatio: 0.01, InvalidRatio: 0.002, BinaryRatio: 0.1,
		MaxMessageBytes: DefaultMaxMessageBytes}
}

// RegisterFlags binds --seed, --duplicate-ratio, --invalid-ratio and
// --binary-ratio; the rate is left to the caller, which may derive it.
func (c *StreamConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed; the same seed and rate give the same referrals for the same hours")
	fs.Float64Var(&c.DuplicateRatio, "duplicate-ratio", c.DuplicateRatio, "fraction of valid messages delivered a second time, a little later (0-1)")
	fs.Float64Var(&c.InvalidRatio, "invalid-ratio", c.InvalidRatio, "extra invalid messages per valid one, spread over all dead-letter reasons (0-1)")
	fs.Float64Var(&c.BinaryRatio, "binary-ratio", c.BinaryRatio, "fraction of valid events in CloudEvents binary mode (0-1)")
}

// Validate reports the first setting that cannot be simulated.
func (c StreamConfig) Validate() error {
	if !(c.PerDay > 0 && c.PerDay <= MaxReferralsPerDay) {
		return fmt.Errorf("the referral rate must be above 0 and at most %d a day, got %v", MaxReferralsPerDay, c.PerDay)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--duplicate-ratio", c.DuplicateRatio}, {"--invalid-ratio", c.InvalidRatio}, {"--binary-ratio", c.BinaryRatio}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("%s must be between 0 and 1, got %v", r.flag, r.v)
		}
	}
	if c.MaxMessageBytes != 0 && c.MaxMessageBytes < minMessageBytes {
		return fmt.Errorf("--max-message-bytes must be at least %d for too_large messages, got %d", minMessageBytes, c.MaxMessageBytes)
	}
	return nil
}

// Stream is the endless counterpart of Generate for the demo: the same
// simulation of referrals and their follow-up events, but anchored to
// absolute time rather than to a run. Which referrals are created in an hour,
// who refers them and everything that happens to them depend only on the seed,
// the rate and that hour, never on when the stream was started. So a stream
// started today and one started yesterday agree on every event they share
// (same ids, same bytes): replaying a period twice only redelivers events,
// which the database deduplicates, and a stopped stream resumes where it
// stopped by re-simulating from an earlier creation time and skipping what is
// already stored (SkipThrough).
//
// Events are emitted in time order, and never later than the time passed to
// Advance: a referral's future appointments and notes wait in memory until
// their time comes.
//
// It is not safe for concurrent use.
type Stream struct {
	cfg  StreamConfig
	enc  *generator // encoding state shared with Generate's code
	sim  *simulator
	pop  *population
	slot []streamSlot

	popDay   int64 // unix day the population's occupants are for
	from     int64 // referrals created before are not simulated
	skip     int64 // events at or before are simulated but not emitted
	now      int64 // everything at or before has been emitted
	hour     int64 // next absolute hour whose arrivals are drawn
	arrivals []streamArrival
	meanInt  float64 // mean hourIntensity over a week
	inFlight refHeap

	rng     *rand.Rand
	dupKey  uint64
	invKey  uint64
	dups    pendingHeap
	sent    int64
	invalid *invalidMaker

	tally
}

type streamArrival struct {
	t   int64
	seq int32
}

// streamSlot is a referrer seat with the tenures of its successive holders.
type streamSlot struct {
	key uint64 // per-slot hash key
	gen int    // holder in p.referrers now
}

// NewStream returns a stream of the referrals created after from, with
// nothing emitted yet. from must be after StreamEpoch.
func NewStream(cfg StreamConfig, from time.Time) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !from.After(StreamEpoch) {
		return nil, fmt.Errorf("stream start %s is not after %s", from.UTC().Format(time.RFC3339), StreamEpoch.Format(time.RFC3339))
	}
	base := StreamEpoch.Unix()
	gcfg := Config{Seed: cfg.Seed, Referrals: max(100, int(cfg.PerDay*90)), BinaryRatio: cfg.BinaryRatio, MaxMessageBytes: cfg.MaxMessageBytes}
	pop := newStreamPopulation(cfg)
	s := &Stream{
		cfg: cfg,
		enc: &generator{
			cfg: gcfg, pop: pop, base: base,
			idKey1: seedKey(cfg.Seed, streamEventID), idKey2: seedKey(cfg.Seed, streamEventID2),
			binKey: seedKey(cfg.Seed, streamBinary), patKey: seedKey(cfg.Seed, streamPatient),
		},
		sim:    newSimulator(gcfg, pop, base, math.MaxInt64),
		pop:    pop,
		popDay: math.MinInt64,
		from:   from.Unix(),
		skip:   math.MinInt64,
		now:    from.Unix() - 1,
		hour:   floorDiv(from.Unix(), hour),
		rng:    rand.New(rand.NewPCG(seedKey(cfg.Seed, streamDelivery), streamDelivery)),
		dupKey: seedKey(cfg.Seed, streamDupSeedStream),
		invKey: seedKey(cfg.Seed, streamInvSeedStream),
		tally:  newTally(),
	}
	// PerDay is the mean over an ordinary week: 1970-01-08 to 14 has no
	// holiday (1970-01-01 has).
	for h := range 7 * 24 {
		s.meanInt += hourIntensity(7*day + int64(h)*hour)
	}
	s.meanInt /= 7 * 24
	s.slot = make([]streamSlot, len(pop.referrers))
	for i := range s.slot {
		s.slot[i] = streamSlot{key: mix64(seedKey(cfg.Seed, streamPopSeedStream) ^ mix64(uint64(i))), gen: -1}
	}
	// Advance moves the period invalid messages take their times from.
	s.invalid = newInvalidMaker(Config{Seed: cfg.Seed, End: from, Days: 1, Now: from,
		MaxMessageBytes: cfg.MaxMessageBytes, BinaryRatio: cfg.BinaryRatio})
	return s, nil
}

// SkipThrough makes the stream simulate but not emit events at or before t:
// those a previous run already delivered.
func (s *Stream) SkipThrough(t time.Time) { s.skip = t.Unix() }

// Now is the time the stream has emitted through.
func (s *Stream) Now() time.Time { return time.Unix(s.now, 0).UTC() }

// Advance emits, in time order, every message of an event at or before to
// that has not been emitted yet, and the duplicates and invalid messages that
// go with them. It stops at the first error from emit or when ctx is done.
func (s *Stream) Advance(ctx context.Context, to time.Time, emit func(Message) error) error {
	end := to.Unix()
	if end <= s.now {
		return nil
	}
	if end-s.base()+maxLifetime >= math.MaxUint32 {
		return errors.New("stream: time beyond the stream's range")
	}
	s.invalid.start, s.invalid.end = max(s.from, end-day), end
	s.invalid.future = time.Unix(end, 0).Add(futureSkew).UTC()
	for n := 0; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		a, ok := s.peekArrival(end)
		switch {
		case ok && (s.inFlight.len() == 0 || a.t <= s.base()+int64(s.inFlight.nextTime())):
			s.arrivals = s.arrivals[1:]
			s.create(a)
		case s.inFlight.len() > 0 && s.base()+int64(s.inFlight.nextTime()) <= end:
			if err := s.deliverNext(emit); err != nil {
				return err
			}
		default:
			s.now = end
			return nil
		}
	}
}

func (s *Stream) base() int64 { return s.enc.base }

// peekArrival is the next referral creation at or before end, drawing the
// arrivals of the hours up to end as needed.
func (s *Stream) peekArrival(end int64) (streamArrival, bool) {
	for len(s.arrivals) == 0 {
		if s.hour*hour > end {
			return streamArrival{}, false
		}
		s.drawHour(s.hour)
		s.hour++
	}
	if a := s.arrivals[0]; a.t <= end {
		return a, true
	}
	return streamArrival{}, false
}

// drawHour draws the referrals created in absolute hour h: a Poisson count
// around the rate times the hour's office-hours intensity, at uniform times,
// each from its own random stream so that no hour depends on another.
func (s *Stream) drawHour(h int64) {
	r := rand.New(rand.NewPCG(seedKey(s.cfg.Seed, streamArrSeedStream), mix64(uint64(h))))
	lambda := s.cfg.PerDay / 24 * hourIntensity(h*hour) / s.meanInt
	n := min(poisson(r, lambda), maxPerHour)
	times := make([]int64, n)
	for i := range times {
		times[i] = h*hour + r.Int64N(hour)
	}
	slices.Sort(times)
	first := streamSeqBase + (h-floorDiv(StreamEpoch.Unix(), hour))*maxPerHour
	s.arrivals = s.arrivals[:0]
	for i, t := range times {
		if t < s.from {
			continue
		}
		s.arrivals = append(s.arrivals, streamArrival{t: t, seq: int32(first + int64(i))})
	}
}

// poisson draws a Poisson count: exactly for small means, by the normal
// approximation above 30.
func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	limit, n, p := math.Exp(-lambda), 0, r.Float64()
	for p > limit {
		n++
		p *= r.Float64()
	}
	return n
}

// create simulates one referral and puts it in flight.
func (s *Stream) create(a streamArrival) {
	s.population(a.t)
	rf := &referral{seq: a.seq, created: a.t}
	s.sim.simulate(rf)
	s.inFlight.push(rf)
}

// deliverNext emits the earliest pending event of all referrals in flight,
// unless it is skipped.
func (s *Stream) deliverNext(emit func(Message) error) error {
	rf := s.inFlight.top()
	se := &rf.events[rf.pos]
	t := s.base() + int64(se.t)
	var m Message
	deliver := t > s.skip
	if deliver || rf.pos == 0 {
		m, _ = s.enc.encode(rf, se, t) // pos 0 also names the referral
	}
	if rf.pos == 0 {
		// Only the created event reads the referrer: let go of it, and with
		// it of the population's old slice (see population).
		rf.ref = nil
	}
	k := se.kind
	rf.pos++
	if int(rf.pos) == len(rf.events) {
		s.inFlight.pop()
		rf.events = nil
	} else {
		s.inFlight.advance()
	}
	if !deliver {
		return nil
	}
	return s.output(m, k, emit)
}

// output emits a valid message, then the duplicates and invalid message that
// fall due after it. Whether an event is duplicated or followed by an invalid
// message depends on its id only.
func (s *Stream) output(m Message, k kind, emit func(Message) error) error {
	if err := s.send(m, emit); err != nil {
		return err
	}
	s.events++
	s.byKind[k]++
	if k == kCreated {
		s.referrals++
	}
	h := mix64(hashString(m.EventID))
	if s.cfg.DuplicateRatio > 0 && unitFloat(h^s.dupKey) < s.cfg.DuplicateRatio {
		d := m
		d.Value = append([]byte(nil), m.Value...) // the original's slab is reused
		d.Duplicate = true
		s.dups.push(pending{msg: d, due: s.sent + 1 + int64(h%streamDupMaxGap), seq: s.sent})
	}
	if s.cfg.InvalidRatio > 0 && unitFloat(mix64(h^s.invKey)) < s.cfg.InvalidRatio {
		inv := s.invalid.next(s.rng, m.Key)
		if err := s.send(inv, emit); err != nil {
			return err
		}
		s.byReason[inv.Invalid]++
	}
	for len(s.dups) > 0 && s.dups[0].due <= s.sent {
		if err := s.send(s.dups.pop().msg, emit); err != nil {
			return err
		}
		s.duplicates++
	}
	return nil
}

func (s *Stream) send(m Message, emit func(Message) error) error {
	if err := emit(m); err != nil {
		return fmt.Errorf("emit message %d: %w", s.sent, err)
	}
	s.sent++
	return nil
}

// Stats counts what the stream emitted so far.
func (s *Stream) Stats() Stats { return s.stats() }

// hashString is FNV-1a 64, written out because hash/fnv would allocate per
// event on this path.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// newStreamPopulation is a population whose referrers are seats (slots) with
// fixed attributes drawn from each slot's own random stream; population keeps
// the holder of each seat at the current day (see Stream.population). The
// locations, organizations and draw tables are Generate's for the seed.
func newStreamPopulation(cfg StreamConfig) *population {
	p := newPopulation(Config{Seed: cfg.Seed, Referrals: 100}, 0, day)
	p.patients = max(1, int(cfg.PerDay*365*0.85))
	n := max(10, int(cfg.PerDay*90)/referralsPerRf)
	nInOrgs, nOutOrgs := max(3, n/25), max(5, n/8)
	p.referrers = make([]referrer, n)
	weights := make([]float64, n)
	for i := range p.referrers {
		r := rand.New(rand.NewPCG(seedKey(cfg.Seed, streamPopSeedStream), mix64(uint64(i))))
		weights[i] = p.drawAttributes(r, &p.referrers[i], nInOrgs, nOutOrgs)
	}
	p.pickRef = newAlias(weights)
	return p
}

// tenure is the start and end (unix days) of holder gen of a slot. Holders
// follow each other without gaps; the first took the seat before the epoch.
func (sl streamSlot) tenure(gen int) (start, end int64) {
	epochDay := floorDiv(StreamEpoch.Unix(), day)
	start = epochDay - int64(unitFloat(mix64(sl.key))*tenureMeanDays)
	for g := 0; ; g++ {
		length := int64(tenureMeanDays * (0.25 + 1.5*unitFloat(mix64(sl.key^mix64(uint64(g)+1)))))
		if g == gen {
			return start, start + max(length, 2*tenureFadeDays)
		}
		start += max(length, 2*tenureFadeDays)
	}
}

// holder is the generation holding the slot on unix day d.
func (sl streamSlot) holder(d int64) int {
	for g := 0; ; g++ {
		if _, end := sl.tenure(g); d < end {
			return g
		}
	}
}

// population makes the population's referrers the seats' holders on t's
// day. Referrals simulated earlier keep pointing at the holders of their day:
// a change replaces the slice instead of writing into it.
func (s *Stream) population(t int64) {
	d := floorDiv(t, day)
	if d == s.popDay {
		return
	}
	s.popDay = d
	var next []referrer
	for i := range s.slot {
		sl := &s.slot[i]
		g := sl.holder(d)
		if g == sl.gen {
			continue
		}
		if next == nil {
			next = slices.Clone(s.pop.referrers)
		}
		sl.gen = g
		start, end := sl.tenure(g)
		rf := &next[i]
		j := g*len(s.slot) + i // unique over slots and holders
		rf.id = referrerID(referrerTypes[rf.typ].name, j)
		rf.start = start * day
		rf.fading = true
		rf.fadeStart = (end - tenureFadeDays) * day
		rf.fadeTau = tenureFadeTauDays * day
		rf.fadeFloor = 0
		if mix64(sl.key^uint64(g))&1 == 0 {
			rf.fadeFloor = 0.2 // keeps referring a little; the others stop
		}
	}
	if next != nil {
		s.pop.referrers = next
	}
}

// referrerID is Generate's id scheme for referrer number j.
func referrerID(typ string, j int) string {
	switch typ {
	case "case_manager":
		return fmt.Sprintf("CM-%05d", j+1)
	case "employer":
		return fmt.Sprintf("EMP-%05d", j+1)
	case "community":
		return fmt.Sprintf("CBO-%05d", j+1)
	default:
		return fmt.Sprintf("%d", 1_000_000_000+(int64(j)*npiStride+7_654_321)%900_000_000)
	}
}

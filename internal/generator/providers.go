package generator

import "time"

// Providers is the provider directory of Generate's network for cfg: every
// referring provider's id (an NPI-like number, or CM-/EMP-/CBO- for those
// without one) → its referrer_type. A site keeps such a directory to type
// referrers per provider; the HL7 v2 and FHIR feeds of the network need it to
// give every referral the referrer_type its CloudEvent has. Self-referrals
// are not providers: their organisation, "self", types them.
func Providers(cfg Config) map[string]string {
	end := cfg.End.Unix()
	pop := newPopulation(cfg, end-int64(cfg.Days)*day, end)
	dir := make(map[string]string, len(pop.referrers))
	for _, rf := range pop.referrers {
		dir[rf.id] = referrerTypes[rf.typ].name
	}
	return dir
}

// Providers is the provider directory of the stream's network through
// until: the holders of every seat from the stream's start until then (seats
// change hands over time, so a longer run needs a later until).
func (s *Stream) Providers(until time.Time) map[string]string {
	first, last := floorDiv(s.from, day), floorDiv(until.Unix(), day)
	dir := map[string]string{}
	for i, sl := range s.slot {
		typ := referrerTypes[s.pop.referrers[i].typ].name
		for g := sl.holder(first); ; g++ {
			if start, _ := sl.tenure(g); start > last {
				break
			}
			dir[referrerID(typ, g*len(s.slot)+i)] = typ
		}
	}
	return dir
}

package generator

// pilotReferrals is the size of the pilot run behind EstimateMessages.
const pilotReferrals = 2000

// EstimateMessages is the number of messages a run of cfg is expected to emit:
// events per referral from a pilot simulation over the same period (recent
// referrals have fewer events by the end), times the referrals, plus the
// duplicates and invalid messages. It returns 0 for an invalid cfg.
func EstimateMessages(cfg Config) int {
	if cfg.Validate() != nil {
		return 0
	}
	pilot := cfg
	pilot.Referrals = min(cfg.Referrals, pilotReferrals)
	end := cfg.End.Unix()
	start := end - int64(cfg.Days)*day
	pop := newPopulation(pilot, start, end)
	sim := newSimulator(pilot, pop, start, floorDiv(end, day)*day+day)
	arr := newArrivals(pilot.Seed, pilot.Referrals, start, end)
	events := 0
	rf := &referral{}
	for i := range pilot.Referrals {
		rf.seq, rf.created = int32(i), arr.next()
		sim.simulate(rf)
		events += len(rf.events)
	}
	perReferral := float64(events) / float64(pilot.Referrals)
	return int(perReferral * float64(cfg.Referrals) * (1 + cfg.DuplicateRatio + cfg.InvalidRatio))
}

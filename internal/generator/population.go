package generator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// referrer is one referring provider or organization.
type referrer struct {
	id, orgID string
	typ       int // index into referrerTypes; -1 for self
	inNetwork bool
	channel   int // usual channel
	line      int // usual service line
	homeLoc   int
	// Activity over time: active from start; fading referrers decline from
	// fadeStart towards fadeFloor with time constant fadeTau (seconds).
	start     int64
	fading    bool
	fadeStart int64
	fadeTau   float64
	fadeFloor float64
}

// activity is the referrer's relative rate at unix time t, in [0, 1].
func (rf *referrer) activity(t int64) float64 {
	if t < rf.start {
		return 0
	}
	if !rf.fading || t <= rf.fadeStart {
		return 1
	}
	return rf.fadeFloor + (1-rf.fadeFloor)*math.Exp(-float64(t-rf.fadeStart)/rf.fadeTau)
}

// location is a receiving site with its own access and loop-closing habits.
type location struct {
	id           string
	accessFactor float64 // multiplies time to appointment
	noteNever    float64 // share of visits whose consult note never goes back
	noteMedian   float64 // days
}

// population is everything fixed for a run before the first referral.
type population struct {
	referrers   []referrer
	selfRefs    [2]referrer // portal and phone self-referrals
	pickRef     alias
	locations   [numLocations]location
	pickLoc     alias
	pickLine    alias
	pickPayer   alias
	pickType    alias
	patients    int
	externalOrg [numExternalOrgs]string
	networkOrg  [numNetworkOrgs]string
}

// npiStride is coprime with 9e8, so i ↦ i·stride mod 9e8 is a permutation and
// every referrer gets a distinct NPI-like ten-digit id.
const npiStride = 123_456_791

func newPopulation(cfg Config, start, end int64) *population {
	r := rand.New(rand.NewPCG(seedKey(cfg.Seed, streamPopulation), streamPopulation))
	p := &population{patients: max(1, cfg.Referrals*85/100)}

	lineW := make([]float64, len(serviceLines))
	for i, l := range serviceLines {
		lineW[i] = l.weight
	}
	p.pickLine = newAlias(lineW)
	p.pickPayer = newAlias(payerWeight[:])
	typeW := make([]float64, len(referrerTypes))
	for i, t := range referrerTypes {
		typeW[i] = t.weight
	}
	p.pickType = newAlias(typeW)
	p.pickLoc = newAlias(zipfWeights(numLocations, locationZipfS))

	for i := range p.locations {
		p.locations[i] = location{
			id:           fmt.Sprintf("site-%02d", i+1),
			accessFactor: math.Exp2(locAccessSpread * (2*r.Float64() - 1)),
			noteNever:    min(0.7, max(0.08, noteNeverBase*math.Exp(locNeverSigma*r.NormFloat64()))),
			noteMedian:   min(40, max(1.5, noteMedianDays*math.Exp(locLoopSigma*r.NormFloat64()))),
		}
	}
	for i := range p.externalOrg {
		p.externalOrg[i] = fmt.Sprintf("EXT-%02d", i+1)
	}
	for i := range p.networkOrg {
		p.networkOrg[i] = fmt.Sprintf("NET-%02d", i+1)
	}

	n := max(10, cfg.Referrals/referralsPerRf)
	nInOrgs, nOutOrgs := max(3, n/25), max(5, n/8)
	span := float64(end - start)
	p.referrers = make([]referrer, n)
	weights := make([]float64, n)
	for i := range p.referrers {
		rf := &p.referrers[i]
		weights[i] = p.drawAttributes(r, rf, nInOrgs, nOutOrgs)
		switch referrerTypes[rf.typ].name { // no draws: the sequence stays the same
		case "case_manager":
			rf.id = fmt.Sprintf("CM-%05d", i+1)
		case "employer":
			rf.id = fmt.Sprintf("EMP-%05d", i+1)
		case "community":
			rf.id = fmt.Sprintf("CBO-%05d", i+1)
		default:
			rf.id = fmt.Sprintf("%d", 1_000_000_000+(int64(i)*npiStride+7_654_321)%900_000_000)
		}
		rf.start = math.MinInt64
		switch u := r.Float64(); {
		case u < fadingShare:
			rf.fading = true
			rf.fadeStart = start + int64(span*(0.15+0.45*r.Float64()))
			rf.fadeTau = max(3*day, 0.08*span)
			if r.IntN(2) == 0 {
				rf.fadeFloor = 0.2 // fading; the other half stop altogether
			}
		case u < fadingShare+newShare:
			rf.start = start + int64(span*(0.1+0.8*r.Float64()))
		}
	}
	p.pickRef = newAlias(weights)
	p.selfRefs = [2]referrer{
		{id: "self-portal", orgID: "self", typ: -1, channel: chPortal, start: math.MinInt64},
		{id: "self-phone", orgID: "self", typ: -1, channel: chPhone, start: math.MinInt64},
	}
	return p
}

// drawAttributes draws a referrer's type, network, organization, usual
// channel, service line and site, and returns its volume weight. Generate's
// population and a Stream's seats share it, and so their shapes.
func (p *population) drawAttributes(r *rand.Rand, rf *referrer, nInOrgs, nOutOrgs int) float64 {
	rf.typ = p.pickType.draw(r)
	rt := &referrerTypes[rf.typ]
	rf.inNetwork = r.Float64() < rt.inNetwork
	// Organizations are long-tailed too: a few large groups.
	if rf.inNetwork {
		rf.orgID = fmt.Sprintf("MG-%03d", int(float64(nInOrgs)*r.Float64()*r.Float64())+1)
	} else {
		rf.orgID = fmt.Sprintf("ORG-%04d", int(float64(nOutOrgs)*r.Float64()*r.Float64())+1)
	}
	rf.channel = pick(r, rt.channels[:])
	rf.line = p.pickLine.draw(r)
	rf.homeLoc = p.pickLoc.draw(r)
	return min(paretoCap, math.Pow(1-r.Float64(), -1/paretoAlpha))
}

// drawReferrer picks who sends a referral created at t: by volume weight,
// thinned by each referrer's activity at t.
func (p *population) drawReferrer(r *rand.Rand, t int64) *referrer {
	if r.Float64() < selfShare {
		return &p.selfRefs[r.IntN(2)]
	}
	for range 64 {
		rf := &p.referrers[p.pickRef.draw(r)]
		if a := rf.activity(t); a >= 1 || r.Float64() < a {
			return rf
		}
	}
	return &p.referrers[p.pickRef.draw(r)]
}

// arrivals yields referral creation times in ascending order over
// (start, end] with O(1) memory: ascending uniform order statistics (by the
// product-of-powers recurrence) mapped through the inverse CDF of an hourly
// intensity with weekday office hours.
type arrivals struct {
	r      *rand.Rand
	n, i   int
	y      float64 // 1 − the last uniform order statistic
	cdf    []float64
	bucket int
	start  int64
	end    int64
}

func newArrivals(seed int64, n int, start, end int64) *arrivals {
	buckets := int((end - start + hour - 1) / hour)
	cdf := make([]float64, buckets)
	var sum float64
	for b := range cdf {
		sum += hourIntensity(start + int64(b)*hour)
		cdf[b] = sum
	}
	for b := range cdf {
		cdf[b] /= sum
	}
	return &arrivals{
		r: rand.New(rand.NewPCG(seedKey(seed, streamArrivals), streamArrivals)),
		n: n, y: 1, cdf: cdf, start: start, end: end,
	}
}

func (a *arrivals) next() int64 {
	v := 1 - a.r.Float64() // (0, 1]
	a.y *= math.Pow(v, 1/float64(a.n-a.i))
	a.i++
	u := 1 - a.y
	for a.bucket < len(a.cdf)-1 && a.cdf[a.bucket] < u {
		a.bucket++
	}
	lo := 0.0
	if a.bucket > 0 {
		lo = a.cdf[a.bucket-1]
	}
	frac := 0.0
	if w := a.cdf[a.bucket] - lo; w > 0 {
		frac = min(1, max(0, (u-lo)/w))
	}
	t := a.start + int64((float64(a.bucket)+frac)*float64(hour))
	return min(a.end, max(a.start+1, t))
}

// hourIntensity is the relative referral rate in the hour starting at t:
// US office hours (13–22 UTC) on business days, a trickle at night, weekends
// and holidays.
func hourIntensity(t int64) float64 {
	tm := time.Unix(t, 0).UTC()
	w := 0.3
	switch h := tm.Hour(); {
	case h >= 13 && h < 22:
		w = 7
	case h == 12 || h == 22:
		w = 2
	case h == 23:
		w = 1
	}
	if !businessDay(floorDiv(t, day)) {
		w *= 0.12
	}
	return w
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

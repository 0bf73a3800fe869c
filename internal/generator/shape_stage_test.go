package generator_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// The shapes behind KPIS.md's stage, priority and payer KPIs and the
// CMS50-style loop, measured on shapeRun's events with this file's own
// business-day arithmetic. The bounds are the benchmarks' ranges, widened
// for sampling noise; the run is fixed, so they hold deterministically.

// testHolidays are the US holidays inside and around the shape run (December
// 2025 to March 2026), written out by hand: the test does not trust the
// generator's calendar.
var testHolidays = map[string]bool{"2025-11-27": true, "2025-12-25": true, "2026-01-01": true}

func businessDate(d time.Time) bool {
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday && !testHolidays[d.Format(time.DateOnly)]
}

// bd is KPIS.md's bd(a, b) in UTC: business dates d with date(a) < d <= date(b).
func bd(a, b time.Time) int {
	n := 0
	for d := a.UTC().Truncate(24*time.Hour).AddDate(0, 0, 1); !d.After(b); d = d.AddDate(0, 0, 1) {
		if businessDate(d) {
			n++
		}
	}
	return n
}

// first is the time of the first of f's events of one of types, at or after
// from; zero when there is none.
func (f *facts) first(from time.Time, types ...event.Type) time.Time {
	for _, e := range f.events {
		if !e.Time.Before(from) && slices.Contains(types, e.Type) {
			return e.Time
		}
	}
	return time.Time{}
}

func priorityOf(f *facts) string {
	if f.dims.Priority == "" {
		return "routine"
	}
	return f.dims.Priority
}

// Triage decisions are staff actions: none on a weekend or holiday, most
// within the SLA of their priority in business days, some past it, and a
// Friday referral waits over the weekend.
func TestShapeTriageBusinessDays(t *testing.T) {
	_, refs := shapeRun(t)
	var offDay, decided int
	within := map[string][2]int{} // priority → {within SLA, decided}
	sla := map[string]int{"stat": 0, "urgent": 1, "routine": 2}
	var fri, tue []float64
	for _, f := range refs {
		for _, e := range f.events {
			if e.Type == event.ReferralAccepted || e.Type == event.ReferralRejected {
				decided++
				if !businessDate(e.Time.UTC().Truncate(24 * time.Hour)) {
					offDay++
				}
			}
		}
		at := f.first(f.created, event.ReferralAccepted, event.ReferralRejected)
		if at.IsZero() || f.first(f.created, event.ReferralInfoRequested) != (time.Time{}) {
			continue // information requests hold the decision up: see TestShapeInformationRequests
		}
		p := priorityOf(f)
		w := within[p]
		if bd(f.created, at) <= sla[p] {
			w[0]++
		}
		w[1]++
		within[p] = w
		if p == "routine" && f.created.Hour() >= 13 && f.created.Hour() < 22 {
			switch f.created.Weekday() {
			case time.Friday:
				fri = append(fri, at.Sub(f.created).Hours())
			case time.Tuesday:
				tue = append(tue, at.Sub(f.created).Hours())
			}
		}
	}
	if decided == 0 || offDay > 0 {
		t.Errorf("%d of %d triage decisions on a weekend or holiday, want some decisions and none of those", offDay, decided)
	}
	checkRange(t, "routine decided within 2 business days", ratio(within["routine"][0], within["routine"][1]), 0.75, 0.95)
	checkRange(t, "urgent decided within 1 business day", ratio(within["urgent"][0], within["urgent"][1]), 0.75, 0.97)
	checkRange(t, "stat decided the same business day", ratio(within["stat"][0], within["stat"][1]), 0.4, 0.95)
	mf, mt := median(fri), median(tue)
	t.Logf("median hours to triage, routine, created in office hours: Friday %.1f, Tuesday %.1f", mf, mt)
	if mf < mt+24 {
		t.Errorf("Friday referrals wait %.1f h for triage, Tuesday ones %.1f h: the weekend does not show", mf, mt)
	}
}

// Urgent referrals get appointments in ~0.6x the routine time, stat ones
// sooner still.
func TestShapePriorityWaits(t *testing.T) {
	_, refs := shapeRun(t)
	access := map[string][]float64{}
	count := map[string]int{}
	for _, f := range refs {
		count[priorityOf(f)]++
		if !f.firstSched.IsZero() {
			access[priorityOf(f)] = append(access[priorityOf(f)], f.firstSched.Sub(f.created).Hours()/24)
		}
	}
	total := len(refs)
	checkRange(t, "urgent share of referrals", ratio(count["urgent"], total), 0.1, 0.3)
	checkRange(t, "stat share of referrals", ratio(count["stat"], total), 0.02, 0.1)
	routine, urgent, stat := median(access["routine"]), median(access["urgent"]), median(access["stat"])
	t.Logf("median days to the first slot: routine %.1f, urgent %.1f, stat %.1f", routine, urgent, stat)
	checkRange(t, "urgent / routine median days to appointment", urgent/routine, 0.45, 0.8)
	if stat >= urgent {
		t.Errorf("stat referrals wait %.1f d, urgent ones %.1f d", stat, urgent)
	}
}

// Sites differ by a factor of up to ~2 either way, and waits have a
// log-normal tail with sigma ~0.9-1.0.
func TestShapeLocationWaitsAndTail(t *testing.T) {
	_, refs := shapeRun(t)
	byLoc := map[string][]float64{}
	for _, f := range refs {
		if f.firstSched.IsZero() || priorityOf(f) != "routine" {
			continue
		}
		days := f.firstSched.Sub(f.created).Hours() / 24
		byLoc[f.dims.LocationID] = append(byLoc[f.dims.LocationID], days)
	}
	lo, hi := math.Inf(1), 0.0
	for loc, days := range byLoc {
		if len(days) < 200 {
			continue
		}
		m := median(days)
		t.Logf("%s: %d routine referrals, median %.1f days to the first slot", loc, len(days), m)
		lo, hi = min(lo, m), max(hi, m)
	}
	checkRange(t, "slowest / fastest site's median wait", hi/lo, 2, 6)

	// The benchmark's tail (median 42 d, p75 80 d) is over all referrals:
	// ln(p75/p50) is 0.6745 sigma for a log-normal.
	var all []float64
	for _, days := range byLoc {
		all = append(all, days...)
	}
	slices.Sort(all)
	sigma := math.Log(all[len(all)*3/4]/all[len(all)/2]) / 0.6745
	checkRange(t, "routine wait sigma, ln(p75/p50)/0.6745", sigma, 0.8, 1.1)
}

// No-show odds rise with lead time: ~5x for slots 4 weeks or more out
// against those within 2 days.
func TestShapeNoShowLeadTime(t *testing.T) {
	_, refs := shapeRun(t)
	var short, long [2]int // {kept, missed}
	for _, f := range refs {
		for _, a := range f.appts {
			lead := a.sched.Sub(a.booked)
			i := -1
			switch a.status {
			case event.AppointmentCompleted:
				i = 0
			case event.AppointmentNoShow:
				i = 1
			}
			switch {
			case i < 0:
			case lead <= 2*24*time.Hour:
				short[i]++
			case lead >= 28*24*time.Hour:
				long[i]++
			}
		}
	}
	t.Logf("slots within 2 days: %d kept, %d missed; 4 weeks or more out: %d kept, %d missed", short[0], short[1], long[0], long[1])
	odds := func(c [2]int) float64 { return float64(c[1]) / float64(c[0]) }
	checkRange(t, "no-show odds ratio, ≥28 d vs ≤2 d lead", odds(long)/odds(short), 2.5, 10)
}

// Prior authorization: decided in business days (median 1-2, ~30% at 3 or
// more), denials by payer class within 3.5-13.6%, and appeals that mostly
// end approved.
func TestShapeAuthorization(t *testing.T) {
	_, refs := shapeRun(t)
	var turnaround []float64
	decisions := map[string][2]int{} // payer → {denied, decided}
	appeals, overturned, deniedThenApproved := 0, 0, 0
	for _, f := range refs {
		req := f.first(f.created, event.ReferralAuthRequested)
		if req.IsZero() {
			continue
		}
		var dec *event.Event
		for i, e := range f.events {
			if !e.Time.Before(req) && (e.Type == event.ReferralAuthApproved || e.Type == event.ReferralAuthDenied) {
				dec = &f.events[i]
				break
			}
		}
		if dec == nil {
			continue
		}
		turnaround = append(turnaround, float64(bd(req, dec.Time)))
		c := decisions[f.dims.PayerClass]
		if dec.Type == event.ReferralAuthDenied {
			c[0]++
			if again := f.first(dec.Time, event.ReferralAuthRequested); !again.IsZero() {
				if end := f.first(again, event.ReferralAuthApproved, event.ReferralAuthDenied); !end.IsZero() {
					appeals++
					if !f.first(again, event.ReferralAuthApproved).IsZero() {
						overturned++
					}
				}
			}
			if !f.first(dec.Time, event.ReferralAuthApproved).IsZero() {
				deniedThenApproved++
			}
		}
		c[1]++
		decisions[f.dims.PayerClass] = c
	}
	slices.Sort(turnaround)
	m := turnaround[len(turnaround)/2]
	atLeast3 := len(turnaround) - slices.Index(turnaround, 3)
	t.Logf("%d first decisions, median %.0f business days", len(turnaround), m)
	if m < 1 || m > 2 {
		t.Errorf("median authorization turnaround %.0f business days, want 1 or 2", m)
	}
	checkRange(t, "decisions taking 3 business days or more", ratio(atLeast3, len(turnaround)), 0.15, 0.45)
	for payer, c := range decisions {
		if c[1] < 200 {
			continue
		}
		checkRange(t, "first-decision denial rate, "+payer, ratio(c[0], c[1]), 0.02, 0.16)
	}
	denial := func(p string) float64 { return ratio(decisions[p][0], decisions[p][1]) }
	if denial("medicare_advantage") <= denial("commercial") || denial("medicaid") <= denial("commercial") {
		t.Errorf("denials: medicare_advantage %.3f, medicaid %.3f, commercial %.3f: want MA and Medicaid above commercial",
			denial("medicare_advantage"), denial("medicaid"), denial("commercial"))
	}
	t.Logf("%d appeals decided, %d overturned; %d denied referrals later approved", appeals, overturned, deniedThenApproved)
	checkRange(t, "appealed denials overturned", ratio(overturned, appeals), 0.65, 0.95)
}

// Information requests: 10-40% of referrals by service line, answered in a
// few business days.
func TestShapeInformationRequests(t *testing.T) {
	cfg, refs := shapeRun(t)
	settled := cfg.End.AddDate(0, 0, -7) // created at least a week before the end
	byLine := map[string][2]int{}        // line → {requested, referrals}
	var turnaround []float64
	for _, f := range refs {
		if f.created.After(settled) {
			continue
		}
		c := byLine[f.dims.ServiceLine]
		if req := f.first(f.created, event.ReferralInfoRequested); !req.IsZero() {
			c[0]++
			if got := f.first(req, event.ReferralInfoReceived); !got.IsZero() {
				turnaround = append(turnaround, float64(bd(req, got)))
			}
		}
		c[1]++
		byLine[f.dims.ServiceLine] = c
	}
	lo, hi := 1.0, 0.0
	for line, c := range byLine {
		if c[1] < 300 {
			continue
		}
		share := ratio(c[0], c[1])
		checkRange(t, "information requested, "+line, share, 0.07, 0.45)
		lo, hi = min(lo, share), max(hi, share)
	}
	if hi-lo < 0.15 {
		t.Errorf("information requests range %.3f–%.3f over the lines, want lines to differ by 0.15 or more", lo, hi)
	}
	m := median(turnaround)
	t.Logf("%d information answers, median %.0f business days", len(turnaround), m)
	if m < 1 || m > 4 {
		t.Errorf("median information turnaround %.0f business days, want 1-4", m)
	}
}

// Consult notes go back to the referrer mostly when the referrer is the
// patient's PCP; for other referrers they often go to the PCP instead.
func TestShapeConsultNoteRecipient(t *testing.T) {
	_, refs := shapeRun(t)
	var fromPCP, fromOthers [2]int // {to the pcp, notes}
	var toReferrer, notes int
	for _, f := range refs {
		c := &fromOthers
		if f.dims.ReferrerType == "primary_care" {
			c = &fromPCP
		}
		for _, e := range f.events {
			if e.Type != event.ConsultNoteSent {
				continue
			}
			notes++
			c[1]++
			switch e.Data.Recipient {
			case "pcp":
				c[0]++
			case "", "referrer":
				toReferrer++
			}
		}
	}
	checkRange(t, "notes to the PCP, primary care referrals", ratio(fromPCP[0], fromPCP[1]), 0, 0.1)
	checkRange(t, "notes to the PCP, other referrals", ratio(fromOthers[0], fromOthers[1]), 0.25, 0.6)
	checkRange(t, "notes to the referrer (or no recipient)", ratio(toReferrer, notes), 0.55, 0.85)
}

// referral.leaked carries a reason at the consultants' shares, sometimes none.
func TestShapeLeakReasons(t *testing.T) {
	_, refs := shapeRun(t)
	reasons := map[string]int{}
	n := 0
	for _, f := range refs {
		for _, e := range f.events {
			if e.Type == event.ReferralLeaked {
				reasons[e.Data.Reason]++
				n++
			}
		}
	}
	t.Logf("%d referral.leaked events", n)
	for _, c := range []struct {
		reason string
		lo, hi float64
	}{{"patient_choice", 0.3, 0.55}, {"access", 0.15, 0.4}, {"payer", 0.08, 0.25}, {"other", 0.03, 0.15}, {"", 0.03, 0.15}} {
		checkRange(t, "leak reason share "+cmpName(c.reason), ratio(reasons[c.reason], n), c.lo, c.hi)
	}
}

func cmpName(reason string) string {
	if reason == "" {
		return "(none)"
	}
	return reason
}

package generator_test

import (
	"cmp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// facts are one referral's KPIS.md facts, derived here independently from the
// decoded events.
type facts struct {
	created                  time.Time
	dims                     event.Data // of referral.created
	events                   []event.Event
	referrer, referrerNet    string
	line, payer              string
	dest                     string
	destAt                   time.Time
	leakedEvent, incomplete  bool
	firstBooked, firstDone   time.Time
	firstSched               time.Time
	notes                    []time.Time
	appts                    map[string]*appt
	authApproved, authDenied int
}

type appt struct {
	booked, sched, statusAt time.Time
	status                  event.Type
}

// statusRank breaks ties by time as KPIS.md says.
var statusRank = map[event.Type]int{
	event.AppointmentBooked: 0, event.AppointmentRescheduled: 1, event.AppointmentCancelled: 2,
	event.AppointmentNoShow: 3, event.AppointmentCompleted: 4,
}

func buildFacts(t *testing.T, events []event.Event) map[string]*facts {
	t.Helper()
	slices.SortStableFunc(events, func(a, b event.Event) int { return a.Time.Compare(b.Time) })
	refs := map[string]*facts{}
	get := func(id string) *facts {
		f := refs[id]
		if f == nil {
			f = &facts{appts: map[string]*appt{}}
			refs[id] = f
		}
		return f
	}
	for _, e := range events {
		f, d := get(e.Subject), e.Data
		f.events = append(f.events, e)
		switch e.Type {
		case event.ReferralCreated:
			f.dims = d
			f.created, f.referrer, f.referrerNet = e.Time, d.ReferrerID, d.ReferrerNetwork
			f.line, f.payer = d.ServiceLine, d.PayerClass
			if f.destAt.IsZero() || !e.Time.Before(f.destAt) {
				f.dest, f.destAt = d.DestinationNetwork, e.Time
			}
		case event.ReferralRedirected:
			if !e.Time.Before(f.destAt) {
				f.dest, f.destAt = d.DestinationNetwork, e.Time
			}
		case event.ReferralLeaked:
			f.leakedEvent = true
		case event.ReferralInfoRequested:
			f.incomplete = true
		case event.ReferralAuthApproved:
			f.authApproved++
		case event.ReferralAuthDenied:
			f.authDenied++
		case event.AppointmentBooked, event.AppointmentRescheduled, event.AppointmentCancelled,
			event.AppointmentNoShow, event.AppointmentCompleted:
			a := f.appts[d.AppointmentID]
			if a == nil {
				a = &appt{}
				f.appts[d.AppointmentID] = a
			}
			if e.Type == event.AppointmentBooked {
				if f.firstBooked.IsZero() {
					f.firstBooked, f.firstSched = e.Time, d.ScheduledFor
				}
				a.booked = e.Time
			}
			if !d.ScheduledFor.IsZero() {
				a.sched = d.ScheduledFor
			}
			if a.status == "" || e.Time.After(a.statusAt) || e.Time.Equal(a.statusAt) && statusRank[e.Type] > statusRank[a.status] {
				a.status, a.statusAt = e.Type, e.Time
			}
			if e.Type == event.AppointmentCompleted && f.firstDone.IsZero() {
				f.firstDone = e.Time
			}
		case event.ConsultNoteSent:
			f.notes = append(f.notes, e.Time)
		}
	}
	for id, f := range refs {
		if f.created.IsZero() {
			t.Errorf("referral %s has events but no referral.created", id)
		}
	}
	return refs
}

// shapeRun is the 20k-referral, 90-day run the shape tests measure, made once
// per test binary: the tests only read it.
var shapeRun = func() func(t *testing.T) (generator.Config, map[string]*facts) {
	var (
		once sync.Once
		refs map[string]*facts
	)
	cfg := testConfig(20_000)
	cfg.Days = 90
	return func(t *testing.T) (generator.Config, map[string]*facts) {
		t.Helper()
		if testing.Short() {
			t.Skip("20k referrals")
		}
		once.Do(func() {
			msgs, _ := collect(t, cfg)
			dec := event.NewDecoder(event.DefaultConfig())
			events := make([]event.Event, 0, len(msgs))
			for _, m := range msgs {
				e, err := dec.Decode(m.Value, m.Headers)
				if err != nil {
					t.Fatal(err)
				}
				events = append(events, e)
			}
			refs = buildFacts(t, events)
		})
		if refs == nil {
			t.Fatal("the shape run failed")
		}
		return cfg, refs
	}
}()

// TestRealisticShapes checks the published shapes of KPIS.md on a 20k-referral
// run, within broad bounds: the model is random, the benchmarks are ranges.
func TestRealisticShapes(t *testing.T) {
	cfg, refs := shapeRun(t)
	T := cfg.End.Add(24 * time.Hour) // as of the end of the last day
	start := cfg.End.AddDate(0, 0, -cfg.Days)
	mid := start.Add(cfg.End.Sub(start) / 2)

	var (
		matured, scheduled, leaked             int
		inNet, inLeaked, outNet, outLeaked     int
		settled, incomplete                    int
		approved, denied, maApproved, maDenied int
		kept, missed, shortKept, shortMissed   int
		longKept, longMissed                   int
		loopCohort, loopClosed                 int
		perReferrer                            = map[string]*[2]int{}
		access                                 = map[string][]float64{}
	)
	for _, f := range refs {
		isLeaked := f.dest == "out" || f.leakedEvent
		if f.created.Before(T.AddDate(0, 0, -14)) {
			matured++
			if !f.firstBooked.IsZero() {
				scheduled++
			}
			if isLeaked {
				leaked++
			}
			if f.referrerNet == "in" {
				inNet++
				if isLeaked {
					inLeaked++
				}
			} else {
				outNet++
				if isLeaked {
					outLeaked++
				}
			}
		}
		if f.created.Before(T.AddDate(0, 0, -7)) {
			settled++
			if f.incomplete {
				incomplete++
			}
		}
		approved += f.authApproved
		denied += f.authDenied
		if f.payer == "medicare_advantage" {
			maApproved += f.authApproved
			maDenied += f.authDenied
		}
		for _, a := range f.appts {
			lead := a.sched.Sub(a.booked)
			switch a.status {
			case event.AppointmentCompleted:
				kept++
				if lead < 14*24*time.Hour {
					shortKept++
				} else if lead > 30*24*time.Hour {
					longKept++
				}
			case event.AppointmentNoShow:
				missed++
				if lead < 14*24*time.Hour {
					shortMissed++
				} else if lead > 30*24*time.Hour {
					longMissed++
				}
			}
		}
		if !f.firstDone.IsZero() && !f.firstDone.After(T.AddDate(0, 0, -14)) {
			loopCohort++
			for _, n := range f.notes {
				if !n.Before(f.firstDone) && n.Sub(f.firstDone) <= 14*24*time.Hour {
					loopClosed++
					break
				}
			}
		}
		c := perReferrer[f.referrer]
		if c == nil {
			c = new([2]int)
			perReferrer[f.referrer] = c
		}
		if f.created.Before(mid) {
			c[0]++
		} else {
			c[1]++
		}
		if !f.firstSched.IsZero() {
			access[f.line] = append(access[f.line], f.firstSched.Sub(f.created).Hours()/24)
		}
	}

	check := func(name string, got, lo, hi float64) { t.Helper(); checkRange(t, name, got, lo, hi) }
	check("scheduled share (created ≥14 d ago)", ratio(scheduled, matured), 0.5, 0.8)
	check("leakage (created ≥14 d ago)", ratio(leaked, matured), 0.2, 0.5)
	check("no-show of kept+missed", ratio(missed, kept+missed), 0.04, 0.25)
	check("auth denial", ratio(denied, approved+denied), 0.03, 0.12)
	check("incomplete (created ≥7 d ago)", ratio(incomplete, settled), 0.10, 0.40)
	check("closed loop within 14 d (matured)", ratio(loopClosed, loopCohort), 0.15, 0.6)

	// The drivers behind the shapes.
	if in, out := ratio(inLeaked, inNet), ratio(outLeaked, outNet); in >= out {
		t.Errorf("in-network referrers leak %.3f, out-of-network %.3f: want out > in", in, out)
	}
	if all, ma := ratio(denied, approved+denied), ratio(maDenied, maApproved+maDenied); ma <= all {
		t.Errorf("Medicare Advantage denial %.3f not above overall %.3f", ma, all)
	}
	if short, long := ratio(shortMissed, shortKept+shortMissed), ratio(longMissed, longKept+longMissed); long <= short {
		t.Errorf("no-shows for slots >30 d out %.3f not above <14 d %.3f", long, short)
	}
	ortho, cardio, womens := median(access["orthopedics"]), median(access["cardiology"]), median(access["womens_health"])
	t.Logf("median days to first slot: orthopedics %.1f, cardiology %.1f, womens_health %.1f", ortho, cardio, womens)
	if !(ortho < cardio && cardio < womens) {
		t.Error("access does not follow the benchmark order orthopedics < cardiology < womens_health")
	}

	// Referrers: a long tail, and some fading over the period.
	counts := make([]int, 0, len(perReferrer))
	fading := 0
	total := 0
	for _, c := range perReferrer {
		counts = append(counts, c[0]+c[1])
		total += c[0] + c[1]
		if c[0] >= 8 && float64(c[1]) <= 0.3*float64(c[0]) {
			fading++
		}
	}
	slices.SortFunc(counts, func(a, b int) int { return cmp.Compare(b, a) })
	top := 0
	for _, n := range counts[:len(counts)/10] {
		top += n
	}
	check("top 10% referrers' share", ratio(top, total), 0.4, 0.9)
	t.Logf("%d referrers, %d fading (≥8 referrals in the first half, ≤30%% of that in the second)", len(counts), fading)
	if fading < 5 {
		t.Errorf("only %d referrers fade", fading)
	}
}

func ratio(a, b int) float64 { return float64(a) / float64(b) }

// checkRange logs a measured shape and fails when it is outside [lo, hi].
func checkRange(t *testing.T, name string, got, lo, hi float64) {
	t.Helper()
	t.Logf("%-44s %.3f (want %.2f–%.2f)", name, got, lo, hi)
	if got < lo || got > hi {
		t.Errorf("%s = %.3f, want between %.2f and %.2f", name, got, lo, hi)
	}
}

// median sorts xs and returns its middle element.
func median(xs []float64) float64 { slices.Sort(xs); return xs[len(xs)/2] }

package metrics_test

import (
	"fmt"
	"hash/fnv"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/metrics/kpi/sla"
)

// goldenEnd is the last simulated day of the fixed datasets and the exporter's
// --as-of in the golden test.
var goldenEnd = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)

// fixedDataset is a small generated network: fixed seed and end, duplicates
// and out-of-order delivery, long enough for every referrer state.
func fixedDataset() generator.Config {
	cfg := generator.DefaultConfig()
	cfg.Seed = 3
	cfg.Referrals = 4000
	cfg.Days = 200
	cfg.End = goldenEnd
	cfg.Now = goldenEnd.Add(30 * 24 * time.Hour)
	cfg.DuplicateRatio = 0.03
	cfg.Shuffle = true
	return cfg
}

// spreadLocations moves each referral to one of n sites, chosen by a hash of
// its id, so a dataset has more locations than the generator's twenty.
func spreadLocations(events []event.Event, n int) {
	for i := range events {
		if events[i].Data.LocationID == "" {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(events[i].Subject))
		events[i].Data.LocationID = fmt.Sprintf("site-%02d", h.Sum32()%uint32(n)+1)
	}
}

// synthetic is a snapshot of lines service lines × locs locations with
// deterministic, internally consistent counts (totals are the sums of the
// groups), as kpi would give for the exporter's breakdowns.
func synthetic(lines, locs int, asOf time.Time) kpi.Snapshot {
	bounds := kpi.DefaultBuckets()
	s := kpi.Snapshot{AsOf: asOf, Buckets: bounds, Referrers: kpi.ReferrerActivity{ByType: map[string]kpi.ReferrerStates{}},
		Attention: kpi.ReferrerAttention{ByType: map[string]kpi.AttentionLevels{}}}
	types := []string{"primary_care", "specialist", "urgent_care", "hospital", "self"}
	for i, typ := range types {
		st := kpi.ReferrerStates{New: int64(3 + i), Active: int64(40 - i), Fading: int64(7 * i), Inactive: int64(i)}
		s.Referrers.ByType[typ] = st
		s.Referrers.Totals.New += st.New
		s.Referrers.Totals.Active += st.Active
		s.Referrers.Totals.Fading += st.Fading
		s.Referrers.Totals.Inactive += st.Inactive
		l := kpi.AttentionLevels{Critical: int64(i), High: int64(2 * i), Medium: int64(5 + i), Minor: int64(30 - i)}
		s.Attention.ByType[typ] = l
		s.Attention.Totals.Critical += l.Critical
		s.Attention.Totals.High += l.High
		s.Attention.Totals.Medium += l.Medium
		s.Attention.Totals.Minor += l.Minor
	}
	for l := range lines {
		s.ServiceLines = append(s.ServiceLines, fmt.Sprintf("line_%02d", l))
	}
	for wi, days := range []int{30, 90} {
		ws := kpi.WindowSnapshot{Window: kpi.Window(time.Duration(days) * 24 * time.Hour), ByServiceLine: map[string]kpi.Fields{},
			ByPriority: map[string]kpi.Fields{}}
		var totals kpi.Fields
		totals.TimeToSchedule.Buckets = make([]int64, len(bounds))
		totals.TimeToAppointment.Buckets = make([]int64, len(bounds))
		for l, line := range s.ServiceLines {
			var perLine kpi.Fields
			for loc := range locs {
				n := int64((wi+1)*(100+7*l+13*loc)) / int64(loc+1) // a long tail of sites
				f := counts(n)
				f.Backlog = kpi.Backlog{Days0To2: n / 9, Days3To7: n / 11, Days8To14: n / 13, Days15To30: n / 17, Days31Plus: n / 19}
				ws.Groups = append(ws.Groups, kpi.Group{Labels: []kpi.Label{{Dimension: kpi.ServiceLine, Value: line},
					{Dimension: kpi.Location, Value: fmt.Sprintf("site-%02d", loc+1)}}, Fields: f})
				addCounts(&perLine, f)
			}
			perLine.TimeToSchedule = dist(perLine.Scheduled, 2+l, bounds)
			perLine.TimeToAppointment = dist(perLine.Scheduled, 9+2*l, bounds)
			for pi, p := range sla.Priorities {
				f := counts(perLine.Referrals / int64(2+3*pi))
				f.TimeToAppointment = dist(f.Scheduled, 5+2*l-pi, bounds)
				f.TimeToTriage = dist(f.Referrals*9/10, pi, bounds)
				ws.Groups = append(ws.Groups, kpi.Group{Labels: []kpi.Label{{Dimension: kpi.ServiceLine, Value: line},
					{Dimension: kpi.Priority, Value: p}}, Fields: f})
				byPriority := ws.ByPriority[p]
				addCounts(&byPriority, f)
				byPriority.TimeToAppointment = dist(byPriority.Scheduled, 6-pi, bounds)
				byPriority.TimeToTriage = dist(byPriority.Referrals*9/10, pi, bounds)
				ws.ByPriority[p] = byPriority
			}
			perLine.TimeToTriage = dist(perLine.Referrals*9/10, 1, bounds)
			perLine.AuthTurnaround = dist(perLine.AuthDecisions, 2, bounds)
			perLine.InfoTurnaround = dist(perLine.Incomplete, 3, bounds)
			perLine.LeakedByPayerClass, perLine.LeakedByReason = map[string]int64{}, map[string]int64{}
			for i, c := range event.EnumValues("payer_class") {
				perLine.LeakedByPayerClass[c] = perLine.Leaked / int64(3+i)
			}
			for i, r := range kpi.LeakReasons {
				perLine.LeakedByReason[r] = perLine.Leaked / int64(2+i)
			}
			ws.ByServiceLine[line] = perLine
			ws.Groups = append(ws.Groups, kpi.Group{Labels: []kpi.Label{{Dimension: kpi.ServiceLine, Value: line}}, Fields: perLine})
			for ti, typ := range types {
				for ni, network := range []string{"in", "out"} {
					f := counts(perLine.Referrals / int64(len(types)*2) * int64(1+ti+ni) / 3)
					ws.Groups = append(ws.Groups, kpi.Group{Labels: []kpi.Label{{Dimension: kpi.ServiceLine, Value: line},
						{Dimension: kpi.ReferrerType, Value: typ}, {Dimension: kpi.ReferrerNetwork, Value: network}}, Fields: f})
				}
			}
			addCounts(&totals, perLine)
		}
		// the distributions and maps of every line, as the KPI SQL gives them
		totals.TimeToTriage = dist(totals.Referrals*9/10, 1, bounds)
		totals.AuthTurnaround = dist(totals.AuthDecisions, 2, bounds)
		totals.InfoTurnaround = dist(totals.Incomplete, 3, bounds)
		totals.LeakedByPayerClass, totals.LeakedByReason = map[string]int64{}, map[string]int64{}
		for _, f := range ws.ByServiceLine {
			for c, n := range f.LeakedByPayerClass {
				totals.LeakedByPayerClass[c] += n
			}
			for r, n := range f.LeakedByReason {
				totals.LeakedByReason[r] += n
			}
		}
		ws.Totals = totals
		ws.Groups = append(ws.Groups, kpi.Group{Fields: totals})
		s.Windows = append(s.Windows, ws)
	}
	return s
}

// counts fills a group's counts from its referrals.
func counts(n int64) kpi.Fields {
	return kpi.Fields{
		Referrals: n, Scheduled: n * 2 / 3, Completed: n / 2, Leaked: n / 4, InternalReferrals: n / 2,
		InternalLeaked: n / 10, Incomplete: n / 12, LoopCohort: n / 2, LoopClosed14d: n / 5,
		AppointmentsKeptOrMissed: n * 3 / 5, NoShows: n / 15, AuthDecisions: n / 3, AuthDenied: n / 40,
		TriageSLACohort: n * 4 / 5, TriageSLABreaches: n / 30,
		TimeToSchedule:    kpi.Distribution{Buckets: make([]int64, len(kpi.DefaultBuckets()))},
		TimeToAppointment: kpi.Distribution{Buckets: make([]int64, len(kpi.DefaultBuckets()))},
	}
}

func addCounts(dst *kpi.Fields, f kpi.Fields) {
	dst.Referrals += f.Referrals
	dst.Scheduled += f.Scheduled
	dst.Completed += f.Completed
	dst.Leaked += f.Leaked
	dst.InternalReferrals += f.InternalReferrals
	dst.InternalLeaked += f.InternalLeaked
	dst.Incomplete += f.Incomplete
	dst.LoopCohort += f.LoopCohort
	dst.LoopClosed14d += f.LoopClosed14d
	dst.AppointmentsKeptOrMissed += f.AppointmentsKeptOrMissed
	dst.NoShows += f.NoShows
	dst.AuthDecisions += f.AuthDecisions
	dst.AuthDenied += f.AuthDenied
	dst.TriageSLACohort += f.TriageSLACohort
	dst.TriageSLABreaches += f.TriageSLABreaches
	dst.Backlog.Days0To2 += f.Backlog.Days0To2
	dst.Backlog.Days3To7 += f.Backlog.Days3To7
	dst.Backlog.Days8To14 += f.Backlog.Days8To14
	dst.Backlog.Days15To30 += f.Backlog.Days15To30
	dst.Backlog.Days31Plus += f.Backlog.Days31Plus
}

// dist is n durations spread over the buckets, the median near bucket mid.
func dist(n int64, mid int, bounds []time.Duration) kpi.Distribution {
	d := kpi.Distribution{Count: n, Buckets: make([]int64, len(bounds))}
	if n == 0 {
		return d
	}
	mid = min(mid, len(bounds)-2)
	for i := range bounds {
		switch {
		case i < mid:
			d.Buckets[i] = n * int64(i+1) / int64(2*(mid+1))
		case i == mid:
			d.Buckets[i] = n / 2
		default:
			d.Buckets[i] = min(n, n/2+n*int64(i-mid)/int64(len(bounds)-mid-1))
		}
	}
	p50 := int64(bounds[mid] / time.Second)
	p90 := int64(bounds[min(mid+3, len(bounds)-1)] / time.Second)
	d.P50, d.P90 = &p50, &p90
	d.Sum = n * p50
	return d
}

package schema_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestAnalystViews checks the analyst views against the facts as of now on both
// engines: v_referrals is the facts with readable types, the worklist is the
// backlog's definition, the scorecard counts every recent referral once.
func TestAnalystViews(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		now := time.Now().UTC()
		e.Insert(t, db, append(slices.Clone(fixture), recentLoops(now)...))
		facts := facts(t, e, db, now)

		rows, err := e.Query(ctx, "SELECT referral_id, toUnixTimestamp(created_at), service_line, leaked, closed, "+
			"toUnixTimestamp(first_booked_at), toUnixTimestamp(access_at), days_to_appointment FROM "+db+".v_referrals ORDER BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(facts) {
			t.Fatalf("v_referrals has %d rows, the facts %d", len(rows), len(facts))
		}
		for i, f := range facts {
			r := rows[i]
			want := []string{f.ReferralID, unixOrNull(f.CreatedAt), f.ServiceLine, boolDigit(f.Leaked), boolDigit(f.Closed),
				unixOrNull(f.FirstBookedAt), unixOrNull(f.AccessAt), daysOrNull(f.CreatedAt, f.AccessAt)}
			if !slices.Equal(r, want) {
				t.Errorf("v_referrals row %v, want %v", r, want)
			}
		}

		var wantWorklist []string
		for _, f := range facts {
			if !f.CreatedAt.IsZero() && f.CreatedAt.After(now.Add(-365*24*time.Hour)) && !f.Closed && !f.Leaked && f.FirstBookedAt.IsZero() {
				wantWorklist = append(wantWorklist, f.ReferralID)
			}
		}
		rows, err = e.Query(ctx, "SELECT referral_id FROM "+db+".v_unscheduled_worklist")
		if err != nil {
			t.Fatal(err)
		}
		if got := column(rows); !slices.Equal(got, wantWorklist) {
			t.Errorf("worklist %v, want %v", got, wantWorklist)
		}

		recent, cohort, closed := 0, 0, 0
		for _, f := range facts {
			if !f.CreatedAt.IsZero() && f.CreatedAt.After(now.Add(-365*24*time.Hour)) {
				recent++
				if matured, closedInTime := loopRule(f, now); matured {
					cohort++
					if closedInTime {
						closed++
					}
				}
			}
		}
		// loops closed per referrer: its rate (rounded to 3 digits) times its
		// cohort, exact for the fixture's small cohorts
		rows, err = e.Query(ctx, "SELECT sum(referrals_365d), sum(loop_cohort), sum(round(ifNull(closed_loop_rate, 0) * loop_cohort)), count() FROM "+db+".v_referrer_scorecard")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{strconv.Itoa(recent), strconv.Itoa(cohort), strconv.Itoa(closed)}; !slices.Equal(rows[0][:3], want) {
			t.Errorf("scorecard counts (referrals in the last 365 days, loop cohort, loops closed) %v, want %v", rows[0][:3], want)
		}

		// v_loops: the referrals with a first completed visit, and the
		// closed-loop rule as columns.
		var wantLoops [][]string
		for _, f := range facts {
			if f.FirstCompletedAt.IsZero() {
				continue
			}
			matured, closedInTime := loopRule(f, now)
			wantLoops = append(wantLoops, []string{f.ReferralID, unixOrNull(f.FirstCompletedAt), unixOrNull(f.LoopClosedAt), boolDigit(matured), boolDigit(closedInTime)})
		}
		rows, err = e.Query(ctx, "SELECT referral_id, toUnixTimestamp(first_completed_at), toUnixTimestamp(loop_closed_at), loop_matured, loop_closed_within_14d FROM "+db+".v_loops ORDER BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(rows, wantLoops, slices.Equal) {
			t.Errorf("v_loops %v, want %v", rows, wantLoops)
		}
	})
}

// recentLoops are loops of every kind as of now, which the fixture's (all
// matured and closed in time) lack: one whose note came a second after
// schema.LoopClosedWithin, one whose note came exactly at it, one not
// matured yet. They are booked, so the worklist stays the fixture's.
func recentLoops(now time.Time) []row {
	at := func(d time.Duration) string { return now.Add(d).Format(time.DateTime) }
	const day = 24 * time.Hour
	d := dimsR1
	var rows []row
	for i, l := range []struct {
		completed, note time.Duration
	}{
		{-30 * day, -30*day + schema.LoopClosedWithin + time.Second},
		{-30 * day, -30*day + schema.LoopClosedWithin},
		{-5 * day, 0},
	} {
		id := "L" + strconv.Itoa(i+1)
		rows = append(rows,
			ev(id+"c", "referral.created", at(-60*day), id, created(d)),
			ev(id+"b", "appointment.booked", at(-59*day), id, appt(id+"A", at(l.completed))),
			ev(id+"v", "appointment.completed", at(l.completed), id, appt(id+"A", "")))
		if l.note != 0 {
			rows = append(rows, ev(id+"n", "communication.consult_note_sent", at(l.note), id))
		}
	}
	return rows
}

// loopRule is KPIS.md's closed-loop rule as of now, computed in Go: the first
// completed visit is at least schema.LoopClosedWithin old (matured), and the
// loop closed within LoopClosedWithin of it.
func loopRule(f schema.ReferralFact, now time.Time) (matured, closedInTime bool) {
	if f.FirstCompletedAt.IsZero() {
		return false, false
	}
	matured = !f.FirstCompletedAt.After(now.Add(-schema.LoopClosedWithin))
	closedInTime = !f.LoopClosedAt.IsZero() && f.LoopClosedAt.Sub(f.FirstCompletedAt) <= schema.LoopClosedWithin
	return matured, closedInTime
}

func unixOrNull(t time.Time) string {
	if t.IsZero() {
		return `\N`
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func daysOrNull(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return `\N`
	}
	return strconv.FormatFloat(to.Sub(from).Seconds()/86400, 'f', -1, 64)
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func column(rows [][]string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[0])
	}
	return out
}

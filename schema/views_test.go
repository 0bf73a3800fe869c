package schema_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
)

// TestAnalystViews checks the analyst views against the facts as of now on both
// engines: v_referrals is the facts with readable types, the worklist is the
// backlog's definition, the scorecard counts every recent referral once.
func TestAnalystViews(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		e.Insert(t, db, fixture)
		now := time.Now().UTC()
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

		recent := 0
		for _, f := range facts {
			if !f.CreatedAt.IsZero() && f.CreatedAt.After(now.Add(-365*24*time.Hour)) {
				recent++
			}
		}
		rows, err = e.Query(ctx, "SELECT sum(referrals_365d), count() FROM "+db+".v_referrer_scorecard")
		if err != nil {
			t.Fatal(err)
		}
		if rows[0][0] != strconv.Itoa(recent) {
			t.Errorf("scorecard counts %s referrals in the last 365 days, want %d", rows[0][0], recent)
		}
	})
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

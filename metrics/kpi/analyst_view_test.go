package kpi_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
)

// TestAnalystViewStages: the stage columns v_referrals gained in migration
// 0011 (decided_at, the authorization and information request and answer
// times, their business-day durations and leak_reason) agree, referral by
// referral, with the reference's stage facts as of now and its default
// calendar, on four months of generated referrals (duplicates, out of order)
// on ClickHouse 18.16 and chDB 26.7. The leak reasons the view counts over
// the 30-day cohort are the kpi JSON's leaked_by_reason.
func TestAnalystViewStages(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into two engines")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 14
	cfg.Referrals = 3000
	cfg.Days = 120
	// every event is at or before the end of yesterday (UTC), so "as of now"
	// is the same for the view, the KPIs and the reference
	cfg.End = time.Now().UTC().Truncate(24 * time.Hour).Add(-24 * time.Hour)
	cfg.DuplicateRatio = 0.05
	cfg.Shuffle = true
	events := testenv.GenerateEvents(t, cfg)
	now := time.Now().UTC().Truncate(time.Second)
	want := analystViewReference(events, now.Unix())
	exercisedStages(t, want)

	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		e.Load(t, db, events)
		rows, err := e.Query(ctx, "SELECT referral_id, toUnixTimestamp(decided_at), toUnixTimestamp(auth_requested_at), "+
			"toUnixTimestamp(auth_decided_at), toUnixTimestamp(info_requested_at), toUnixTimestamp(info_received_at), "+
			"business_days_to_triage, auth_turnaround_business_days, info_turnaround_business_days, leak_reason "+
			"FROM "+db+".v_referrals ORDER BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(want) {
			t.Fatalf("v_referrals has %d rows, the reference %d referrals", len(rows), len(want))
		}
		bad := 0
		for i, r := range rows {
			if !slices.Equal(r, want[i]) && bad < 10 {
				bad++
				t.Errorf("v_referrals stage columns %q,\n                   want %q", r, want[i])
			}
		}

		// leak_reason per reason over the 30-day cohort, against the KPIs
		snap, err := kpi.Request{DB: db, AsOf: now}.Evaluate(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Query(ctx, fmt.Sprintf("SELECT leak_reason, count() FROM %s.v_referrals "+
			"WHERE created_at > toDateTime(%d, 'UTC') AND created_at <= toDateTime(%d, 'UTC') AND leak_reason IS NOT NULL "+
			"GROUP BY leak_reason ORDER BY leak_reason", db, now.Add(-30*24*time.Hour).Unix(), now.Unix()))
		if err != nil {
			t.Fatal(err)
		}
		byReason := map[string]int64{}
		for _, r := range got {
			n, _ := strconv.ParseInt(r[1], 10, 64)
			byReason[r[0]] = n
		}
		for _, w := range snap.Windows {
			if w.Window.String() != "30d" {
				continue
			}
			for _, reason := range kpi.LeakReasons {
				if byReason[reason] != w.Totals.LeakedByReason[reason] {
					t.Errorf("v_referrals: %d referrals of the 30-day cohort leaked for %s, the KPIs %d",
						byReason[reason], reason, w.Totals.LeakedByReason[reason])
				}
			}
		}
	})
}

// analystViewReference is what v_referrals' stage columns hold as of T, per
// referral sorted by id, as ClickHouse prints them (\N for NULL), from the
// reference's facts and its default calendar.
func analystViewReference(events []event.Event, T int64) [][]string {
	cal := defaultRefCalendar()
	facts := referenceFacts(events, T)
	ids := make([]string, 0, len(facts))
	for id := range facts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	null := `\N`
	unix := func(ok bool, at int64) string {
		if !ok {
			return null
		}
		return strconv.FormatInt(at, 10)
	}
	bd := func(ok bool, a, b int64) string {
		if !ok {
			return null
		}
		return strconv.FormatInt(cal.businessDays(a, b), 10)
	}
	var out [][]string
	for _, id := range ids {
		r := facts[id]
		authDecided := r.authRequestedAt + r.authTurnaround
		infoReceived := r.infoRequestedAt + r.infoTurnaround
		reason := null
		if r.leakReason != "" {
			reason = r.leakReason
		}
		out = append(out, []string{id,
			unix(r.hasDecided, r.decided),
			unix(r.authRequestedAt != 0, r.authRequestedAt),
			unix(r.hasAuthTurnaround, authDecided),
			unix(r.infoRequestedAt != 0, r.infoRequestedAt),
			unix(r.hasInfoTurnaround, infoReceived),
			bd(r.hasCreated && r.hasDecided, r.created, r.decided),
			bd(r.hasAuthTurnaround, r.authRequestedAt, authDecided),
			bd(r.hasInfoTurnaround, r.infoRequestedAt, infoReceived),
			reason,
		})
	}
	return out
}

// exercisedStages fails the test if the dataset leaves a column of the view
// untested: each is set somewhere, every leak reason occurs, and some
// business-day duration differs from its calendar days (a weekend in between).
func exercisedStages(t *testing.T, rows [][]string) {
	t.Helper()
	for col, name := range []string{1: "decided_at", 2: "auth_requested_at", 3: "auth_decided_at", 4: "info_requested_at",
		5: "info_received_at", 6: "business_days_to_triage", 7: "auth_turnaround_business_days", 8: "info_turnaround_business_days"} {
		if col == 0 {
			continue
		}
		set, positive := false, false
		for _, r := range rows {
			set = set || r[col] != `\N`
			positive = positive || (col >= 6 && r[col] != `\N` && r[col] != "0")
		}
		if !set || (col >= 6 && !positive) {
			t.Errorf("the dataset leaves %s empty or zero", name)
		}
	}
	reasons := map[string]bool{}
	weekend := false
	for _, r := range rows {
		reasons[r[9]] = true
		if r[7] != `\N` {
			// an authorization decided across a weekend: more UTC dates than
			// business days between request and decision
			req, _ := strconv.ParseInt(r[2], 10, 64)
			decided, _ := strconv.ParseInt(r[3], 10, 64)
			business, _ := strconv.ParseInt(r[7], 10, 64)
			weekend = weekend || decided/86400-req/86400 > business
		}
	}
	if !weekend {
		t.Error("no authorization of the dataset spans a weekend: business days are not told from calendar days")
	}
	for _, reason := range kpi.LeakReasons {
		if !reasons[reason] {
			t.Errorf("the dataset has no referral leaked for %s", reason)
		}
	}
}

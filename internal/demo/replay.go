package demo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/schema"
)

// resumeMargin is how far before the newest stored event a resumed demo
// starts delivering again: events produced but not yet stored when the last
// run stopped are delivered again, stored ones are deduplicated.
const resumeMargin = time.Hour

// replayPlan is what this run replays, given what the database holds.
type replayPlan struct {
	from    time.Time // referrals created from then on are simulated
	skip    time.Time // events at or before were delivered by an earlier run; zero: none
	end     time.Time // replayed through; the live stream starts there
	stored  int64     // demo referrals already stored
	first   time.Time // creation of the first stored one
	last    time.Time // the newest stored demo event
	refresh bool      // stored data is older than the replay period: replayed in full
}

// planReplay replays the --days up to --live-catchup ago, unless the
// database already holds the demo stream's data: then the stream is resumed
// shortly before its newest stored event (the stream is deterministic, so
// what is delivered again is deduplicated, not doubled).
func planReplay(ctx context.Context, q clickhouse.Querier, db string, c *Config) (replayPlan, error) {
	end := c.now().Add(-c.catchUp).Truncate(time.Second)
	p := replayPlan{from: end.Add(-time.Duration(c.days) * 24 * time.Hour), end: end}
	like := "referral_id LIKE '" + generator.StreamReferralLike + "'"
	rows, err := q.Query(ctx, "SELECT uniqExact(referral_id), toUnixTimestamp(min(event_time)) FROM "+schema.EventsTable(db)+" WHERE event_type = 'referral.created' AND "+like)
	if err != nil {
		return p, fmt.Errorf("reading what %s holds: %w", db, err)
	}
	if len(rows) == 1 {
		p.stored, _ = strconv.ParseInt(rows[0][0], 10, 64)
	}
	if p.stored == 0 {
		return p, nil
	}
	first, _ := strconv.ParseInt(rows[0][1], 10, 64)
	rows, err = q.Query(ctx, "SELECT toUnixTimestamp(max(event_time)) FROM "+schema.EventsTable(db)+" WHERE "+like)
	if err != nil || len(rows) != 1 {
		return p, fmt.Errorf("reading what %s holds: %w", db, err)
	}
	last, _ := strconv.ParseInt(rows[0][0], 10, 64)
	p.first, p.last = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
	skip := p.last.Add(-resumeMargin)
	if skip.Before(p.from) {
		// Too old to continue: replay the period in full. Its referrals are
		// all new (created after everything stored), so nothing overlaps.
		p.refresh = true
		return p, nil
	}
	p.skip = skip
	p.from = maxTime(p.first, skip.Add(-generator.MaxReferralLifetime))
	p.end = maxTime(end, skip)
	return p, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p replayPlan) describe(db string, c *Config) string {
	rate := fmt.Sprintf("%.0f referrals a day, seed %d", c.stream.PerDay, c.stream.Seed)
	switch {
	case !p.skip.IsZero():
		return fmt.Sprintf("ClickHouse %s already holds the demo's %d referrals created since %s, events through %s: not replayed again; "+
			"resuming from %s (%s; --fresh starts over)",
			db, p.stored, p.first.Format(time.DateOnly), p.last.Format(time.RFC3339), p.skip.Format(time.RFC3339), rate)
	case p.refresh:
		return fmt.Sprintf("ClickHouse %s holds the demo's data through %s, more than --days %d ago: replaying the last %d days in full (%s)",
			db, p.last.Format(time.RFC3339), c.days, c.days, rate)
	}
	return fmt.Sprintf("replaying %d days of referrals, created %s to %s (%s)",
		c.days, p.from.Format(time.RFC3339), p.end.Format(time.RFC3339), rate)
}

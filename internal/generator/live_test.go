package generator_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
)

// liveFrom is a Monday 00:00 UTC, so whole weeks from it have the average
// weekly rate.
var liveFrom = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

// streamed is one message of a stream with the Advance target it was
// emitted under and, for valid events, the decoded event.
type streamed struct {
	msg   generator.Message
	to    time.Time
	event event.Event
}

// advance runs s to `to` in steps, decoding every message with a decoder
// whose clock is the step's target: an event later than that is invalid.
func advance(t *testing.T, s *generator.Stream, to time.Time, step time.Duration) []streamed {
	t.Helper()
	var out []streamed
	for at := s.Now().Add(step); ; at = at.Add(step) {
		at = minTime(at, to)
		dec := event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return at })
		err := s.Advance(context.Background(), at, func(m generator.Message) error {
			m.Value = bytes.Clone(m.Value)
			st := streamed{msg: m, to: at}
			e, err := dec.Decode(m.Value, m.Headers)
			var de *event.Error
			switch {
			case m.Invalid != "":
				if !errors.As(err, &de) || de.Reason != m.Invalid {
					t.Fatalf("invalid message decoded as %v, want reason %s", err, m.Invalid)
				}
			case err != nil:
				t.Fatalf("event %s (%s) does not decode: %v", m.EventID, m.Type, err)
			default:
				st.event = e
			}
			out = append(out, st)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !at.Before(to) {
			return out
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func newStream(t *testing.T, cfg generator.StreamConfig, from time.Time) *generator.Stream {
	t.Helper()
	s, err := generator.NewStream(cfg, from)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLiveStreamOrderAndRate: events come in time order, none after the time
// the stream was advanced to (in simulated time, with steps of a few
// minutes as a live demo makes), every message is what it claims (valid
// events decode, invalid ones fail with their reason), and referrals are
// created at the configured rate, measured in simulated time.
func TestLiveStreamOrderAndRate(t *testing.T) {
	cfg := generator.DefaultStreamConfig()
	cfg.PerDay = 400
	cfg.InvalidRatio = 0.01
	s := newStream(t, cfg, liveFrom)
	weeks := 2
	to := liveFrom.Add(time.Duration(weeks) * 7 * 24 * time.Hour)
	out := advance(t, s, to, 7*time.Minute)

	var last time.Time
	created, valid, dups, invalid := 0, 0, 0, 0
	prevTo := liveFrom
	for _, m := range out {
		switch {
		case m.msg.Invalid != "":
			invalid++
			continue
		case m.msg.Duplicate:
			dups++
			continue
		}
		valid++
		e := m.event
		if e.Time.After(m.to) {
			t.Fatalf("event %s at %s emitted when the stream was at %s: in the future", e.ID, e.Time, m.to)
		}
		if e.Time.Before(last) {
			t.Fatalf("event %s at %s after an event at %s: out of order", e.ID, e.Time, last)
		}
		if m.to != prevTo && !e.Time.After(prevTo) {
			t.Fatalf("event %s at %s emitted late, in the step to %s", e.ID, e.Time, m.to)
		}
		prevTo, last = m.to, e.Time
		if e.Type == event.ReferralCreated {
			created++
			if e.Time.Before(liveFrom) {
				t.Fatalf("referral created at %s, before the stream's start %s", e.Time, liveFrom)
			}
		}
	}
	want := cfg.PerDay * float64(weeks*7)
	if math.Abs(float64(created)-want) > 0.05*want {
		t.Errorf("%d referrals created in %d simulated days, want %.0f ± 5%%", created, weeks*7, want)
	}
	if valid < 3*created { // two weeks in, most referrals are still open
		t.Errorf("%d events for %d referrals: follow-up events are missing", valid, created)
	}
	if dups == 0 || invalid == 0 {
		t.Errorf("%d duplicates and %d invalid messages, want some of each", dups, invalid)
	}
	st := s.Stats()
	if st.Referrals != created || st.Events != valid || st.Duplicates != dups || st.Invalid != invalid {
		t.Errorf("stats %+v, counted %d referrals, %d events, %d duplicates, %d invalid", st, created, valid, dups, invalid)
	}
}

// TestLiveStreamOfficeHours: most referrals arrive in weekday office hours
// (13-22 UTC), as in Generate.
func TestLiveStreamOfficeHours(t *testing.T) {
	s := newStream(t, generator.DefaultStreamConfig(), liveFrom)
	office, all := 0, 0
	for _, m := range advance(t, s, liveFrom.Add(7*24*time.Hour), 24*time.Hour) {
		if m.event.Type != event.ReferralCreated || m.msg.Duplicate {
			continue
		}
		all++
		if h, wd := m.event.Time.Hour(), m.event.Time.Weekday(); h >= 13 && h < 22 && wd != time.Saturday && wd != time.Sunday {
			office++
		}
	}
	if all == 0 || float64(office)/float64(all) < 0.7 {
		t.Errorf("%d of %d referrals in weekday office hours, want most", office, all)
	}
}

// TestLiveStreamResumes: the stream is anchored to absolute time. A stream
// started later, or started at the same time but skipping what an earlier
// run delivered, emits exactly the events of the uninterrupted stream (same
// ids, same bytes) for the referrals and times it covers: a second demo run
// redelivers nothing new and loses nothing.
func TestLiveStreamResumes(t *testing.T) {
	cfg := generator.DefaultStreamConfig()
	cfg.PerDay = 200
	cfg.DuplicateRatio, cfg.InvalidRatio = 0, 0
	end := liveFrom.Add(20 * 24 * time.Hour)
	full := advance(t, newStream(t, cfg, liveFrom), end, 3*time.Hour)

	// Resumed: the same start, skipping the first 12 days, stepping differently.
	stop := liveFrom.Add(12*24*time.Hour + 5*time.Hour + 17*time.Minute)
	resumed := newStream(t, cfg, liveFrom)
	resumed.SkipThrough(stop)
	var want []streamed
	for _, m := range full {
		if m.event.Time.After(stop) {
			want = append(want, m)
		}
	}
	sameMessages(t, "resumed", advance(t, resumed, end, 50*time.Minute), want)

	// Started later: the referrals created from then on are the same.
	later := liveFrom.Add(9*24*time.Hour + 30*time.Minute)
	want = want[:0]
	referrals := map[string]bool{}
	for _, m := range full {
		if m.event.Type == event.ReferralCreated && !m.event.Time.Before(later) {
			referrals[m.event.Subject] = true
		}
		if referrals[m.event.Subject] {
			want = append(want, m)
		}
	}
	if len(referrals) < 1000 {
		t.Fatalf("only %d referrals created after %s", len(referrals), later)
	}
	sameMessages(t, "started later", advance(t, newStream(t, cfg, later), end, 4*time.Hour), want)
}

func sameMessages(t *testing.T, what string, got, want []streamed) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i].msg, want[i].msg
		if g.EventID != w.EventID || !bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) || len(g.Headers) != len(w.Headers) {
			t.Fatalf("%s: message %d is %s %s, want %s %s", what, i, g.EventID, g.Value, w.EventID, w.Value)
		}
	}
}

// TestLiveStreamIDs: stream referral ids match StreamReferralLike's shape
// and are distinct from Generate's.
func TestLiveStreamIDs(t *testing.T) {
	s := newStream(t, generator.DefaultStreamConfig(), liveFrom)
	ids := map[string]bool{}
	for _, m := range advance(t, s, liveFrom.Add(48*time.Hour), 48*time.Hour) {
		if m.msg.Invalid != "" || m.msg.Duplicate {
			continue
		}
		if ids[m.msg.EventID] {
			t.Fatalf("event id %s emitted twice", m.msg.EventID)
		}
		ids[m.msg.EventID] = true
		if id := m.event.Subject; len(id) != len(generator.StreamReferralLike) || id[:2] != "R-" || id < "R-1073741825" {
			t.Fatalf("referral id %q does not have the stream's shape %s", id, generator.StreamReferralLike)
		}
	}
	if len(ids) == 0 {
		t.Fatal("no events")
	}
}

// TestLiveClock: the simulated clock runs Speed times faster than the wall
// clock until it has caught up, then follows it, and is never ahead of it.
func TestLiveClock(t *testing.T) {
	wall0 := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	c := generator.LiveClock{SimStart: wall0.Add(-24 * time.Hour), WallStart: wall0, Speed: 60}
	for _, tc := range []struct {
		wall time.Duration // after wall0
		want time.Duration // sim after SimStart
	}{
		{0, 0},
		{-time.Minute, 0},
		{time.Minute, time.Hour},
		{10 * time.Minute, 10 * time.Hour},
		{24 * time.Hour, 48 * time.Hour}, // caught up: the wall clock
	} {
		if got := c.At(wall0.Add(tc.wall)).Sub(c.SimStart); got != tc.want {
			t.Errorf("At(wall0%+v) = SimStart%+v, want SimStart%+v", tc.wall, got, tc.want)
		}
	}
	caught := c.CaughtUp()
	if d := caught.Sub(wall0); d < 24*time.Minute || d > 25*time.Minute {
		t.Errorf("caught up %s after the start, want 24h/59 ≈ 24.4m", d)
	}
	for d := time.Duration(0); d < 48*time.Hour; d += 7 * time.Minute {
		w := wall0.Add(d)
		if sim := c.At(w); sim.After(w) {
			t.Fatalf("at wall %s the simulated clock is at %s, in the future", w, sim)
		}
	}
}

// TestLiveRun: RunLive advances the stream along the clock on each tick
// and flushes after each advance; it stops without error when ctx ends.
func TestLiveRun(t *testing.T) {
	wall := liveFrom.Add(24 * time.Hour)
	clock := generator.LiveClock{SimStart: liveFrom, WallStart: wall, Speed: 3600} // an hour a second
	s := newStream(t, generator.DefaultStreamConfig(), liveFrom)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var emitted, flushes int
	now := func() time.Time { wall = wall.Add(time.Second); return wall }
	err := generator.RunLive(ctx, s, clock, time.Millisecond, now,
		func(generator.Message) error { emitted++; return nil },
		func(context.Context) error {
			if flushes++; flushes == 10 {
				cancel()
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if want := liveFrom.Add(10 * time.Hour); !s.Now().Equal(want) {
		t.Errorf("after 10 ticks of a simulated hour the stream is at %s, want %s", s.Now(), want)
	}
	if emitted == 0 {
		t.Error("nothing emitted")
	}
}

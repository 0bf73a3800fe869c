package generator

import (
	"context"
	"time"
)

// LiveClock maps wall-clock time to a Stream's simulated time for a live
// demo: from SimStart at WallStart, Speed simulated seconds pass per wall
// second, but simulated time never passes the wall clock. A stream started
// in the past therefore plays fast until it has caught up with now, and then
// follows the wall clock: no event is ever in the future, which the decoder
// would dead-letter (future_time) and the KPIs, evaluated as of now, would
// not count.
type LiveClock struct {
	SimStart  time.Time
	WallStart time.Time
	Speed     float64
}

// At is the simulated time at wall time wall, in whole seconds.
func (c LiveClock) At(wall time.Time) time.Time {
	elapsed := float64(wall.Sub(c.WallStart)) * c.Speed
	sim := c.SimStart.Add(time.Duration(min(elapsed, float64(wall.Sub(c.SimStart)))))
	if sim.Before(c.SimStart) {
		sim = c.SimStart
	}
	return sim.Truncate(time.Second)
}

// CaughtUp is the wall time at which the simulated clock reaches the wall
// clock and slows to real time.
func (c LiveClock) CaughtUp() time.Time {
	lag := c.WallStart.Sub(c.SimStart)
	if lag <= 0 || c.Speed <= 1 {
		return c.WallStart
	}
	return c.WallStart.Add(time.Duration(float64(lag) / (c.Speed - 1)))
}

// RunLive advances s to clock.At(now()) every tick until ctx ends, then
// returns nil. flush runs after each advance (a producer's flush, so that
// what was emitted reaches the broker while it is news).
func RunLive(ctx context.Context, s *Stream, clock LiveClock, tick time.Duration, now func() time.Time,
	emit func(Message) error, flush func(context.Context) error) error {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if err := s.Advance(ctx, clock.At(now()), emit); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := flush(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

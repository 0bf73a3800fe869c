package ingest

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is capped exponential backoff with full jitter: the n-th wait is uniform
// in [min, min(max, min·2ⁿ)], so many ingesters retrying one ClickHouse do not
// arrive in step.
type backoff struct {
	min, max time.Duration
	attempt  int
}

func (b *backoff) next() time.Duration {
	ceil := b.min << min(b.attempt, 30)
	if ceil > b.max || ceil <= 0 {
		ceil = b.max
	}
	b.attempt++
	return b.min + rand.N(ceil-b.min+1)
}

func (b *backoff) reset() { b.attempt = 0 }

// sleep waits d, or less if ctx ends first; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

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

// slow is the wait after a permanent failure, which only an operator ends:
// uniform in [max/2, max], so a refused INSERT is tried a few times a minute,
// never in a hot loop, and a fix is still picked up soon.
func (b *backoff) slow() time.Duration {
	return b.max/2 + rand.N(b.max-b.max/2+1)
}

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

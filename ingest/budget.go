package ingest

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// budget bounds the bytes of the records held between fetch and store
// (--max-buffered-bytes): a fetcher takes a record's size before handing it
// on, and the batch that holds it gives the size back once it is stored (its
// commit waits for the patient-order refresh, holding no rows). A
// full budget stops the fetchers, as a full batch pipeline does, so memory
// follows the bytes in flight, not the count of records, whatever their
// sizes.
type budget struct {
	size int64
	sem  *semaphore.Weighted // FIFO: a large record is not starved by small ones

	mu         sync.Mutex
	used, peak int64
	gauge      prometheus.Gauge
	peakGauge  prometheus.Gauge
}

func newBudget(size int64, gauge, peak prometheus.Gauge) *budget {
	return &budget{size: size, sem: semaphore.NewWeighted(size), gauge: gauge, peakGauge: peak}
}

// take waits until n bytes are free, or ctx ends, and returns what it took. A
// record larger than the whole budget takes all of it: it waits until nothing
// else is held and then passes alone, where asking for more than the budget
// would wait for ever.
func (b *budget) take(ctx context.Context, n int64) (int64, error) {
	n = min(n, b.size)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used += n
	b.gauge.Set(float64(b.used))
	if b.used > b.peak {
		b.peak = b.used
		b.peakGauge.Set(float64(b.peak))
	}
	return n, nil
}

// give returns n bytes that take returned.
func (b *budget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.gauge.Set(float64(b.used))
	b.mu.Unlock()
	b.sem.Release(n)
}

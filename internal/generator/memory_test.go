package generator

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// Memory grows with the referrals in flight, not with the events: a run of
// over a million events stays within a small, fixed budget.
func TestMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million events")
	}
	cfg := DefaultConfig()
	cfg.End = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cfg.Days = 365
	cfg.Referrals = 180_000
	cfg.Shuffle = true
	cfg.DuplicateRatio = 0.05
	cfg.InvalidRatio = 0.001
	cfg.MaxMessageBytes = 64 << 10

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	n := 0
	stats, err := Generate(context.Background(), cfg, func(Message) error {
		if n++; n%50_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc-min(base, ms.HeapAlloc))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events, %d messages, peak live heap %.1f MiB", stats.Events, n, float64(peak)/(1<<20))
	if stats.Events < 1_000_000 {
		t.Fatalf("only %d events", stats.Events)
	}
	if peak > 64<<20 {
		t.Errorf("peak live heap %.1f MiB, want under 64 MiB", float64(peak)/(1<<20))
	}
}

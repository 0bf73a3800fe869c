//go:build unix

package ingest

import (
	"runtime"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
)

// Allocations on the ingester's per-record path are garbage the collector
// pays for again and again (make bench's ingest_gc_cpu_seconds_per_million_events).

func TestAllocDecodeHeaders(t *testing.T) {
	msgs := benchMessages(t, 600)
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	in := &Ingester{cfg: DefaultConfig(), decoder: event.NewDecoder(event.DefaultConfig()).WithClock(func() time.Time { return now })}
	binary := -1
	for i := range msgs {
		for _, h := range msgs[i].Headers {
			if h.Key == "ce_id" {
				binary = i
			}
		}
	}
	if binary < 0 {
		t.Fatal("the generator's mix has no binary-mode record")
	}
	m := &msgs[binary]
	var it item
	if in.decode(m, &it); it.dead != nil || it.ev.ID == "" {
		t.Fatalf("record %d not decoded: dead %v", binary, it.reason)
	}
	// The headers are converted into a scratch slice the ingester keeps.
	if n := testing.AllocsPerRun(50, func() { it = item{}; in.decode(m, &it) }); n != 0 {
		t.Errorf("decoding a binary-mode record (%d headers) allocates %.0f times, want 0", len(m.Headers), n)
	}
	if it.ev.ID == "" {
		t.Error("the last decode gave no event")
	}
}

func TestAllocViewsSurviveGC(t *testing.T) {
	for len(views) > 0 { // what earlier tests left
		<-views
	}
	v := getViews()
	putViews(v)
	// A sync.Pool drops what it holds within two collections.
	runtime.GC()
	runtime.GC()
	if got := getViews(); got != v {
		t.Error("the blockViews put back were not kept across garbage collections: each INSERT grows new ones")
	}
}

func TestAllocReserveDoubles(t *testing.T) {
	var s []uint32
	grows := 0
	for i := range 1 << 20 {
		before := cap(s)
		s = append(reserve(s, 1), uint32(i))
		if cap(s) != before {
			grows++
			if before > 0 && cap(s) < 2*before {
				t.Fatalf("grew from %d to %d, want at least double", before, cap(s))
			}
		}
	}
	if grows > 21 {
		t.Errorf("%d allocations to reach %d elements, want at most 21", grows, len(s))
	}
}

package ingest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestBudget: takes wait while the bytes are held and pass once they are
// given back; a record larger than the budget takes all of it; the gauges
// follow the bytes held and their peak, which never exceeds the budget.
func TestBudget(t *testing.T) {
	used, peak := prometheus.NewGauge(prometheus.GaugeOpts{Name: "u"}), prometheus.NewGauge(prometheus.GaugeOpts{Name: "p"})
	b := newBudget(100, used, peak)
	ctx := context.Background()
	if n, err := b.take(ctx, 60); n != 60 || err != nil {
		t.Fatalf("take 60 of 100: %d, %v", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.take(short, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("take 50 with 40 free: %v, want it to wait until its context ends", err)
	}
	got := make(chan int64)
	go func() {
		n, _ := b.take(ctx, 1000) // larger than the budget: all of it, once free
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("a take of the whole budget passed while 60 bytes are held (%d)", n)
	case <-time.After(50 * time.Millisecond):
	}
	b.give(60)
	if n := <-got; n != 100 {
		t.Errorf("a record over the budget took %d, want the whole budget 100", n)
	}
	if u, p := testutil.ToFloat64(used), testutil.ToFloat64(peak); u != 100 || p != 100 {
		t.Errorf("buffered %v, peak %v; want 100 and 100", u, p)
	}
	b.give(100)
	if u := testutil.ToFloat64(used); u != 0 {
		t.Errorf("buffered %v after everything was given back", u)
	}
}

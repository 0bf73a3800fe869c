package lifecycle_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/referralops/referralops/internal/lifecycle"
)

// trace records the order in which parts stop.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (t *trace) add(e string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, e)
}

func (t *trace) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.events)
}

// component waits for its context, notes that it stopped and returns err.
func component(tr *trace, name string, started *sync.WaitGroup, err error) func(context.Context) error {
	started.Add(1)
	return func(ctx context.Context) error {
		started.Done()
		<-ctx.Done()
		tr.add(name)
		return err
	}
}

// TestStopOrder: when ctx ends, the parts stop in reverse order of adding,
// each component only after every part added after it is done.
func TestStopOrder(t *testing.T) {
	var tr trace
	var started sync.WaitGroup
	var g lifecycle.Group
	g.Go(component(&tr, "http", &started, nil))
	g.Close(func() { tr.add("close clickhouse") })
	g.Go(component(&tr, "exporter", &started, nil))
	g.Go(component(&tr, "ingester", &started, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	started.Wait()
	if got := tr.get(); len(got) != 0 {
		t.Fatalf("stopped before ctx ended: %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []string{"ingester", "exporter", "close clickhouse", "http"}
	if got := tr.get(); !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
}

// TestComponentFailureStopsTheRest: a component's error stops the group in
// order; the others see it as their context's cause and Run returns it, not
// the errors returned while stopping.
func TestComponentFailureStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	later := errors.New("error while stopping")
	var tr trace
	var started sync.WaitGroup
	var g lifecycle.Group
	g.Go(component(&tr, "http", &started, later))
	g.Close(func() { tr.add("close") })
	var cause error
	started.Add(1)
	g.Go(func(ctx context.Context) error {
		started.Done()
		<-ctx.Done()
		cause = context.Cause(ctx)
		tr.add("exporter")
		return nil
	})
	failing := make(chan struct{})
	g.Go(func(ctx context.Context) error {
		<-failing
		tr.add("ingester")
		return boom
	})
	g.Go(component(&tr, "driver", &started, nil))
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	started.Wait()
	close(failing)
	if err := <-done; !errors.Is(err, boom) {
		t.Fatalf("Run: %v, want %v", err, boom)
	}
	want := []string{"ingester", "driver", "exporter", "close", "http"}
	if got := tr.get(); !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v", got, want)
	}
	if !errors.Is(cause, boom) {
		t.Errorf("the exporter's context cause is %v, want %v", cause, boom)
	}
}

// TestComponentReturnsNil: a component that returns without an error (the
// demo's driver when it is done) stops the group, which then succeeds; the
// others' cause is context.Canceled, not their parent's.
func TestComponentReturnsNil(t *testing.T) {
	var started sync.WaitGroup
	var g lifecycle.Group
	var cause error
	started.Add(1)
	g.Go(func(ctx context.Context) error {
		started.Done()
		<-ctx.Done()
		cause = context.Cause(ctx)
		return nil
	})
	g.Go(func(ctx context.Context) error { started.Wait(); return nil })
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(cause, context.Canceled) || ctx.Err() != nil {
		t.Errorf("cause %v (parent %v), want context.Canceled and the parent alive", cause, ctx.Err())
	}
}

// TestStoppingError: with no failure before ctx ended, Run returns the first
// error a component returns while stopping, in stop order.
func TestStoppingError(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	var tr trace
	var started sync.WaitGroup
	var g lifecycle.Group
	g.Go(component(&tr, "a", &started, second))
	g.Go(component(&tr, "b", &started, first))
	g.Go(component(&tr, "c", &started, nil))
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("SIGTERM")
	go func() { started.Wait(); cancel(stop) }()
	if err := g.Run(ctx); !errors.Is(err, first) {
		t.Errorf("Run: %v, want %v", err, first)
	}
}

// TestCauseFromParent: the components' contexts end with the parent's cause.
func TestCauseFromParent(t *testing.T) {
	var g lifecycle.Group
	var cause error
	started := make(chan struct{})
	g.Go(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		cause = context.Cause(ctx)
		return nil
	})
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("SIGTERM")
	go func() { <-started; cancel(stop) }()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !errors.Is(cause, stop) {
		t.Errorf("cause %v, want %v", cause, stop)
	}
}

// TestOnlyResources: a group of resources closes them, in reverse order, when
// ctx ends.
func TestOnlyResources(t *testing.T) {
	var tr trace
	var g lifecycle.Group
	g.Close(func() { tr.add("1") })
	g.Close(func() { tr.add("2") })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tr.get(); !slices.Equal(got, []string{"2", "1"}) {
		t.Errorf("closed %v, want [2 1]", got)
	}
}

// TestWaitsForLaterParts: while a component is finishing its work (the
// ingester flushing its last batch), the parts added before it keep running
// (the HTTP server) and open (ClickHouse).
func TestWaitsForLaterParts(t *testing.T) {
	var g lifecycle.Group
	httpCtx := make(chan context.Context, 1)
	g.Go(func(ctx context.Context) error { httpCtx <- ctx; <-ctx.Done(); return nil })
	closed := make(chan struct{})
	g.Close(func() { close(closed) })
	flushing, flushed := make(chan struct{}), make(chan struct{})
	g.Go(func(ctx context.Context) error {
		<-ctx.Done()
		close(flushing)
		<-flushed
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	hc := <-httpCtx
	cancel()
	<-flushing
	select {
	case <-closed:
		t.Error("the resource was closed while a component added after it was still working")
	default:
	}
	if hc.Err() != nil {
		t.Error("the HTTP server was stopped while a component added after it was still working")
	}
	close(flushed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if hc.Err() == nil {
		t.Error("the HTTP server's context did not end")
	}
	<-closed
}

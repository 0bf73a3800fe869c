// Package lifecycle runs the long-running parts of one process together and
// stops them in a fixed order: the reverse of the order they were added, each
// one only once everything added after it has returned, like deferred calls.
// So a process writes its shutdown order down once, as the order it adds its
// parts in.
//
// It plays the part of Prometheus' run.Group (github.com/oklog/run), which
// interrupts all actors at once and only then waits for them: here the HTTP
// server must keep answering /readyz, and ClickHouse stay open, until the
// ingester has flushed, inserted and committed its last batch.
package lifecycle

import "context"

// Group is the parts of a process in start order. The zero value is empty.
type Group struct {
	steps []step
}

// step is a component (run) or a resource the components added after it use
// (close); exactly one is set.
type step struct {
	run   func(ctx context.Context) error
	close func()
}

// Go adds a component. It runs until its context ends, then finishes its work
// and returns. Its returning, with or without an error, stops the group.
func (g *Group) Go(run func(ctx context.Context) error) {
	g.steps = append(g.steps, step{run: run})
}

// Close adds a resource, closed once every component added after it has
// returned and before any component added before it is stopped.
func (g *Group) Close(close func()) {
	g.steps = append(g.steps, step{close: close})
}

// Run starts the components in the order they were added and waits until ctx
// ends or one of them returns. It then stops the parts in reverse order: it
// cancels a component's context and waits for it to return, or closes a
// resource, before it goes on to the part added before. A component's context
// is cancelled with the cause that stopped the group: context.Cause(ctx), or
// the error of the component that returned first (context.Canceled if that
// was nil).
//
// Run returns the error of the component that stopped the group, or else the
// first error a component returned while stopping.
func (g *Group) Run(ctx context.Context) error {
	type running struct {
		cancel context.CancelCauseFunc
		done   chan struct{}
		err    error
	}
	parts := make([]*running, len(g.steps))
	returned := make(chan *running, len(g.steps))
	for i, s := range g.steps {
		if s.run == nil {
			continue
		}
		// Not derived from ctx: the group decides when each part stops.
		runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
		r := &running{cancel: cancel, done: make(chan struct{})}
		parts[i] = r
		go func() {
			defer close(r.done)
			r.err = s.run(runCtx)
			returned <- r
		}()
	}

	var first *running
	var cause error
	select {
	case <-ctx.Done():
		cause = context.Cause(ctx)
	case first = <-returned:
		cause = first.err
	}
	if cause == nil {
		cause = context.Canceled
	}
	var errs []error
	if first != nil {
		errs = append(errs, first.err)
	}
	for i := len(g.steps) - 1; i >= 0; i-- {
		r := parts[i]
		if r == nil {
			g.steps[i].close()
			continue
		}
		r.cancel(cause)
		<-r.done
		if r != first {
			errs = append(errs, r.err)
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

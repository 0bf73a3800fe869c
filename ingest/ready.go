package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Ready says why the ingester cannot do its job yet, or nil.
func (in *Ingester) Ready() error {
	waiting := in.waiting.Load()
	switch refused := in.refused.Load(); {
	case refused != nil:
		return errors.New(*refused)
	case in.stopping.Load():
		return errors.New("shutting down")
	case waiting != nil:
		return errors.New(*waiting)
	case !in.joined.Load():
		return errors.New("not yet joined to the consumer group")
	case in.stalled():
		stall := fmt.Errorf("stalled: records are waiting and none was committed for %s (--stall-timeout %s)",
			time.Since(time.Unix(0, in.lastProgress.Load())).Round(time.Second), in.cfg.StallTimeout)
		if cause := in.unhealthy(); cause != nil {
			return fmt.Errorf("%w; %w", stall, cause)
		}
		return stall
	}
	return in.unhealthy()
}

// unhealthy says which dependency fails, or nil.
func (in *Ingester) unhealthy() error {
	switch {
	case !in.clickhouse.up():
		return errors.New("ClickHouse does not answer")
	case !in.inserts.up() || !in.refreshes.up():
		if f := in.insertFailure.Load(); f != nil {
			return errors.New("ClickHouse refuses inserts: " + f.String())
		}
		return errors.New("ClickHouse refuses inserts")
	case !in.deadLetter.up():
		if need := in.deadLetter.needs(); need != "" {
			return fmt.Errorf("dead-letter topic %s refuses writes; needs %s", in.kafka.Topics.DeadLetters, need)
		}
		return fmt.Errorf("dead-letter topic %s refuses writes", in.kafka.Topics.DeadLetters)
	}
	// A transient Kafka failure passes by itself (kafka-go retries); a
	// refusal waits for an operator's grant.
	if need := in.broker.needs(); need != "" {
		return fmt.Errorf("Kafka refuses the ingester; needs %s", need)
	}
	return nil
}

// progressed records progress: a commit, or nothing left to do.
func (in *Ingester) progressed() {
	now := time.Now()
	in.lastProgress.Store(now.UnixNano())
	in.metrics.lastProgress.Set(float64(now.UnixNano()) / 1e9)
}

// stalled reports whether records are waiting and there was no progress for
// the stall timeout: the pipeline is stuck, whatever the dependencies say.
func (in *Ingester) stalled() bool {
	return in.behind.Load() && time.Since(time.Unix(0, in.lastProgress.Load())) > in.cfg.StallTimeout
}

// watchClickHouse pings ClickHouse so readiness follows it while idle too.
func (in *Ingester) watchClickHouse(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := in.store.Ping(pingCtx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			in.metrics.clickhouseErrors.Inc()
			in.clickhouse.failed(err)
		} else {
			in.clickhouse.ok()
			in.watchSchema(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchSchema checks the schema while ClickHouse answers and it is not known
// to be complete, so that /readyz names a missing migration before the first
// record, and turns ready again once `referralops migrate` ran.
func (in *Ingester) watchSchema(ctx context.Context) {
	if in.schemaOK.Load() {
		return
	}
	checkCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err := in.checkSchema(checkCtx)
	switch {
	case errors.Is(err, errSchemaBehind):
		in.inserts.failedWith(err, schemaBehind, in.insertFailed(checkCtx, err))
	case err == nil:
		// Only the check's own failure (no code): an INSERT that found a
		// column missing despite every migration fails until it stores.
		if f := in.insertFailure.Load(); f != nil && f.class == schemaBehind && f.Code == "" {
			in.inserts.ok()
		}
	}
}

// dependency logs a dependency's outages once per state change.
type dependency struct {
	name     string
	logger   *slog.Logger
	mu       sync.Mutex
	down     bool
	since    time.Time
	failures int
	need     string // what a permanent failure needs, or ""
	healthy  atomic.Bool
}

func (d *dependency) up() bool { return d.healthy.Load() }

// newDependency returns a tracked dependency; presumedUp is its state before
// the first report (inserts are presumed to work until one fails).
func newDependency(name string, logger *slog.Logger, presumedUp bool) *dependency {
	d := &dependency{name: name, logger: logger}
	d.healthy.Store(presumedUp)
	return d
}

func (d *dependency) failed(err error) { d.failedWith(err, transient, "") }

// failedWith records a failure of class c; need is what a permanent one needs.
// It logs the first failure, and again when what is needed changes (a
// ClickHouse that answers again, but refuses the INSERT).
func (d *dependency) failedWith(err error, c errClass, need string) {
	d.healthy.Store(false)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	if d.down && need == d.need {
		return
	}
	if !d.down {
		d.down, d.since = true, time.Now()
	}
	d.need = need
	if c.permanent() {
		d.logger.Error(d.name+" refused; not ready, retrying slowly until an operator fixes it",
			"class", c.String(), "needs", need, "err", err)
		return
	}
	d.logger.Error(d.name+" failed; retrying until it answers", "err", err)
}

// needs is what the current permanent failure needs, or "".
func (d *dependency) needs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.down {
		return ""
	}
	return d.need
}

func (d *dependency) ok() {
	d.healthy.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		d.logger.Info(d.name+" answers again", "down_for", time.Since(d.since).Round(time.Millisecond), "failures", d.failures)
		d.down, d.failures, d.need = false, 0, ""
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// batchLoop accumulates items into batches and hands each, when it is full or
// old enough, to a storing goroutine, which hands its ledger to a committing
// one, so that fetching and decoding the next batch overlaps inserting this
// one, and inserting it overlaps the patient-order refresh of the one before.
// Two batches exist: one filling, one being stored; when both are busy the
// loop waits, and so, through the items channel, do the fetchers. Batches are
// stored and committed in order. When the generation or ctx ends it stops the
// fetchers, settles everything they had fetched, and returns.
func (in *Ingester) batchLoop(ctx, genCtx, flushCtx context.Context, gen *kafka.Generation,
	items chan fetched, offsets *committed, stopFetchers func()) error {
	free := make(chan *batch, 2)
	free <- newBatch()
	free <- newBatch()
	full := make(chan *batch, 1)
	stored := make(chan storedBatch, 1)
	storeErr, commitErr := make(chan error, 1), make(chan error, 1)
	restart := make(chan struct{}) // closed when a super-batch INSERT failed (errRestart)
	var restarting sync.Once
	go func() {
		var err error
		var st *streamer // nil: an INSERT per batch
		if in.cfg.InsertRows > 0 && in.cfg.InsertParallel <= 1 {
			st = &streamer{in: in, ctx: flushCtx, out: stored, restart: func() { restarting.Do(func() { close(restart) }) }}
		}
		for {
			var b *batch
			ok := true
			if st == nil {
				b, ok = <-full
			} else {
				select {
				case b, ok = <-full:
				case <-st.due():
					if err == nil {
						err = st.end()
					}
					continue
				}
			}
			if !ok {
				break
			}
			switch {
			case err != nil: // after a failure, later batches stay uncommitted: consumed again
				if !errors.Is(err, errRestart) {
					in.logger.Error("batch not stored: an earlier one failed; its records are not committed and will be consumed again",
						"records", b.count, "offsets", b.offsets())
				}
			case st != nil:
				err = st.store(b)
			default:
				var s storedBatch
				if s, err = in.storeBatch(flushCtx, b); err == nil {
					stored <- s
				}
			}
			in.buffer.give(b.bytes)
			b.reset()
			free <- b
		}
		if st != nil && err == nil {
			err = st.end()
		}
		close(stored)
		storeErr <- err
	}()
	var received atomic.Int64 // records taken from items, for the finisher
	go func() {
		f := finisher{in: in, ctx: flushCtx, gen: gen, offsets: offsets, received: &received}
		commitErr <- f.run(stored)
	}()
	var b *batch // the batch filling; nil while waiting for a free one
	hand := func() {
		if b != nil && !b.empty() {
			full <- b
			b = nil
		}
	}
	addRecord := func(m *kafka.Message, bytes int64) {
		if b == nil {
			b = <-free
		}
		in.add(b, m, bytes)
		// Half the byte budget: the other half is for the batch being
		// settled, so the two alternate instead of waiting for the age.
		if b.count >= in.cfg.BatchRows || b.bytes >= in.buffer.size/2 {
			hand()
		}
	}
	add := func(f *fetched) {
		received.Add(int64(len(f.msgs)))
		f.split(addRecord)
		f.recycle()
	}
	tick := time.NewTicker(max(in.cfg.BatchMaxAge/4, 5*time.Millisecond))
	defer tick.Stop()
loop:
	for {
		if b == nil {
			select {
			case b = <-free:
			case <-genCtx.Done():
				break loop
			case <-ctx.Done():
				break loop
			case <-restart:
				break loop
			}
		}
		select {
		case f := <-items:
			add(&f)
			// What is already buffered is taken by plain receives: a select
			// per record cost more than the batching itself.
			for n := len(items); n > 0; n-- {
				f := <-items
				add(&f)
			}
		case <-tick.C:
			if !b.empty() && time.Since(b.started) >= in.cfg.BatchMaxAge {
				hand()
			}
		case <-genCtx.Done():
			break loop
		case <-ctx.Done():
			break loop
		case <-restart:
			break loop
		}
	}
	// Ending: what was fetched is settled before the partitions move on; on
	// a restart it is dropped, to be fetched again from the committed offsets.
	stopFetchers()
	select {
	case <-restart:
		for f := range items {
			in.buffer.give(f.bytes)
			f.recycle()
		}
		if b != nil {
			in.buffer.give(b.bytes)
			b.reset()
			b = nil
		}
	default:
		for f := range items {
			add(&f)
		}
		hand()
	}
	close(full)
	if err := <-storeErr; err != nil {
		<-commitErr // what was stored before it is committed first
		return err
	}
	return <-commitErr
}

// add decodes a fetched record into b; bytes is its share of the budget.
func (in *Ingester) add(b *batch, m *kafka.Message, bytes int64) {
	var now time.Time // only a batch's first record reads the clock
	if b.empty() {
		now = time.Now()
	}
	b.track(m.Topic, m.Partition, m.Offset, now)
	b.bytes += bytes
	var it item
	in.decode(m, &it)
	switch {
	case it.dead != nil:
		b.addDeadLetter(m.Topic, *it.dead, it.reason, it.reduced)
	case it.skipped != "":
		b.addSkip(m.Topic, it.format, it.skipped)
	case it.format == formatCloudEvents:
		b.rows.add(&it.ev, m.Topic, m.Partition, m.Offset)
		b.counted(m.Topic, it.format, 1)
	default:
		b.addEvents(it.evs, it.format, m.Topic, m.Partition, m.Offset)
	}
}

// storedBatch is a batch whose events are in ClickHouse: what its refresh
// and commit need, without its rows.
type storedBatch struct {
	ledger    batch
	referrals [][]string // Store.Refresh's, as each batch gave them
	start     time.Time
	insert    *ending // the INSERT still ending, if any
}

// storeBatch writes a batch's dead letters to Kafka and its events to ClickHouse,
// each retried until it succeeds or flushCtx ends.
func (in *Ingester) storeBatch(flushCtx context.Context, b *batch) (storedBatch, error) {
	start := time.Now()
	if err := in.writeBatchDeadLetters(flushCtx, b); err != nil {
		return storedBatch{}, err
	}
	s, err := in.insertBatch(flushCtx, b)
	s.start = start
	return s, err
}

// writeBatchDeadLetters writes a batch's dead letters, retried until it
// succeeds or flushCtx ends.
func (in *Ingester) writeBatchDeadLetters(flushCtx context.Context, b *batch) error {
	if pending := b.deadLetters; len(pending) > 0 {
		if err := in.retry(flushCtx, in.deadLetter, func(ctx context.Context) (err error) {
			pending, err = writeDeadLetters(ctx, in.dlq, pending, in.metrics.deadLettersReduced.WithLabelValues(reducedStub).Inc)
			return err
		}); err != nil {
			return fmt.Errorf("%w: %d records not committed (%s): %v", ErrGraceExpired, b.count, b.offsets(), err)
		}
	}
	return nil
}

// insertBatch inserts a batch's events in INSERTs of its own (Store.Insert),
// retried until it succeeds or flushCtx ends.
func (in *Ingester) insertBatch(flushCtx context.Context, b *batch) (storedBatch, error) {
	start := time.Now()
	if n := b.rows.len(); n > 0 {
		if err := in.retry(flushCtx, in.inserts, func(ctx context.Context) error {
			if err := in.checkSchema(ctx); err != nil {
				return err
			}
			return in.store.Insert(ctx, b.rows)
		}); err != nil {
			return storedBatch{}, fmt.Errorf("%w: %d records not committed (%s): %v", ErrGraceExpired, b.count, b.offsets(), err)
		}
	}
	s := storedBatch{ledger: b.ledger(), start: start}
	if referrals := b.rows.patientReferrals(); len(referrals) > 0 {
		s.referrals = [][]string{referrals}
	}
	return s, nil
}

// retry runs op until it succeeds or ctx ends, reporting the dependency's
// state changes. A transient error is retried with capped, jittered backoff;
// a permanent one (classify) slowly, while /readyz and the log say what it
// needs.
func (in *Ingester) retry(ctx context.Context, dep *dependency, op func(context.Context) error) error {
	b := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for {
		err := op(ctx)
		if err == nil {
			dep.ok()
			return nil
		}
		class := classify(err)
		need := ""
		if dep == in.inserts || dep == in.refreshes {
			need = in.insertFailed(ctx, err)
		} else {
			in.metrics.deadLetterErrors.Inc()
			if class == accessDenied {
				need = "WRITE on topic " + in.kafka.Topics.DeadLetters + " for the ingester's Kafka principal"
			}
		}
		dep.failedWith(err, class, need)
		wait := b.next()
		if class.permanent() {
			wait = b.slow()
		}
		if !sleep(ctx, wait) {
			return err
		}
	}
}

// insertFailed records an insert's failure for /readyz and the metrics, and
// returns what it needs.
func (in *Ingester) insertFailed(ctx context.Context, err error) string {
	in.metrics.clickhouseErrors.Inc()
	f := in.store.Locate(ctx, err)
	if !errors.Is(err, errSchemaBehind) { // the schema check sent no INSERT
		in.metrics.insertErrors.WithLabelValues(f.Code, f.Shard, f.Replica).Inc()
	}
	if f.class == schemaBehind {
		in.schemaOK.Store(false) // check schema_migrations before the next attempt
	}
	in.insertFailure.Store(&f)
	return f.Need
}

// checkSchema makes sure, once and again after an insert found a table or
// column missing, that the database has every migration of this binary: a
// deploy that skipped `referralops migrate` stops visibly instead of writing
// into a schema the binary does not know.
func (in *Ingester) checkSchema(ctx context.Context) error {
	if in.schemaOK.Load() {
		return nil
	}
	missing, err := in.store.Schema(ctx)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: migrations %s not applied; run `referralops migrate`", errSchemaBehind, strings.Join(missing, ", "))
	}
	in.schemaOK.Store(true)
	return nil
}

package ingest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// finisher is the commit stage: it refreshes what follows stored batches
// (Store.Refresh, the patient-order recompute) and then commits their
// offsets and counts their records, in order. Each recompute reads every row
// of its patients' granules of patient_referrals, which during a backlog's
// INSERTs of 43,000 referrals is the whole table: a history of 2.2 M
// referrals cost 0.6 CPU s per INSERT. So while a backlog is worked off
// (backlog), it holds stored batches, up to maxHold and maxHeldReferrals, and
// refreshes them with one recompute; caught up, it refreshes each at once.
// Held batches are not committed yet: a crash or a rebalance consumes them
// again, and the recompute is idempotent.
type finisher struct {
	in       *Ingester
	ctx      context.Context // the flush context
	gen      *kafka.Generation
	offsets  *committed
	received *atomic.Int64 // records the batcher took from the fetchers
	taken    int64         // records of the stored batches taken so far
	held     []storedBatch // stored, oldest first, awaiting their refresh
	since    time.Time     // when the first of held was stored
	heldIDs  int           // their referrals
	// backlogged: a backlog began and has not ended (backlog)
	backlogged bool
}

const (
	// maxHold bounds how long a stored batch is held during a backlog, and
	// so how far the committed offsets trail the stored rows.
	maxHold = 5 * time.Second
	// maxHeldReferrals bounds one recompute: 200,000 ids of 36 bytes are
	// about 7.5 MB of statement, under refreshQuerySize.
	maxHeldReferrals = 200_000
)

// run finishes the stored batches until the channel closes, then those still
// held. After a failure it commits nothing more: the later batches are
// consumed again.
func (f *finisher) run(stored <-chan storedBatch) error {
	var err error
	for {
		var due <-chan time.Time
		if len(f.held) > 0 && err == nil {
			due = time.After(time.Until(f.since.Add(maxHold)))
		}
		select {
		case s, ok := <-stored:
			if !ok {
				if err == nil {
					err = f.flush()
				}
				return err
			}
			if err != nil {
				f.in.logger.Error("batch stored but not committed: an earlier one failed; its records will be consumed again",
					"records", s.ledger.count, "offsets", s.ledger.offsets())
				continue
			}
			err = f.add(s)
		case <-due:
			err = f.flush()
		}
	}
}

// add takes a stored batch once its INSERT ended, and finishes it with
// those held unless a backlog lets it wait for more.
func (f *finisher) add(s storedBatch) error {
	if s.insert != nil {
		if err := s.insert.wait(); err != nil {
			if held := f.flush(); held != nil {
				return held
			}
			return err
		}
	}
	f.taken += int64(s.ledger.count)
	if len(f.held) == 0 {
		f.since = time.Now()
	}
	f.held = append(f.held, s)
	for _, r := range s.referrals {
		f.heldIDs += len(r)
	}
	if f.heldIDs > 0 && f.heldIDs < maxHeldReferrals && time.Since(f.since) < maxHold && f.backlog() {
		return nil
	}
	return f.flush()
}

// backlog tells whether a backlog is being worked off, and so more stored
// batches come soon, to be refreshed with those held: it begins when a batch
// of records or more waits to be fetched or handed on (Ingester.fetchLag),
// and lasts while a batch or more is on its way, also in batches not stored
// yet, so that the backlog's last INSERTs are refreshed together too. A
// steady stream, fetched as it comes, never begins one, and each of its
// batches is committed at once.
func (f *finisher) backlog() bool {
	waiting := f.in.fetchLag.Load()
	coming := waiting + f.received.Load() - f.taken
	batch := int64(f.in.cfg.BatchRows)
	f.backlogged = waiting >= batch || (f.backlogged && coming >= batch)
	return f.backlogged
}

// flush refreshes the held batches' referrals in one recompute, retried
// until it succeeds or the flush context ends, then commits their offsets
// and counts their records.
func (f *finisher) flush() error {
	if len(f.held) == 0 {
		return nil
	}
	held, ids := f.held, f.heldIDs
	f.held, f.heldIDs = nil, 0
	referrals := make([]string, 0, ids)
	for _, s := range held {
		for _, r := range s.referrals {
			referrals = append(referrals, r...)
		}
	}
	in := f.in
	if len(referrals) > 0 {
		if err := in.retry(f.ctx, in.refreshes, func(ctx context.Context) error {
			return in.store.Refresh(ctx, referrals)
		}); err != nil {
			count, offsets := 0, make([]string, len(held))
			for i, s := range held {
				count += s.ledger.count
				offsets[i] = s.ledger.offsets()
			}
			return fmt.Errorf("%w: %d records not committed (%s): %v", ErrGraceExpired, count, strings.Join(offsets, ", "), err)
		}
	}
	next := map[string]map[int]int64{}
	for _, s := range held {
		keepLater(next, s.ledger.next)
	}
	in.commit(f.ctx, f.gen, next, f.offsets)
	for _, s := range held {
		in.countCommitted(s)
	}
	return nil
}

// countCommitted counts a committed batch's records.
func (in *Ingester) countCommitted(s storedBatch) {
	b := &s.ledger
	in.metrics.flushSeconds.Observe(time.Since(s.start).Seconds())
	in.metrics.batchRows.Observe(float64(b.count))
	for _, d := range b.deadSource {
		in.metrics.records.WithLabelValues(d.topic, outcomeDeadLettered).Inc()
		in.metrics.deadLetters.WithLabelValues(string(d.reason)).Inc()
		if d.reduced != "" {
			in.metrics.deadLettersReduced.WithLabelValues(d.reduced).Inc()
		}
	}
	for topic, n := range b.stored {
		in.metrics.records.WithLabelValues(topic, outcomeStored).Add(float64(n))
	}
	for k, n := range b.skipped {
		in.metrics.records.WithLabelValues(k.topic, outcomeSkipped).Add(float64(n))
		in.metrics.skipped.WithLabelValues(k.format, string(k.reason)).Add(float64(n))
	}
	for f, n := range b.events {
		in.metrics.events.WithLabelValues(f).Add(float64(n))
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Super-batches (--insert-rows). ClickHouse writes a part per table for every
// INSERT (it squashes the blocks of one INSERT into blocks of up to
// min_insert_block_size_rows), and merging the parts of many small INSERTs
// costs it more CPU than writing them: a million events in 21 INSERTs of
// 48,000 rows took 14.4 CPU s, in 5 of 250,000 8.7 s. Holding 250,000 rows
// would take the ingester past its memory bound, so batches stay small and
// are streamed into one INSERT kept open across them: each batch's rows are
// sent as blocks and freed, and the INSERT ends once it holds --insert-rows
// rows or has been open --batch-max-age. It ends in the background while the
// next one streams (ending), up to maxEndings at once, and its batches are
// then refreshed and committed together, in order. Rows sent are no longer
// in hand, so an INSERT that fails is not retried: the fetchers restart from
// the committed offsets (errRestart), and the records are consumed again.

// errRestart asks consume to restart the fetchers from the committed
// offsets: an INSERT of a super-batch failed after its rows were freed.
var errRestart = errors.New("restart from the committed offsets")

// streamer stores batches through super-batch INSERTs and hands each ended
// INSERT's batches, as one storedBatch, to the commit stage.
type streamer struct {
	in      *Ingester
	ctx     context.Context // the flush context
	out     chan<- storedBatch
	restart func()       // ends the generation: consume again from the committed offsets
	open    InsertStream // nil while no INSERT is open
	opened  time.Time
	rows    int
	months  map[int]bool // months of the open INSERT (maxMonthsPerInsert)
	acc     storedBatch  // the open INSERT's batches
	endings []*ending    // the INSERTs ended before, oldest first, until settled
}

// ending is an INSERT being ended in the background. Ending one is most of
// ClickHouse's work on it: it squashes the INSERT's blocks, writes the parts
// and runs the views, 1.1 s for 250,000 rows, during which the next INSERT
// streams instead of waiting (1 M events: 8.5 s → 7.5 s). Its batches' commit
// waits for it (storedBatch.insert).
type ending struct {
	done chan struct{}
	err  error // set before done is closed
}

// wait returns once the INSERT ended: nil, or the error that leaves its
// records uncommitted (wrapping errRestart or ErrGraceExpired).
func (e *ending) wait() error {
	<-e.done
	return e.err
}

// store writes b's dead letters (retried: they are in hand), then appends
// its rows to the open INSERT, opening one if none is, and ending it first
// when b's months would take it past maxMonthsPerInsert, and after when it
// holds --insert-rows rows. A batch of more months than that, or one that
// cannot start an INSERT (ClickHouse down, a schema behind), is inserted on
// its own, retried while in hand (Ingester.insertBatch). An error wrapping
// errRestart means an INSERT failed after other batches' rows were sent.
func (s *streamer) store(b *batch) error {
	start := time.Now()
	if err := s.in.writeBatchDeadLetters(s.ctx, b); err != nil {
		return err
	}
	months := map[int]bool{}
	for _, t := range b.rows.eventTime {
		months[monthOf(t)] = true
	}
	if len(months) > maxMonthsPerInsert || (s.open != nil && len(union(s.months, months)) > maxMonthsPerInsert) {
		if err := s.end(); err != nil {
			return err
		}
	}
	if b.rows.len() > 0 {
		if len(months) > maxMonthsPerInsert || (s.open == nil && !s.begin()) {
			return s.alone(b, start)
		}
		if err := s.open.Append(b.rows); err != nil {
			if s.acc.ledger.count > 0 {
				return s.fail(err, b)
			}
			s.open.Abort() // nothing else was in it: b is still in hand
			s.open = nil
			return s.alone(b, start)
		}
		s.rows += b.rows.len()
		for m := range months {
			s.months[m] = true
		}
	}
	if s.acc.ledger.count == 0 {
		s.acc.start = start
	}
	s.acc.absorb(b.ledger(), b.rows.patientReferrals())
	if s.open == nil || s.rows >= s.in.cfg.InsertRows {
		return s.end()
	}
	return nil
}

// alone inserts b in INSERTs of its own, retried while in hand.
func (s *streamer) alone(b *batch, start time.Time) error {
	stored, err := s.in.insertBatch(s.ctx, b)
	if err != nil {
		return err
	}
	stored.start = start
	s.out <- stored
	return nil
}

// due is when the open INSERT must end even if no batch comes (nil: none
// is open).
func (s *streamer) due() <-chan time.Time {
	if s.open == nil {
		return nil
	}
	return time.After(time.Until(s.opened.Add(s.in.cfg.BatchMaxAge)))
}

// begin opens an INSERT; false when it cannot (the caller inserts the batch
// on its own, which retries and reports the failure).
func (s *streamer) begin() bool {
	if s.in.checkSchema(s.ctx) != nil {
		return false
	}
	st, err := s.in.store.Stream(s.ctx)
	if err != nil {
		return false
	}
	s.open, s.opened, s.rows, s.months = st, time.Now(), 0, map[int]bool{}
	return true
}

// end ends the open INSERT, if any, in the background, once fewer than
// maxEndings are ending, and hands its batches to the commit stage (also
// batches of dead letters or skips only, which opened none).
func (s *streamer) end() error {
	if err := s.settle(); err != nil {
		if s.open != nil { // its rows join the uncommitted ones
			s.open.Abort()
			s.open = nil
		}
		s.acc = storedBatch{}
		return err
	}
	if s.open != nil {
		e := s.endInBackground(s.open, s.acc.ledger.count, s.acc.ledger.offsets())
		s.endings = append(s.endings, e)
		s.acc.insert = e
		s.open = nil
	}
	if s.acc.ledger.count > 0 {
		s.out <- s.acc
	}
	s.acc = storedBatch{}
	return nil
}

// settle waits for the oldest INSERTs ending until fewer than maxEndings are.
func (s *streamer) settle() error {
	for len(s.endings) >= maxEndings {
		err := s.endings[0].wait()
		s.endings = s.endings[1:]
		if err != nil {
			return err
		}
	}
	return nil
}

// maxEndings is how many INSERTs may be ending while the next streams. With
// one, the stream waited whenever ClickHouse took longer to end an INSERT
// than the ingester to fill the next, and the machine idled: with two, 1 M
// events take 6.6-6.9 s instead of 7.0-7.5 s (the ingester's blocks of 4,096
// rows, insertBlockRows, keep its memory as it was).
const maxEndings = 2

// endInBackground closes st; if that fails, its count records (at offsets)
// are not committed, and the generation ends as for a failed Append.
func (s *streamer) endInBackground(st InsertStream, count int, offsets string) *ending {
	e := &ending{done: make(chan struct{})}
	go func() {
		defer close(e.done)
		if err := st.Close(); err != nil {
			e.err = s.failed(err, count, []string{offsets})
			return
		}
		s.in.inserts.ok()
		s.in.stored.Store(true)
	}()
	return e
}

// fail drops the open INSERT after err, with its batches (and b, whose rows
// it was sending).
func (s *streamer) fail(err error, b *batch) error {
	s.open.Abort()
	s.open = nil
	lost, offsets := s.acc.ledger.count, []string{s.acc.ledger.offsets()}
	if b != nil {
		lost += b.count
		offsets = append(offsets, b.offsets())
	}
	s.acc = storedBatch{}
	return s.failed(err, lost, offsets)
}

// failed reports an INSERT that failed after err like any failed INSERT.
// Its lost records (at offsets) are not committed: the generation ends and
// the records are consumed again from the committed offsets (errRestart), or,
// shutting down, the ingester exits naming them (ErrGraceExpired).
func (s *streamer) failed(err error, lost int, offsets []string) error {
	s.in.inserts.failedWith(err, classify(err), s.in.insertFailed(s.ctx, err))
	if s.in.stopping.Load() {
		return fmt.Errorf("%w: %d records not committed (%s): %v", ErrGraceExpired, lost, strings.Join(offsets, ", "), err)
	}
	s.restart()
	return fmt.Errorf("%w: %d records of an INSERT not committed (%s): %w", errRestart, lost, strings.Join(offsets, ", "), err)
}

func union(a, b map[int]bool) map[int]bool {
	u := make(map[int]bool, len(a)+len(b))
	for m := range a {
		u[m] = true
	}
	for m := range b {
		u[m] = true
	}
	return u
}

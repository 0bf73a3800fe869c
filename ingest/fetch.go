package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
	"unsafe"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
)

// fetched is a run of records one fetcher hands to the batcher, which decodes
// them straight into its batch: one hand-off (and one take from the byte
// budget) per run, not per record.
type fetched struct {
	msgs  []kafka.Message
	bytes int64 // taken from the budget for them and their slice
}

// split gives each record of f its share of f.bytes: its own size, but never
// more than is left, the last record the rest, so that the shares of a run
// capped by the budget still add up to what was taken.
func (f *fetched) split(each func(m *kafka.Message, bytes int64)) {
	left := f.bytes
	for i := range f.msgs {
		n := min(int64(messageBytes(&f.msgs[i])), left)
		if i == len(f.msgs)-1 {
			n = left
		}
		left -= n
		each(&f.msgs[i], n)
	}
}

// recycle puts f's record slice back for the fetchers, emptied so that it
// holds no record's bytes.
func (f *fetched) recycle() {
	clear(f.msgs)
	f.msgs = f.msgs[:0]
	runs.Put(&f.msgs)
}

// item is one record, decoded.
type item struct {
	format  string        // cloudevents, hl7v2 or fhir
	ev      event.Event   // a CloudEvent's
	evs     []event.Event // a standard message's: any number (a Bundle)
	skipped mapping.SkipReason
	dead    *kafka.Message // set for an invalid record: its dead letter
	reason  event.Reason
	reduced string // how the dead letter was reduced to fit, or ""
}

// consume runs one generation: a fetcher per assigned partition feeding one
// batcher, which settles batches and commits their offsets with this
// generation. It returns once the generation or ctx ended and the batch in hand
// is settled; or a wrapped ErrOffsetOutOfRange once a fetcher refused to skip
// records, after settling what the others fetched.
func (in *Ingester) consume(ctx, flushCtx context.Context, gen *kafka.Generation) (err error) {
	ctx, refuse := context.WithCancelCause(ctx)
	defer refuse(nil)
	defer func() {
		if cause := context.Cause(ctx); err == nil && errors.Is(cause, ErrOffsetOutOfRange) {
			err = cause
		}
	}()
	assigned := 0
	for topic, parts := range gen.Assignments {
		assigned += len(parts)
		for _, p := range parts { // a skip's series exists before the first skip
			in.metrics.offsetOutOfRange.WithLabelValues(topic, partitionLabel(p.ID))
		}
	}
	in.metrics.assignedPartitions.Set(float64(assigned))
	in.logger.Info("joined consumer group", "group", in.cfg.Group, "generation", gen.ID, "partitions", assigned)

	fetchCtx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	items := make(chan fetched, queuedRuns)
	var fetchers sync.WaitGroup
	offsets := newCommitted(gen.Assignments)
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			fetchers.Add(1)
			gen.Start(func(genCtx context.Context) {
				defer fetchers.Done()
				ctx, cancel := context.WithCancel(fetchCtx)
				defer context.AfterFunc(genCtx, cancel)()
				defer cancel()
				if err := in.fetch(ctx, topic, p, items); err != nil {
					msg := err.Error()
					in.refused.Store(&msg)
					in.logger.Error("refusing to skip records deleted before they were consumed; stopping", "err", err)
					refuse(err)
				}
			})
		}
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go in.watchLag(lagCtx, offsets)

	done := make(chan error, 1)
	gen.Start(func(genCtx context.Context) {
		done <- in.batchLoop(ctx, genCtx, flushCtx, gen, items, offsets, func() {
			stopFetching()
			go func() { fetchers.Wait(); close(items) }()
		})
	})
	err = <-done
	stopLag()
	if errors.Is(err, errRestart) {
		in.restartAfter(ctx, err)
		err = nil // the generation ended with batchLoop: the next starts from the committed offsets
	}
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			in.metrics.lag.DeleteLabelValues(topic, partitionLabel(p.ID))
		}
	}
	return err
}

// How a fetcher reads its partition: kafka-go's connection-level fetch, a
// response (up to fetchMaxBytes) at a time, handed on in runs. kafka-go's
// Reader hands each record through its own channel and sets a read deadline
// per record; here a run of records costs one deadline, one take from the
// budget and one channel send.
const (
	fetchMaxBytes = 1 << 20 // per partition: 18 partitions' responses stay small
	fetchMaxWait  = 250 * time.Millisecond
	// fetchStall is how long the broker may leave a response unfinished
	// before the connection is dropped and dialed again from the next offset.
	fetchStall = 10 * time.Second
	// A run ends at this many bytes or records (or the response's end): the
	// records read but not yet handed on are outside the byte budget.
	runBytes   = 64 << 10
	runRecords = 128
)

// queuedRuns is how many runs wait between the fetchers and the batcher:
// about 4,000 records, enough to keep the batcher busy. The byte budget alone
// would let the fetchers read ahead by all of it (64 MiB by default), which
// the batches in hand come on top of: 240-274 MB peak RSS in make bench,
// against 160 MB.
const queuedRuns = 32

// runSlotBytes is what a run's slice costs per record it can hold, taken
// from the budget with the records' own bytes: for small records the slice
// is a good part of what a run holds.
const runSlotBytes = int64(unsafe.Sizeof(kafka.Message{}))

// runs recycles the record slices of handed-on runs (the batcher puts them
// back once decoded).
var runs = sync.Pool{New: func() any { s := make([]kafka.Message, 0, runRecords); return &s }}

// fetch reads one partition from the generation's starting offset, handing
// its records to the batcher in runs, until ctx ends. A full items channel or
// byte budget blocks it: that is how fetching stops while a batch cannot be
// stored. It returns an ErrOffsetOutOfRange when records the group has not
// consumed were deleted and --offset-out-of-range=fail.
func (in *Ingester) fetch(ctx context.Context, topic string, p kafka.PartitionAssignment, items chan<- fetched) error {
	// The committed offset below the log start: fetching starts at the log
	// start, so the skip is counted here.
	skipped, err := in.outOfRange(ctx, topic, p.ID, p.Offset, beforeAnyFetch)
	if err != nil {
		return err
	}
	next := p.Offset + skipped // expected next; < 0: nothing committed, any start is right
	f := partitionFetch{in: in, topic: topic, partition: p.ID, items: items,
		retry: backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}}
	defer f.drop()
	defer f.behind(0)
	for ctx.Err() == nil {
		if f.conn == nil && !f.dial(ctx, next) {
			continue
		}
		var refused error
		if next, refused = f.read(ctx, next); refused != nil {
			return refused
		}
	}
	return nil
}

// partitionFetch is one fetcher's connection to its partition's leader.
type partitionFetch struct {
	in        *Ingester
	topic     string
	partition int
	items     chan<- fetched
	conn      *kafka.Conn // nil: to be dialed
	retry     backoff
	failing   bool  // the last dial or fetch failed
	waiting   int64 // its share of Ingester.fetchLag
}

// behind sets the partition's records not yet handed to the batcher, as of
// its last fetch: on the broker, or fetched and waiting for the byte budget
// (its share of Ingester.fetchLag).
func (f *partitionFetch) behind(records int64) {
	records = max(records, 0)
	f.in.fetchLag.Add(records - f.waiting)
	f.waiting = records
}

// dial connects to the partition's leader at offset next (the log start when
// next < 0 or below it); false when it failed and was reported.
func (f *partitionFetch) dial(ctx context.Context, next int64) bool {
	var err error
	for _, addr := range f.in.kafka.Brokers {
		if f.conn, err = f.in.dialer.DialLeader(ctx, "tcp", addr, f.topic, f.partition); err == nil {
			break
		}
	}
	if err == nil {
		f.conn.SetDeadline(time.Now().Add(fetchStall))
		var first int64
		if first, err = f.conn.ReadFirstOffset(); err == nil {
			// Below the log start the gap shows with the first record: the
			// fetch's outOfRange counts or refuses it.
			_, err = f.conn.Seek(max(next, first), kafka.SeekAbsolute|kafka.SeekDontCheck)
		}
		f.conn.SetDeadline(time.Time{})
	}
	if err != nil {
		f.failed(ctx, err)
		return false
	}
	return true
}

// read fetches one response and hands its records on; it returns the next
// offset expected, or the error that refuses a skip. A failed fetch is
// reported and waited out (the connection dropped when it cannot serve again).
func (f *partitionFetch) read(ctx context.Context, next int64) (int64, error) {
	f.conn.SetReadDeadline(time.Now().Add(fetchMaxWait + fetchStall))
	batch := f.conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: fetchMaxBytes, MaxWait: fetchMaxWait})
	hwm := batch.HighWaterMark() // the log's end when the broker answered
	run := runs.Get().(*[]kafka.Message)
	var bytes int64
	handOn := func() bool {
		if len(*run) == 0 {
			return true
		}
		ok := f.handOn(ctx, run, bytes+int64(cap(*run))*runSlotBytes)
		run, bytes = runs.Get().(*[]kafka.Message), 0
		f.conn.SetReadDeadline(time.Now().Add(fetchStall)) // the wait for the batcher is not the broker's stall
		if ok {
			f.behind(hwm - next)
		}
		return ok
	}
	for first := true; ; first = false {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		if _, err := f.in.outOfRange(ctx, f.topic, f.partition, next, m.Offset); err != nil {
			batch.Close()
			return next, err
		}
		if first {
			f.behind(hwm - m.Offset) // this response's records are not handed yet
		}
		next = m.Offset + 1
		*run = append(*run, m)
		if bytes += int64(messageBytes(&m)); (bytes >= runBytes || len(*run) >= runRecords) && !handOn() {
			batch.Close()
			return next, nil // ctx ended
		}
	}
	if !handOn() {
		batch.Close()
		return next, nil
	}
	runs.Put(run)
	err := batch.Close()
	switch {
	case err == nil, errors.Is(err, kafka.RequestTimedOut): // the wait for records ended empty
		f.recovered()
		if next >= 0 { // else nothing was fetched yet, from an empty log
			f.behind(hwm - next)
		}
	case errors.Is(err, kafka.OffsetOutOfRange):
		f.outOfRange(ctx)
	case errors.Is(err, kafka.NotLeaderForPartition), errors.Is(err, kafka.LeaderNotAvailable):
		// The partition moved: dial its new leader, after a pause in case
		// the metadata still names the old one.
		f.drop()
		sleep(ctx, f.retry.next())
	default:
		f.drop()
		f.failed(ctx, err)
	}
	return next, nil
}

// outOfRange handles an OFFSET_OUT_OF_RANGE fetch: below the log start it
// moves there (the gap shows with the next record, where outOfRange counts
// or refuses it); past the log end it waits and asks again, as for an empty
// fetch.
func (f *partitionFetch) outOfRange(ctx context.Context) {
	at, _ := f.conn.Offset()
	f.conn.SetDeadline(time.Now().Add(fetchStall))
	first, last, err := f.conn.ReadOffsets()
	f.conn.SetDeadline(time.Time{})
	switch {
	case err != nil:
		f.drop()
		f.failed(ctx, err)
	case at < first:
		_, err = f.conn.Seek(first, kafka.SeekAbsolute|kafka.SeekDontCheck)
		if err != nil {
			f.drop()
			f.failed(ctx, err)
		}
	case at < last:
	default:
		sleep(ctx, f.retry.next())
	}
}

// handOn takes a run's bytes from the budget and hands it to the batcher;
// false when ctx ended first (the run is not committed: whoever owns the
// partition next consumes it again).
func (f *partitionFetch) handOn(ctx context.Context, run *[]kafka.Message, bytes int64) bool {
	size, err := f.in.buffer.take(ctx, bytes)
	if err != nil {
		return false
	}
	select {
	case f.items <- fetched{msgs: *run, bytes: size}:
		return true
	case <-ctx.Done():
		f.in.buffer.give(size)
		return false
	}
}

// failed reports a failed dial or fetch and waits before the next: slowly
// for a refusal that does not heal by itself.
func (f *partitionFetch) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	f.failing = true
	f.in.metrics.fetchErrors.WithLabelValues(f.topic).Inc()
	class, need, wait := classify(err), "", f.retry.next()
	if class.permanent() {
		// A denied topic or group: say which grant is missing.
		need, wait = "READ on topic "+f.topic+" and group "+f.in.cfg.Group+" for the ingester's Kafka principal", f.retry.slow()
	}
	f.in.broker.failedWith(fmt.Errorf("fetch %s/%d: %w", f.topic, f.partition, err), class, need)
	sleep(ctx, wait)
}

// recovered ends a failure once a fetch succeeds: a granted READ ends the
// refusal without a new join.
func (f *partitionFetch) recovered() {
	f.retry.reset()
	if f.failing {
		f.failing = false
		f.in.broker.ok()
	}
}

// drop closes the connection, to be dialed again.
func (f *partitionFetch) drop() {
	if f.conn != nil {
		f.conn.Close()
		f.conn = nil
	}
}

// decodePanicked handles a panic of decode on m (the decoder's or a mapper's):
// the record is its internal_error. It is dead-lettered and the partition
// moves on, where a crash would restart on the same offset and panic again,
// for ever; it is counted in dead_letters_total{reason="internal_error"} when
// settled.
func (in *Ingester) decodePanicked(m *kafka.Message, it *item, p any) {
	// The panic value and the stack name the code, not the record's content;
	// the coordinates find the record in the dead-letter topic.
	in.logger.Error("decoder panicked; the record is dead-lettered as internal_error",
		"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	in.deadItem(m, it, &event.Error{Reason: event.ReasonInternalError, Detail: "the decoder panicked"})
}

// restartAfter waits before the next generation after a super-batch INSERT
// failed (errRestart): as a retry of that INSERT would, slowly for a
// permanent refusal, until ctx ends.
func (in *Ingester) restartAfter(ctx context.Context, err error) {
	if in.stored.Swap(false) {
		in.restarts.reset()
	}
	wait := in.restarts.next()
	if classify(err).permanent() {
		wait = in.restarts.slow()
	}
	in.logger.Warn("an INSERT of several batches failed; consuming them again from the committed offsets",
		"err", err, "wait", wait.Round(time.Millisecond))
	sleep(ctx, wait)
}

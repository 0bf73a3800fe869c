package ingest

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
)

// fetched is one record as a fetcher hands it to the batcher, which decodes
// it straight into its batch.
type fetched struct {
	msg   kafka.Message
	bytes int64 // taken from the budget for it
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
	items := make(chan fetched, 4096)
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

// fetch reads one partition from the generation's starting offset, handing
// each record to the batcher, until ctx ends. A full items channel or byte budget blocks it:
// that is how fetching stops while a batch cannot be stored. It returns an
// ErrOffsetOutOfRange when records the group has not consumed were deleted
// and --offset-out-of-range=fail.
func (in *Ingester) fetch(ctx context.Context, topic string, p kafka.PartitionAssignment, items chan<- fetched) error {
	// The committed offset below the log start: the reader would start at the
	// log start without a word.
	skipped, err := in.outOfRange(ctx, topic, p.ID, p.Offset, beforeAnyFetch)
	if err != nil {
		return err
	}
	next := p.Offset + skipped // expected next; < 0: nothing committed, any start is right
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   in.kafka.Brokers,
		Dialer:    in.dialer,
		Topic:     topic,
		Partition: p.ID,
		MinBytes:  1,
		MaxBytes:  1 << 20, // per partition: 18 partitions' fetch buffers stay small
		MaxWait:   250 * time.Millisecond,
		// The reader's own queue is outside the byte budget: one record
		// (plus the one it is reading) per partition, whatever its size.
		QueueCapacity: 1,
		ErrorLogger:   kafka.LoggerFunc(in.kafkaError),
	})
	defer r.Close()
	start := p.Offset
	if start < 0 {
		start = kafka.FirstOffset
	}
	if err := r.SetOffset(start); err != nil {
		in.logger.Error("cannot set start offset", "topic", topic, "partition", p.ID, "offset", start, "err", err)
		return nil
	}
	retry := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	failing := false // this partition's last fetch failed
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failing = true
			in.metrics.fetchErrors.WithLabelValues(topic).Inc()
			class, need, wait := classify(err), "", retry.next()
			if class.permanent() {
				// A denied topic or group does not heal by itself: say which
				// grant is missing and ask again only slowly.
				need, wait = "READ on topic "+topic+" and group "+in.cfg.Group+" for the ingester's Kafka principal", retry.slow()
			}
			in.broker.failedWith(fmt.Errorf("fetch %s/%d: %w", topic, p.ID, err), class, need)
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		retry.reset()
		if failing { // a granted READ ends the refusal without a new join
			failing = false
			in.broker.ok()
		}
		if _, err := in.outOfRange(ctx, topic, p.ID, next, m.Offset); err != nil {
			return err
		}
		next = m.Offset + 1
		size, err := in.buffer.take(ctx, int64(messageBytes(&m)))
		if err != nil {
			return nil
		}
		select {
		case items <- fetched{msg: m, bytes: size}:
		case <-ctx.Done():
			in.buffer.give(size)
			return nil // not committed: consumed again by whoever owns the partition next
		}
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

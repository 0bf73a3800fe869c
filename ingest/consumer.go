package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
)

// DeadLetterWriter writes dead letters; *kafka.Writer is one.
type DeadLetterWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// ErrGraceExpired means shutdown could not store the last batch in time; its
// records were not committed and will be consumed again.
var ErrGraceExpired = errors.New("shutdown grace period expired before the last batch was stored")

// Ingester consumes the input topics into a Store.
type Ingester struct {
	cfg     Config
	kafka   broker.Config
	decoder *event.Decoder
	store   Store
	dlq     DeadLetterWriter
	logger  *slog.Logger
	metrics *ingestMetrics

	joined     atomic.Bool
	stopping   atomic.Bool
	clickhouse *dependency // answers pings
	inserts    *dependency // accepts inserts (it may answer and still refuse them)
	deadLetter *dependency
	broker     *dependency
}

// New wires an ingester. reg receives its self-metrics.
func New(cfg Config, kc broker.Config, dec *event.Decoder, store Store, dlq DeadLetterWriter, logger *slog.Logger, reg prometheus.Registerer) *Ingester {
	m := newMetrics(reg)
	// Series that only move on a failure start at zero, so dashboards show
	// them and rate()/increase() see the first failure.
	for _, topic := range kc.Topics.Inputs() {
		m.fetchErrors.WithLabelValues(topic)
	}
	for _, r := range event.Reasons() {
		m.deadLetters.WithLabelValues(string(r))
	}
	return &Ingester{
		cfg: cfg, kafka: kc, decoder: dec, store: store, dlq: dlq, logger: logger,
		metrics:    m,
		clickhouse: newDependency("ClickHouse", logger, false),
		inserts:    newDependency("ClickHouse insert", logger, true),
		deadLetter: newDependency("dead-letter topic", logger, true),
		broker:     newDependency("Kafka", logger, true),
	}
}

// Ready says why the ingester cannot do its job yet, or nil.
func (in *Ingester) Ready() error {
	switch {
	case in.stopping.Load():
		return errors.New("shutting down")
	case !in.joined.Load():
		return errors.New("not yet joined to the consumer group")
	case !in.clickhouse.up():
		return errors.New("ClickHouse does not answer")
	case !in.inserts.up():
		return errors.New("ClickHouse refuses inserts")
	}
	return nil
}

// Run consumes until ctx ends, then stops fetching, stores and commits what it
// has, and returns nil; or ErrGraceExpired if that took longer than the grace
// period. Other errors are retried, never returned.
func (in *Ingester) Run(ctx context.Context) error {
	// Flushes outlive ctx by the grace period, so that a SIGTERM still stores and
	// commits the batch in hand.
	flushCtx, cancelFlush := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFlush()
	stopGrace := context.AfterFunc(ctx, func() {
		in.stopping.Store(true)
		time.AfterFunc(in.cfg.ShutdownGrace, cancelFlush)
	})
	defer stopGrace()

	go in.watchClickHouse(ctx)

	inputs := in.kafka.Topics.Inputs()
	if err := broker.WaitForTopics(ctx, in.kafka, inputs, in.logger); err != nil {
		return nil // only ctx ends the wait
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    in.cfg.Group,
		Brokers:               in.kafka.Brokers,
		Topics:                inputs,
		StartOffset:           kafka.FirstOffset,
		WatchPartitionChanges: true,
		ErrorLogger:           kafka.LoggerFunc(in.kafkaError),
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", in.cfg.Group, err)
	}
	defer group.Close() // leaves the group, so the partitions move on at once

	for {
		gen, err := group.Next(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			in.broker.failed(fmt.Errorf("join consumer group %s: %w", in.cfg.Group, err))
			continue // kafka-go backs off before the next join
		}
		in.broker.ok()
		in.joined.Store(true)
		in.metrics.rebalances.Inc()
		if err := in.consume(ctx, flushCtx, gen); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// item is one fetched record, decoded.
type item struct {
	topic     string
	partition int
	offset    int64
	ev        event.Event
	dead      *kafka.Message // set for an invalid record: its dead letter
	reason    event.Reason
}

// consume runs one generation: a fetcher per assigned partition feeding one
// batcher, which settles batches and commits their offsets with this
// generation. It returns once the generation or ctx ended and the batch in hand
// is settled.
func (in *Ingester) consume(ctx, flushCtx context.Context, gen *kafka.Generation) error {
	assigned := 0
	for _, parts := range gen.Assignments {
		assigned += len(parts)
	}
	in.metrics.assignedPartitions.Set(float64(assigned))
	in.logger.Info("joined consumer group", "group", in.cfg.Group, "generation", gen.ID, "partitions", assigned)

	fetchCtx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	items := make(chan item, 4096)
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
				in.fetch(ctx, topic, p, items)
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
	err := <-done
	stopLag()
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			in.metrics.lag.DeleteLabelValues(topic, partitionLabel(p.ID))
		}
	}
	return err
}

// batchLoop accumulates items into batches and hands each, when it is full or
// old enough, to a settling goroutine, so that fetching and decoding the next
// batch overlaps storing this one. Two batches exist: one filling, one being
// settled; when both are busy the loop waits, and so, through the items channel,
// do the fetchers. Batches are settled and committed in order. When the
// generation or ctx ends it stops the fetchers, settles everything they had
// fetched, and returns.
func (in *Ingester) batchLoop(ctx, genCtx, flushCtx context.Context, gen *kafka.Generation,
	items chan item, offsets *committed, stopFetchers func()) error {
	free := make(chan *batch, 2)
	free <- newBatch(in.cfg.BatchRows)
	free <- newBatch(in.cfg.BatchRows)
	full := make(chan *batch, 1)
	settled := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				err = in.settle(flushCtx, gen, b, offsets)
			} // after a failure, later batches stay uncommitted: consumed again
			b.reset()
			free <- b
		}
		settled <- err
	}()
	var b *batch // the batch filling; nil while waiting for a free one
	hand := func() {
		if b != nil && !b.empty() {
			full <- b
			b = nil
		}
	}
	add := func(it item) {
		if b == nil {
			b = <-free
		}
		in.add(b, it)
		if b.count >= in.cfg.BatchRows {
			hand()
		}
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
			}
		}
		select {
		case it := <-items:
			add(it)
		case <-tick.C:
			if !b.empty() && time.Since(b.started) >= in.cfg.BatchMaxAge {
				hand()
			}
		case <-genCtx.Done():
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	// Ending: what was fetched is settled before the partitions move on.
	stopFetchers()
	for it := range items {
		add(it)
	}
	hand()
	close(full)
	return <-settled
}

func (in *Ingester) add(b *batch, it item) {
	b.track(it.topic, it.partition, it.offset, time.Now())
	if it.dead != nil {
		b.addDeadLetter(it.topic, *it.dead, it.reason)
		return
	}
	b.addEvent(&it.ev, it.topic, it.partition, it.offset, time.Now().UTC().Truncate(time.Second))
}

// fetch reads one partition from the generation's starting offset, decoding
// each record, until ctx ends. A full items channel blocks it: that is how
// fetching stops while a batch cannot be stored.
func (in *Ingester) fetch(ctx context.Context, topic string, p kafka.PartitionAssignment, items chan<- item) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     in.kafka.Brokers,
		Topic:       topic,
		Partition:   p.ID,
		MinBytes:    1,
		MaxBytes:    1 << 20, // per partition: 18 partitions' fetch buffers stay small
		MaxWait:     250 * time.Millisecond,
		ErrorLogger: kafka.LoggerFunc(in.kafkaError),
	})
	defer r.Close()
	start := p.Offset
	if start < 0 {
		start = kafka.FirstOffset
	}
	if err := r.SetOffset(start); err != nil {
		in.logger.Error("cannot set start offset", "topic", topic, "partition", p.ID, "offset", start, "err", err)
		return
	}
	retry := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			in.metrics.fetchErrors.WithLabelValues(topic).Inc()
			in.broker.failed(fmt.Errorf("fetch %s/%d: %w", topic, p.ID, err))
			if !sleep(ctx, retry.next()) {
				return
			}
			continue
		}
		retry.reset()
		it := item{topic: m.Topic, partition: m.Partition, offset: m.Offset}
		ev, err := in.decoder.Decode(m.Value, eventHeaders(m.Headers))
		if err != nil {
			dl := deadLetter(&m, err)
			it.dead, it.reason = &dl, event.ReasonOf(err)
		} else {
			it.ev = ev
		}
		select {
		case items <- it:
		case <-ctx.Done():
			return // not committed: consumed again by whoever owns the partition next
		}
	}
}

// settle stores a batch: dead letters to Kafka, events to ClickHouse, each retried
// until it succeeds or flushCtx ends, then commits the batch's offsets.
func (in *Ingester) settle(flushCtx context.Context, gen *kafka.Generation, b *batch, offsets *committed) error {
	start := time.Now()
	if pending := b.deadLetters; len(pending) > 0 {
		if err := in.retry(flushCtx, in.deadLetter, func(ctx context.Context) (err error) {
			pending, err = writeDeadLetters(ctx, in.dlq, pending)
			return err
		}); err != nil {
			return fmt.Errorf("%w: %d records not committed: %v", ErrGraceExpired, b.count, err)
		}
	}
	if n := b.rows.len(); n > 0 {
		if err := in.retry(flushCtx, in.inserts, func(ctx context.Context) error {
			return in.store.Insert(ctx, b.rows)
		}); err != nil {
			return fmt.Errorf("%w: %d records not committed: %v", ErrGraceExpired, b.count, err)
		}
	}
	in.commit(flushCtx, gen, b.next, offsets)
	in.metrics.flushSeconds.Observe(time.Since(start).Seconds())
	in.metrics.batchRows.Observe(float64(b.count))
	for _, d := range b.deadSource {
		in.metrics.records.WithLabelValues(d.topic, outcomeDeadLettered).Inc()
		in.metrics.deadLetters.WithLabelValues(string(d.reason)).Inc()
	}
	for topic, n := range b.stored {
		in.metrics.records.WithLabelValues(topic, outcomeStored).Add(float64(n))
	}
	return nil
}

// commit commits the offsets after a settled batch. A failed commit is not
// fatal: the records are stored, and consuming them again is harmless.
func (in *Ingester) commit(ctx context.Context, gen *kafka.Generation, next map[string]map[int]int64, offsets *committed) {
	const attempts = 3
	retry := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for i := 1; ; i++ {
		err := gen.CommitOffsets(next)
		if err == nil {
			offsets.set(next)
			in.metrics.lastCommit.SetToCurrentTime()
			return
		}
		in.metrics.commitErrors.Inc()
		if i == attempts || !sleep(ctx, retry.next()) {
			in.logger.Warn("offset commit failed; the batch's records are stored and will be consumed again",
				"group", in.cfg.Group, "generation", gen.ID, "err", err)
			return
		}
	}
}

// retry runs op until it succeeds or ctx ends, with capped, jittered backoff,
// reporting the dependency's state changes.
func (in *Ingester) retry(ctx context.Context, dep *dependency, op func(context.Context) error) error {
	b := backoff{min: in.cfg.RetryBackoffMin, max: in.cfg.RetryBackoffMax}
	for {
		err := op(ctx)
		if err == nil {
			dep.ok()
			return nil
		}
		if dep == in.inserts {
			in.metrics.clickhouseErrors.Inc()
		} else {
			in.metrics.deadLetterErrors.Inc()
		}
		dep.failed(err)
		if !sleep(ctx, b.next()) {
			return err
		}
	}
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
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchLag sets consumer_lag from the partitions' end offsets and the group's
// committed offsets, every few seconds, also while fetching is stalled.
func (in *Ingester) watchLag(ctx context.Context, offsets *committed) {
	client := &kafka.Client{Addr: kafka.TCP(in.kafka.Brokers...), Timeout: 5 * time.Second}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
		for topic, parts := range offsets.snapshot() {
			for p := range parts {
				req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
			}
		}
		if resp, err := client.ListOffsets(ctx, req); err == nil {
			done := offsets.snapshot()
			for topic, parts := range resp.Topics {
				for _, po := range parts {
					if po.Error != nil {
						continue
					}
					next := done[topic][po.Partition]
					if next < 0 {
						continue // nothing committed yet and nowhere to measure from
					}
					in.metrics.lag.WithLabelValues(topic, partitionLabel(po.Partition)).Set(float64(max(po.LastOffset-next, 0)))
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// kafkaError routes kafka-go's error log into ours at debug level: the
// dependency tracking logs what an operator needs, once per state change.
func (in *Ingester) kafkaError(msg string, args ...any) {
	in.logger.Debug("kafka-go", "msg", fmt.Sprintf(msg, args...))
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// committed tracks the group's committed offsets of this generation's partitions.
type committed struct {
	mu   sync.Mutex
	next map[string]map[int]int64
}

func newCommitted(assignments map[string][]kafka.PartitionAssignment) *committed {
	c := &committed{next: map[string]map[int]int64{}}
	for topic, parts := range assignments {
		c.next[topic] = map[int]int64{}
		for _, p := range parts {
			c.next[topic][p.ID] = p.Offset
		}
	}
	return c
}

func (c *committed) set(next map[string]map[int]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, parts := range next {
		for p, off := range parts {
			c.next[topic][p] = off
		}
	}
}

func (c *committed) snapshot() map[string]map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[int]int64, len(c.next))
	for topic, parts := range c.next {
		out[topic] = make(map[int]int64, len(parts))
		for p, off := range parts {
			out[topic][p] = off
		}
	}
	return out
}

// dependency logs a dependency's outages once per state change.
type dependency struct {
	name     string
	logger   *slog.Logger
	mu       sync.Mutex
	down     bool
	since    time.Time
	failures int
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

func (d *dependency) failed(err error) {
	d.healthy.Store(false)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures++
	if !d.down {
		d.down, d.since = true, time.Now()
		d.logger.Error(d.name+" failed; retrying until it answers", "err", err)
	}
}

func (d *dependency) ok() {
	d.healthy.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		d.logger.Info(d.name+" answers again", "down_for", time.Since(d.since).Round(time.Millisecond), "failures", d.failures)
		d.down, d.failures = false, 0
	}
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
)

// ErrGraceExpired means shutdown could not store the last batch in time; its
// records were not committed and will be consumed again.
var ErrGraceExpired = errors.New("shutdown grace period expired before the last batch was stored")

// Decoder turns a record's value and headers into an event; *event.Decoder is
// one. The ingester decodes only values it owns and leaves unchanged (a
// record's value, which kafka-go allocates for each, or a mapped event's
// encoding) and copies the event's strings into its batch at once, so the
// strings may share the value's memory (event.Decoder.DecodeShared).
type Decoder interface {
	DecodeShared(value []byte, headers []event.Header) (event.Event, error)
}

// Ingester consumes the input topics into a Store.
type Ingester struct {
	cfg     Config
	kafka   broker.Config
	decoder Decoder
	mapper  *mapping.Mapper // set by ReadStandard: the HL7 v2 and FHIR topics are read too
	store   Store
	dlq     DeadLetterWriter
	logger  *slog.Logger
	metrics *ingestMetrics
	dialer  *kafka.Dialer // set by Run: the consumer group's and the fetchers'
	admin   *kafka.Client // set by Run: the lag watcher's

	joined   atomic.Bool
	stopping atomic.Bool
	waiting  atomic.Pointer[string] // why the ingester waits before joining, or nil
	// Stall detection: records are waiting (consumer lag) and the last
	// progress (a commit, or nothing to do) is older than cfg.StallTimeout.
	behind       atomic.Bool
	lastProgress atomic.Int64 // Unix nanoseconds
	clickhouse   *dependency  // answers pings
	inserts      *dependency  // accepts inserts (it may answer and still refuse them)
	// refreshes accepts the patient-order refresh that follows an insert
	// (Store.Refresh): apart from inserts, which go on meanwhile.
	refreshes *dependency
	// insertFailure is where the last failed INSERT failed, for /readyz.
	insertFailure atomic.Pointer[InsertFailure]
	// schemaOK: schema_migrations had every migration of this binary when
	// last checked (checkSchema).
	schemaOK   atomic.Bool
	deadLetter *dependency
	broker     *dependency
	// restarts paces consuming again after a super-batch INSERT failed (used
	// by Run's goroutine only); stored tells it one succeeded since.
	restarts backoff
	stored   atomic.Bool
	// buffer bounds the bytes of the records between fetch and insert.
	buffer *budget
	// fetchLag is the records not yet handed to the batcher, as of each
	// partition's last fetch: a backlog while it is a batch or more
	// (finisher.backlog).
	fetchLag atomic.Int64
	// refused says why the ingester stops rather than skip records
	// (--offset-out-of-range=fail), or nil.
	refused atomic.Pointer[string]
	// headers is decode's scratch for a record's headers: used by the batch
	// loop's goroutine only, so a record costs no allocation for them.
	headers []event.Header
}

// New wires an ingester. reg receives its self-metrics.
func New(cfg Config, kc broker.Config, dec Decoder, store Store, dlq DeadLetterWriter, logger *slog.Logger, reg prometheus.Registerer) *Ingester {
	m := newMetrics(reg)
	// Series that only move on a failure start at zero, so dashboards show
	// them and rate()/increase() see the first failure.
	for _, topic := range kc.Topics.Inputs() {
		m.fetchErrors.WithLabelValues(topic)
	}
	// internal_error is not among them: it is a bug's, and the dead-letter
	// alert sees a reason's new series as well.
	for _, r := range event.Reasons() {
		m.deadLetters.WithLabelValues(string(r))
	}
	for _, how := range []string{reducedHeadersDropped, reducedValueCut, reducedStub} {
		m.deadLettersReduced.WithLabelValues(how)
	}
	in := &Ingester{
		cfg: cfg, kafka: kc, decoder: dec, store: store, dlq: dlq, logger: logger,
		metrics:    m,
		clickhouse: newDependency("ClickHouse", logger, false),
		inserts:    newDependency("ClickHouse insert", logger, true),
		refreshes:  newDependency("ClickHouse patient-order refresh", logger, true),
		deadLetter: newDependency("dead-letter topic "+kc.Topics.DeadLetters, logger, true),
		broker:     newDependency("Kafka", logger, true),
		buffer:     newBudget(cfg.BufferedBytes(), m.bufferedBytes, m.bufferedPeakBytes),
		restarts:   backoff{min: cfg.RetryBackoffMin, max: cfg.RetryBackoffMax},
	}
	if _, ok := in.rechecker(); ok {
		for _, outcome := range []string{recheckDone, recheckFailed, recheckDropped} {
			m.patientOrderRechecks.WithLabelValues(outcome)
		}
	}
	if _, ok := store.(kpiStatePasser); ok && cfg.KPIStateInterval > 0 {
		for _, outcome := range []string{kpiStatePassed, kpiStateFailed} {
			m.kpiStatePasses.WithLabelValues(outcome)
		}
	}
	return in
}

// Run consumes until ctx ends, then stops fetching, stores and commits what it
// has, and returns nil; or ErrGraceExpired if that took longer than the grace
// period, a wrapped broker.ErrRejected if Kafka refuses the credentials at
// start, or a wrapped ErrOffsetOutOfRange under --offset-out-of-range=fail.
// Other errors are retried, never returned.
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

	in.progressed() // starting counts: the stall timeout runs from here
	go in.watchClickHouse(ctx)
	if r, ok := in.rechecker(); ok {
		go in.recheckPatientOrder(ctx, r)
	}
	if p, ok := in.store.(kpiStatePasser); ok && in.cfg.KPIStateInterval > 0 {
		go in.keepKPIState(ctx, p)
	}

	// The dead-letter topic is waited for too, after the inputs so that
	// readiness names it alone: without it the first invalid record would
	// stall the batch that holds it.
	inputs := in.Topics()
	for _, wait := range []struct {
		topics []string
		why    string
	}{
		{inputs, fmt.Sprintf("waiting for the input topics %s to exist", strings.Join(inputs, ", "))},
		{[]string{in.kafka.Topics.DeadLetters}, fmt.Sprintf("waiting for the dead-letter topic %s to exist", in.kafka.Topics.DeadLetters)},
	} {
		in.waiting.Store(&wait.why)
		if err := broker.WaitForTopics(ctx, in.kafka, wait.topics, in.logger); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err // refused credentials: retrying cannot help
		}
	}
	in.waiting.Store(nil)
	// Every client of this run shares the security settings' one dialer and transport.
	var err error
	if in.dialer, err = in.kafka.Dialer(); err != nil {
		return err
	}
	if in.admin, err = in.kafka.Client(5 * time.Second); err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                    in.cfg.Group,
		Brokers:               in.kafka.Brokers,
		Dialer:                in.dialer,
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

// kafkaError routes kafka-go's error log into ours at debug level: the
// dependency tracking logs what an operator needs, once per state change.
func (in *Ingester) kafkaError(msg string, args ...any) {
	in.logger.Debug("kafka-go", "msg", fmt.Sprintf(msg, args...))
}

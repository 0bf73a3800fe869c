package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/embedkafka"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/service"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

// partitions is the partition count of the embedded broker's topics, as
// deploy/local creates them on the real one.
const partitions = 6

// Run runs the demo with a validated c until ctx ends, or until the KPI
// table is printed with --exit: Kafka (embedded unless brokers were named)
// and ClickHouse are set up, the ingester and the exporter start; then a
// quarter is replayed into Kafka and, once stored, summarized with the KPI
// table; then the stream goes on live with a live view. It stops in
// service.Process's order, the generator first: once it stopped, the
// ingester is let catch up, so a resumed run has no gap to fill and the
// embedded broker loses nothing unstored. The embedded broker stops last.
func Run(ctx context.Context, logger *slog.Logger, c *Config, out io.Writer) error {
	db := c.ClickHouse.Database()
	kc := *c.Kafka
	inputs := inputsOf(c, kc)
	if c.embedded {
		b, err := embedkafka.Start(c.embeddedListen, partitions, append(inputsOf(c, kc), kc.Topics.DeadLetters)...)
		if errors.Is(err, embedkafka.ErrAddrInUse) {
			return fmt.Errorf("%w: is a Kafka broker running there (`make services-up` starts one)? Pass --kafka-brokers %s to use it, or --embedded-kafka-listen with a free address, e.g. 127.0.0.1:19092",
				err, c.embeddedListen)
		}
		if err != nil {
			return err
		}
		defer b.Close() // last: everything else has stopped using it
		kc.Brokers = []string{b.Addr()}
	}

	// Every part connects first, so that a wrong password stops the demo
	// before it changes anything.
	migrator, writer, exporter, err := c.roles()
	if err != nil {
		return err
	}
	setupCtx, cancelSetup := context.WithTimeout(ctx, c.timeout)
	defer cancelSetup()
	conns := make([]driver.Conn, 3)
	for i, r := range []role{migrator, writer, exporter} {
		if conns[i], err = r.open(setupCtx); err != nil {
			return err
		}
		defer conns[i].Close() // the process closes the writer's again, harmlessly
	}
	mconn, conn, xconn := conns[0], conns[1], conns[2]
	if c.fresh {
		// The PHI database first: its views write into db.
		for _, name := range []string{schema.PHIDatabase(db), db} {
			if err := (clickhouse.Native{Conn: mconn}).Exec(setupCtx, "DROP DATABASE IF EXISTS "+name); err != nil {
				return fmt.Errorf("--fresh: drop database %s: %w", name, err)
			}
		}
		fmt.Fprintf(out, "--fresh: dropped ClickHouse databases %s and %s; they are created again, empty\n", db, schema.PHIDatabase(db))
	}
	if _, _, err := schema.MigrateConn(setupCtx, mconn, migrator.cfg); err != nil {
		return err
	}
	mconn.Close() // the migrator's part is done
	q := clickhouse.Native{Conn: conn}
	plan, err := planReplay(setupCtx, q, db, c)
	if err != nil {
		return err
	}
	if !c.embedded {
		if err := broker.WaitForTopics(setupCtx, kc, inputs, logger); err != nil {
			return fmt.Errorf("Kafka %s: %w", kc.Brokers, err)
		}
	}

	// The ingester and the exporter, as the ingest and export commands build
	// them; the live view reads the ingester's metrics and the exporter's
	// latest snapshot. Their registries leave out the Go and process metrics
	// the commands serve: one process behind two endpoints would report them
	// twice.
	ingestReg := prometheus.NewRegistry()
	in, err := service.NewIngest(*c.Ingest, kc, *c.Event, conn, db, *c.HTTP, logger.With("step", "ingest"), ingestReg)
	if err != nil {
		return err
	}
	stream, err := generator.NewStream(c.stream, plan.from)
	if err != nil {
		in.Close()
		return err
	}
	if c.standardFeeds {
		mapper, err := c.siteMapper(stream, plan.end)
		if err != nil {
			in.Close()
			return err
		}
		in.Ingester.ReadStandard(mapper)
		if c.randomKey {
			fmt.Fprintf(out, "%s is not set: patient tokens are keyed with a random key for this run\n", mapping.KeyEnv)
		}
	}
	var latest atomic.Pointer[kpi.Snapshot]
	xq := clickhouse.Native{Conn: xconn}
	chSource := metrics.ClickHouseSource(xq, db)
	source := func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
		s, err := chSource(ctx, r)
		if err == nil {
			latest.Store(&s)
		}
		return s, err
	}
	exp, err := service.NewExport(*c.Export, *c.KPI, source, *c.HTTP, logger.With("step", "export"), prometheus.NewRegistry())
	if err != nil {
		in.Close()
		return err
	}

	printWhere(out, c, kc, in.Server.URL(), exp.Server.URL())

	err = service.Process{ClickHouse: conn, Ingest: in, Export: exp, Driver: func(runCtx context.Context) error {
		err := phases(runCtx, c, kc, plan, stream, q, xq, ingestReg, &latest, logger, out)
		// Let the ingester store what was produced, unless a part failed.
		if err == nil && context.Cause(runCtx) == context.Cause(ctx) {
			drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			if werr := waitCaughtUp(drainCtx, kc, c.Ingest.Group, inputs); werr != nil {
				logger.Warn("stopping before the ingester caught up; the rest is delivered again by the next run", "err", werr)
			}
		}
		return err
	}}.Run(ctx)
	if err == nil {
		fmt.Fprint(out, "stopped cleanly: the generator, then the ingester (everything produced is stored and committed), the exporter")
		if c.embedded {
			fmt.Fprint(out, ", the embedded broker")
		}
		fmt.Fprintln(out)
	}
	return err
}

// phases replays, summarizes and then streams live until ctx ends. It
// returns nil when ctx ends (Ctrl-C is a clean stop at any point). q is the
// writer's (the summary reads the raw events), kq the exporter's (the KPI
// table).
func phases(ctx context.Context, c *Config, kc broker.Config, plan replayPlan, stream *generator.Stream, q, kq clickhouse.Querier,
	ingestReg prometheus.Gatherer, latest *atomic.Pointer[kpi.Snapshot], logger *slog.Logger, out io.Writer) (err error) {
	db := c.ClickHouse.Database()
	if !plan.skip.IsZero() {
		stream.SkipThrough(plan.skip)
	}
	p, err := broker.NewProducer(kc, 5000)
	if err != nil {
		return err
	}
	defer p.Close(context.WithoutCancel(ctx))
	var produced atomic.Int64
	send := func(m generator.Message) error {
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, broker.Headers(m.Headers))
	}
	flush := p.Flush
	if c.standardFeeds {
		f, err := startFeeds(ctx, kc, p, c.key, logger)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, f.close()) }()
		send = func(m generator.Message) error { return f.emit(ctx, m) }
		flush = f.flush
		fmt.Fprintf(out, "feeds: a third of the referrals as HL7 v2 through the MLLP receiver at %s (to %s), a third as FHIR R4 (to %s), the rest as CloudEvents\n",
			f.Addr(), kc.Topics.HL7v2, kc.Topics.FHIR)
	}
	emit := func(m generator.Message) error {
		produced.Add(1)
		return send(m)
	}

	fmt.Fprintln(out, plan.describe(db, c))
	start := time.Now()
	if err := stream.Advance(ctx, plan.end, emit); err != nil {
		return stopped(ctx, err)
	}
	if err := flush(ctx); err != nil {
		return stopped(ctx, err)
	}
	st := stream.Stats()
	fmt.Fprintf(out, "replay produced %d messages in %s: %d referrals, %d events, %d duplicates, %d invalid; waiting for the ingester\n",
		produced.Load(), time.Since(start).Round(100*time.Millisecond), st.Referrals, st.Events, st.Duplicates, st.Invalid)
	waitCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := waitCaughtUp(waitCtx, kc, c.Ingest.Group, inputsOf(c, kc)); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the replay was not stored within --timeout %s: %w", c.timeout, err)
	}
	fmt.Fprintf(out, "replay stored after %s\n", time.Since(start).Round(100*time.Millisecond))
	if err := printSummary(ctx, out, q, db, ingestReg, formatsOf(c, kc)); err != nil {
		return stopped(ctx, err)
	}
	snap, err := kpi.Request{DB: db, AsOf: c.now(), Windows: c.KPI.Windows, Calendar: &c.KPI.SLA, State: c.KPI.State}.Evaluate(ctx, kq)
	if err != nil {
		return stopped(ctx, err)
	}
	fmt.Fprintln(out)
	if err := kpi.WriteTable(out, snap); err != nil {
		return err
	}
	if c.exit {
		return nil
	}

	// Live: the stream plays the rest at --live-speed, then in real time.
	clock := generator.LiveClock{SimStart: plan.end, WallStart: c.now(), Speed: c.speed}
	fmt.Fprintf(out, "\nstreaming live from %s at %gx (an hour of referrals every %s), in real time from %s; Ctrl-C stops\n\n",
		plan.end.Format(time.RFC3339), c.speed, (time.Duration(float64(time.Hour) / c.speed)).Round(time.Second),
		clock.CaughtUp().Format(time.TimeOnly))
	var simNow atomic.Int64
	simNow.Store(plan.end.Unix())
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	genDone := make(chan error, 1)
	go func() {
		genDone <- generator.RunLive(genCtx, stream, clock, time.Second, c.now, emit, func(ctx context.Context) error {
			simNow.Store(stream.Now().Unix())
			return flush(ctx)
		})
	}()
	view := newLiveView(out, ingestReg, latest, &simNow, &produced, c.now)
	tick := time.NewTicker(c.viewInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-genDone:
			return stopped(ctx, err)
		case <-ctx.Done():
			stopGen()
			return stopped(ctx, <-genDone)
		case <-tick.C:
			view.print()
		}
	}
}

// stopped is err, or nil when ctx has ended: an interrupted step is a clean stop.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// waitCaughtUp polls until group has committed everything on topics.
func waitCaughtUp(ctx context.Context, kc broker.Config, group string, topics []string) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		lag, err := broker.GroupLag(ctx, kc, group, topics...)
		if err == nil && broker.TotalLag(lag) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}

// formatsOf maps each input topic to its format.
func formatsOf(c *Config, kc broker.Config) map[string]string {
	m := map[string]string{}
	for _, t := range kc.Topics.Inputs() {
		m[t] = formatCloudEvents
	}
	if c.standardFeeds {
		m[kc.Topics.HL7v2], m[kc.Topics.FHIR] = formatHL7v2, formatFHIR
	}
	return m
}

// inputsOf is the topics the demo's ingester consumes.
func inputsOf(c *Config, kc broker.Config) []string {
	ts := kc.Topics.Inputs()
	if c.standardFeeds {
		ts = append(ts, kc.Topics.HL7v2, kc.Topics.FHIR)
	}
	return ts
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/embedkafka"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
	"github.com/referralops/referralops/schema"
)

var demoCommand = command{
	summary: "the whole pipeline in one process: an embedded Kafka, a realistic quarter of referrals replayed and then streamed live, the ingester and the KPI exporter, with a live view; Ctrl-C stops",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		opts, validate := setupDemo(fs, file)
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runDemo(ctx, logger, file, opts, os.Stdout)
		}
	},
}

// setupDemo registers the demo's flags; its validate also decides whether
// to embed a broker: only when no layer (flag, REFERRALOPS_KAFKA_BROKERS,
// the file) names one.
func setupDemo(fs *flag.FlagSet, file *fileConfig) (*demoOptions, func() error) {
	opts := defaultDemoOptions()
	opts.RegisterFlags(fs)
	file.ClickHouse.RegisterFlags("", fs)
	file.Kafka.RegisterFlags(fs)
	// Empty until a layer sets it: the flag, its variable and the file all
	// write this field, and none of them writes an empty list.
	file.Kafka.Brokers = nil
	if f := fs.Lookup("kafka-brokers"); f != nil {
		f.DefValue = ""
		f.Usage = "comma-separated Kafka bootstrap brokers (host:port) to use instead of the embedded broker"
	}
	file.Event.RegisterFlags("", fs)
	file.Ingest.Group = "referralops-demo"
	file.Ingest.MemoryLimit = 0 // the embedded broker holds the replay in memory too
	file.Ingest.RegisterFlags(fs)
	file.KPI.RegisterFlags("", fs)
	file.Export.RefreshInterval = 10 * time.Second
	fs.StringVar(&file.Export.Listen, "export-listen", file.Export.Listen, "address of the KPI exporter's /metrics")
	fs.DurationVar(&file.Export.RefreshInterval, "refresh-interval", file.Export.RefreshInterval, "how often the exporter (and the live view's KPI table) re-evaluates the KPIs")
	validate := func() error {
		opts.embedded = len(file.Kafka.Brokers) == 0
		if opts.embedded {
			file.Kafka.Brokers = []string{opts.embeddedListen} // validated as host:port
		}
		opts.stream.MaxMessageBytes = file.Event.MaxMessageBytes
		return errors.Join(opts.Validate(), file.ClickHouse.Validate(), file.Kafka.Validate(), file.Event.Validate(),
			file.Ingest.Validate(), file.KPI.Validate(), file.Export.Validate())
	}
	return opts, validate
}

// demoPartitions is the partition count of the embedded broker's topics, as
// deploy/local creates them on the real one.
const demoPartitions = 6

// resumeMargin is how far before the newest stored event a resumed demo
// starts delivering again: events produced but not yet stored when the last
// run stopped are delivered again, stored ones are deduplicated.
const resumeMargin = time.Hour

type demoOptions struct {
	stream         generator.StreamConfig
	referrals      int           // created in the replayed period
	days           int           // the replayed period
	speed          float64       // simulated seconds per wall second while catching up
	catchUp        time.Duration // simulated time streamed live at speed before following the wall clock
	embeddedListen string
	embedded       bool // no broker was named: run the embedded one
	fresh          bool
	exit           bool
	timeout        time.Duration // for the replay to be stored
	prometheusURL  string
	viewInterval   time.Duration
	dashboards     string
	now            func() time.Time
}

func defaultDemoOptions() *demoOptions {
	return &demoOptions{
		stream:         generator.DefaultStreamConfig(),
		referrals:      45000,
		days:           90,
		speed:          60,
		catchUp:        24 * time.Hour,
		embeddedListen: "127.0.0.1:9092",
		timeout:        10 * time.Minute,
		prometheusURL:  "http://127.0.0.1:9090",
		viewInterval:   3 * time.Second,
		dashboards:     "deploy/grafana/dashboards",
		now:            time.Now,
	}
}

func (o *demoOptions) RegisterFlags(fs *flag.FlagSet) {
	o.stream.RegisterFlags(fs)
	fs.IntVar(&o.referrals, "referrals", o.referrals, "referrals created in the replayed --days; the live stream keeps the same daily rate")
	fs.IntVar(&o.days, "days", o.days, "days of referrals replayed before streaming live")
	fs.Float64Var(&o.speed, "live-speed", o.speed, "simulated seconds per wall second while the live stream catches up with now (60: an hour a minute)")
	fs.DurationVar(&o.catchUp, "live-catchup", o.catchUp, "the replay ends this long before now; the live stream plays it at --live-speed, then follows the wall clock")
	fs.StringVar(&o.embeddedListen, "embedded-kafka-listen", o.embeddedListen, "address of the embedded Kafka broker (used unless --kafka-brokers is given)")
	fs.BoolVar(&o.fresh, "fresh", o.fresh, "drop and recreate the ClickHouse database first (default: keep it and resume)")
	fs.BoolVar(&o.exit, "exit", o.exit, "exit once the replay is stored and the KPI table printed, instead of streaming live until Ctrl-C")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "give up if the replay is not stored by then")
	fs.StringVar(&o.prometheusURL, "prometheus-url", o.prometheusURL, "the Prometheus that scrapes the demo's /metrics (printed, and checked)")
	fs.DurationVar(&o.viewInterval, "view-interval", o.viewInterval, "how often the live view is printed")
}

func (o *demoOptions) Validate() error {
	var errs []error
	if o.days < 1 || o.days > 365 {
		errs = append(errs, fmt.Errorf("days: must be between 1 and 365, got %d", o.days))
	}
	if o.referrals < 1 {
		errs = append(errs, fmt.Errorf("referrals: must be > 0, got %d", o.referrals))
	} else if o.days >= 1 {
		o.stream.PerDay = float64(o.referrals) / float64(o.days)
		if err := o.stream.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("referrals, days: %w", err))
		}
	}
	if !(o.speed >= 1) {
		errs = append(errs, fmt.Errorf("live-speed: must be >= 1, got %v", o.speed))
	}
	if o.catchUp < 0 {
		errs = append(errs, fmt.Errorf("live-catchup: must be >= 0, got %s", o.catchUp))
	}
	if o.timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be > 0, got %s", o.timeout))
	}
	if o.viewInterval <= 0 {
		errs = append(errs, fmt.Errorf("view-interval: must be > 0, got %s", o.viewInterval))
	}
	return errors.Join(errs...)
}

// runDemo runs the pipeline in one process: Kafka (embedded unless brokers
// were named), the ingester and the exporter start first; then a quarter is
// replayed into Kafka and, once stored, summarized with the KPI table; then
// the stream goes on live with a live view until ctx ends (or returns after
// the table with opts.exit). Shutdown order: generator, ingester (after it
// has caught up, then flush and commit), exporter, HTTP, ClickHouse, broker.
func runDemo(ctx context.Context, logger *slog.Logger, file *fileConfig, opts *demoOptions, out io.Writer) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && file.Ingest.MemoryLimit > 0 {
		debug.SetMemoryLimit(file.Ingest.MemoryLimit)
	}
	db := file.ClickHouse.Database()
	kc := *file.Kafka
	if opts.embedded {
		b, err := embedkafka.Start(opts.embeddedListen, demoPartitions, append(kc.Topics.Inputs(), kc.Topics.DeadLetters)...)
		if errors.Is(err, embedkafka.ErrAddrInUse) {
			return fmt.Errorf("%w: is a Kafka broker running there (`make services-up` starts one)? Pass --kafka-brokers %s to use it, or --embedded-kafka-listen with a free address, e.g. 127.0.0.1:19092",
				err, opts.embeddedListen)
		}
		if err != nil {
			return err
		}
		defer b.Close() // last: everything else has stopped using it
		kc.Brokers = []string{b.Addr()}
	}

	setupCtx, cancelSetup := context.WithTimeout(ctx, opts.timeout)
	defer cancelSetup()
	conn, err := clickhouse.Open(setupCtx, *file.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	q := clickhouse.Native{Conn: conn}
	if opts.fresh {
		if err := q.Exec(setupCtx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return fmt.Errorf("--fresh: drop database %s: %w", db, err)
		}
		fmt.Fprintf(out, "--fresh: dropped ClickHouse database %s; it is created again, empty\n", db)
	}
	if _, _, err := schema.MigrateConn(setupCtx, conn, *file.ClickHouse); err != nil {
		return err
	}
	plan, err := planReplay(setupCtx, q, db, opts)
	if err != nil {
		return err
	}
	if !opts.embedded {
		if err := broker.WaitForTopics(setupCtx, kc, kc.Topics.Inputs(), logger); err != nil {
			return fmt.Errorf("Kafka %s: %w", kc.Brokers, err)
		}
	}

	// The ingester and the exporter, each with its own stop, in shutdown order.
	dlq := broker.NewWriter(kc, kc.Topics.DeadLetters)
	defer dlq.Close()
	ingestReg := prometheus.NewRegistry()
	in := ingest.New(*file.Ingest, kc, event.NewDecoder(*file.Event), ingest.NewClickHouseStore(conn, db, file.Ingest.InsertParallel),
		dlq, logger.With("step", "ingest"), ingestReg)
	ingestSrv := &httpserver.Server{Addr: file.Ingest.Listen, Gatherer: ingestReg, Ready: in.Ready, Logger: logger}
	if err := ingestSrv.Listen(); err != nil {
		return err
	}
	var latest atomic.Pointer[kpi.Snapshot]
	chSource := metrics.ClickHouseSource(q, db)
	source := func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
		s, err := chSource(ctx, r)
		if err == nil {
			latest.Store(&s)
		}
		return s, err
	}
	exportReg := prometheus.NewRegistry()
	exp := metrics.NewExporter(*file.Export, *file.KPI, source, logger.With("step", "export"), exportReg)
	exportSrv := &httpserver.Server{Addr: file.Export.Listen, Gatherer: exp.Gatherer(exportReg), Ready: exp.Ready, Logger: logger}
	if err := exportSrv.Listen(); err != nil {
		return err
	}

	runCtx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	ingestCtx, stopIngest := context.WithCancel(context.WithoutCancel(ctx))
	defer stopIngest()
	exportCtx, stopExport := context.WithCancel(context.WithoutCancel(ctx))
	defer stopExport()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHTTP()
	var servers errgroup.Group
	for _, srv := range []*httpserver.Server{ingestSrv, exportSrv} {
		servers.Go(func() error {
			err := srv.Run(httpCtx)
			if err != nil {
				abort(fmt.Errorf("http server %s: %w", srv.URL(), err))
			}
			return err
		})
	}
	ingestDone := make(chan error, 1)
	go func() {
		err := in.Run(ingestCtx)
		if err != nil {
			abort(fmt.Errorf("ingest: %w", err))
		}
		ingestDone <- err
	}()
	exportDone := make(chan error, 1)
	go func() { exportDone <- exp.Run(exportCtx) }()

	printWhere(out, file, kc, opts, ingestSrv.URL(), exportSrv.URL())

	err = demoPhases(runCtx, file, kc, opts, plan, q, ingestReg, &latest, out)

	// Shutdown, in order. The generator has stopped (demoPhases returned).
	// Let the ingester store what was produced, so that a resumed run has no
	// gap to fill and the embedded broker loses nothing unstored, then stop it.
	if err == nil && context.Cause(runCtx) == context.Cause(ctx) {
		drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		if werr := waitCaughtUp(drainCtx, kc, file.Ingest.Group); werr != nil {
			logger.Warn("stopping before the ingester caught up; the rest is delivered again by the next run", "err", werr)
		}
		cancel()
	}
	stopIngest()
	if ierr := <-ingestDone; err == nil && ierr != nil {
		err = fmt.Errorf("ingest: %w", ierr)
	}
	stopExport()
	<-exportDone
	stopHTTP()
	if herr := servers.Wait(); err == nil {
		err = herr
	}
	if cause := context.Cause(runCtx); err == nil && cause != nil && cause != context.Cause(ctx) {
		err = cause // a component failed
	}
	if err == nil {
		fmt.Fprint(out, "stopped cleanly: the generator, then the ingester (everything produced is stored and committed), the exporter")
		if opts.embedded {
			fmt.Fprint(out, ", the embedded broker")
		}
		fmt.Fprintln(out)
	}
	return err
}

// demoPhases replays, summarizes and then streams live until ctx ends. It
// returns nil when ctx ends (Ctrl-C is a clean stop at any point).
func demoPhases(ctx context.Context, file *fileConfig, kc broker.Config, opts *demoOptions,
	plan replayPlan, q clickhouse.Querier, ingestReg prometheus.Gatherer, latest *atomic.Pointer[kpi.Snapshot], out io.Writer) error {
	db := file.ClickHouse.Database()
	stream, err := generator.NewStream(opts.stream, plan.from)
	if err != nil {
		return err
	}
	if !plan.skip.IsZero() {
		stream.SkipThrough(plan.skip)
	}
	p := broker.NewProducer(kc, 5000)
	defer p.Close(context.WithoutCancel(ctx))
	var produced atomic.Int64
	emit := func(m generator.Message) error {
		produced.Add(1)
		return p.Send(ctx, kc.Topics.For(m.Stream), m.Key, m.Value, kafkaHeaders(m))
	}

	fmt.Fprintln(out, plan.describe(db, opts))
	start := time.Now()
	if err := stream.Advance(ctx, plan.end, emit); err != nil {
		return stopped(ctx, err)
	}
	if err := p.Flush(ctx); err != nil {
		return stopped(ctx, err)
	}
	st := stream.Stats()
	fmt.Fprintf(out, "replay produced %d messages in %s: %d referrals, %d events, %d duplicates, %d invalid; waiting for the ingester\n",
		produced.Load(), time.Since(start).Round(100*time.Millisecond), st.Referrals, st.Events, st.Duplicates, st.Invalid)
	waitCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	if err := waitCaughtUp(waitCtx, kc, file.Ingest.Group); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the replay was not stored within --timeout %s: %w", opts.timeout, err)
	}
	fmt.Fprintf(out, "replay stored after %s\n", time.Since(start).Round(100*time.Millisecond))
	if err := printSummary(ctx, out, q, db, ingestReg); err != nil {
		return stopped(ctx, err)
	}
	snap, err := kpi.Request{DB: db, AsOf: opts.now(), Windows: file.KPI.Windows}.Evaluate(ctx, q)
	if err != nil {
		return stopped(ctx, err)
	}
	fmt.Fprintln(out)
	if err := kpi.WriteTable(out, snap); err != nil {
		return err
	}
	if opts.exit {
		return nil
	}

	// Live: the stream plays the rest at --live-speed, then in real time.
	clock := generator.LiveClock{SimStart: plan.end, WallStart: opts.now(), Speed: opts.speed}
	fmt.Fprintf(out, "\nstreaming live from %s at %gx (an hour of referrals every %s), in real time from %s; Ctrl-C stops\n\n",
		plan.end.Format(time.RFC3339), opts.speed, (time.Duration(float64(time.Hour) / opts.speed)).Round(time.Second),
		clock.CaughtUp().Format(time.TimeOnly))
	var simNow atomic.Int64
	simNow.Store(plan.end.Unix())
	genCtx, stopGen := context.WithCancel(ctx)
	defer stopGen()
	genDone := make(chan error, 1)
	go func() {
		genDone <- generator.RunLive(genCtx, stream, clock, time.Second, opts.now, emit, func(ctx context.Context) error {
			simNow.Store(stream.Now().Unix())
			return p.Flush(ctx)
		})
	}()
	view := newLiveView(out, ingestReg, latest, &simNow, &produced, opts.now)
	tick := time.NewTicker(opts.viewInterval)
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

// replayPlan is what this run replays, given what the database holds.
type replayPlan struct {
	from    time.Time // referrals created from then on are simulated
	skip    time.Time // events at or before were delivered by an earlier run; zero: none
	end     time.Time // replayed through; the live stream starts there
	stored  int64     // demo referrals already stored
	first   time.Time // creation of the first stored one
	last    time.Time // the newest stored demo event
	refresh bool      // stored data is older than the replay period: replayed in full
}

// planReplay replays the --days up to --live-catchup ago, unless the
// database already holds the demo stream's data: then the stream is resumed
// shortly before its newest stored event (the stream is deterministic, so
// what is delivered again is deduplicated, not doubled).
func planReplay(ctx context.Context, q clickhouse.Querier, db string, opts *demoOptions) (replayPlan, error) {
	end := opts.now().Add(-opts.catchUp).Truncate(time.Second)
	p := replayPlan{from: end.Add(-time.Duration(opts.days) * 24 * time.Hour), end: end}
	like := "referral_id LIKE '" + generator.StreamReferralLike + "'"
	rows, err := q.Query(ctx, "SELECT uniqExact(referral_id), toUnixTimestamp(min(event_time)) FROM "+db+".events WHERE event_type = 'referral.created' AND "+like)
	if err != nil {
		return p, fmt.Errorf("reading what %s holds: %w", db, err)
	}
	if len(rows) == 1 {
		p.stored, _ = strconv.ParseInt(rows[0][0], 10, 64)
	}
	if p.stored == 0 {
		return p, nil
	}
	first, _ := strconv.ParseInt(rows[0][1], 10, 64)
	rows, err = q.Query(ctx, "SELECT toUnixTimestamp(max(event_time)) FROM "+db+".events WHERE "+like)
	if err != nil || len(rows) != 1 {
		return p, fmt.Errorf("reading what %s holds: %w", db, err)
	}
	last, _ := strconv.ParseInt(rows[0][0], 10, 64)
	p.first, p.last = time.Unix(first, 0).UTC(), time.Unix(last, 0).UTC()
	skip := p.last.Add(-resumeMargin)
	if skip.Before(p.from) {
		// Too old to continue: replay the period in full. Its referrals are
		// all new (created after everything stored), so nothing overlaps.
		p.refresh = true
		return p, nil
	}
	p.skip = skip
	p.from = maxTime(p.first, skip.Add(-generator.MaxReferralLifetime))
	p.end = maxTime(end, skip)
	return p, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (p replayPlan) describe(db string, opts *demoOptions) string {
	rate := fmt.Sprintf("%.0f referrals a day, seed %d", opts.stream.PerDay, opts.stream.Seed)
	switch {
	case !p.skip.IsZero():
		return fmt.Sprintf("ClickHouse %s already holds the demo's %d referrals created since %s, events through %s: not replayed again; "+
			"resuming from %s (%s; --fresh starts over)",
			db, p.stored, p.first.Format(time.DateOnly), p.last.Format(time.RFC3339), p.skip.Format(time.RFC3339), rate)
	case p.refresh:
		return fmt.Sprintf("ClickHouse %s holds the demo's data through %s, more than --days %d ago: replaying the last %d days in full (%s)",
			db, p.last.Format(time.RFC3339), opts.days, opts.days, rate)
	}
	return fmt.Sprintf("replaying %d days of referrals, created %s to %s (%s)",
		opts.days, p.from.Format(time.RFC3339), p.end.Format(time.RFC3339), rate)
}

// printWhere tells where everything is.
func printWhere(out io.Writer, file *fileConfig, kc broker.Config, opts *demoOptions, ingestURL, exportURL string) {
	db := file.ClickHouse.Database()
	chOpts, _ := file.ClickHouse.Options() // validated
	host, port := "127.0.0.1", "9000"
	if len(chOpts.Addr) > 0 {
		if i := strings.LastIndex(chOpts.Addr[0], ":"); i > 0 {
			host, port = chOpts.Addr[0][:i], chOpts.Addr[0][i+1:]
		}
	}
	addr := kc.Brokers.String()
	kafkaWhat := "Kafka " + addr
	if opts.embedded {
		kafkaWhat = fmt.Sprintf("embedded Kafka broker at %s (in memory; %d partitions per topic)", addr, demoPartitions)
	}
	prom := "not answering: `deploy/local/prometheus.sh up` starts it"
	if ok := promReady(opts.prometheusURL); ok {
		prom = "answering"
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "referralops demo\n")
	fmt.Fprintf(w, "  Kafka\t%s; topics %s\n", kafkaWhat, strings.Join(append(kc.Topics.Inputs(), kc.Topics.DeadLetters), ", "))
	fmt.Fprintf(w, "  kcat\tkcat -b %s -L    kcat -b %s -C -t %s -o end\n", addr, addr, kc.Topics.Referrals)
	fmt.Fprintf(w, "  ClickHouse\tdatabase %s at %s:%s\n", db, host, port)
	fmt.Fprintf(w, "  analysts\tclickhouse-client --host %s --port %s --user referralops_analyst --password \"${CLICKHOUSE_ANALYST_PASSWORD:-analyst-dev}\" --database %s --query 'SELECT * FROM v_referrer_scorecard LIMIT 20'\n",
		host, port, db)
	fmt.Fprintf(w, "  KPI metrics\t%s/metrics\n", exportURL)
	fmt.Fprintf(w, "  ingest metrics\t%s/metrics\n", ingestURL)
	fmt.Fprintf(w, "  Prometheus UI\t%s (%s)\n", opts.prometheusURL, prom)
	fmt.Fprintf(w, "  dashboards\t%s (Grafana JSON, generated)\n", opts.dashboards)
	_ = w.Flush()
	fmt.Fprintln(out)
}

func promReady(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(strings.TrimSuffix(url, "/") + "/-/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitCaughtUp polls until group has committed everything on the input topics.
func waitCaughtUp(ctx context.Context, kc broker.Config, group string) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		lag, err := broker.GroupLag(ctx, kc, group, kc.Topics.Inputs()...)
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

// printSummary prints what the database holds and what this run dead-lettered.
func printSummary(ctx context.Context, out io.Writer, conn clickhouse.Querier, db string, reg prometheus.Gatherer) error {
	byType, err := conn.Query(ctx, "SELECT event_type, uniqExact(event_id) FROM "+db+".events GROUP BY event_type ORDER BY event_type")
	if err != nil {
		return err
	}
	byLine, err := conn.Query(ctx, "SELECT service_line, uniqExact(referral_id) FROM "+db+
		".events WHERE event_type = 'referral.created' GROUP BY service_line ORDER BY service_line")
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	section := func(title, col string, rows [][]string) {
		fmt.Fprintf(w, "\n%s\t%10s\n", title, col)
		for _, r := range rows {
			fmt.Fprintf(w, "  %s\t%10s\n", r[0], r[1])
		}
	}
	section("events by type (distinct ids in "+db+".events)", "events", byType)
	section("dead letters by reason (this run)", "messages", deadLetters(reg))
	section("referrals by service line", "referrals", byLine)
	return w.Flush()
}

func deadLetters(reg prometheus.Gatherer) [][]string {
	families, _ := reg.Gather()
	var rows [][]string
	for _, f := range families {
		if f.GetName() != "referralops_ingest_dead_letters_total" {
			continue
		}
		for _, m := range f.Metric {
			rows = append(rows, []string{m.Label[0].GetValue(), fmt.Sprint(int64(m.Counter.GetValue()))})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	if len(rows) == 0 {
		rows = append(rows, []string{"(none)", "0"})
	}
	return rows
}

// liveView prints the state of the live demo: on a terminal a block redrawn
// in place (the KPI table of the first window by service line, rates, dead
// letters, lag), otherwise one plain line each time.
type liveView struct {
	out      io.Writer
	terminal bool
	reg      prometheus.Gatherer
	latest   *atomic.Pointer[kpi.Snapshot]
	simNow   *atomic.Int64
	produced *atomic.Int64
	now      func() time.Time

	lastAt     time.Time
	lastStored float64
	lines      int // printed by the last terminal redraw
}

func newLiveView(out io.Writer, reg prometheus.Gatherer, latest *atomic.Pointer[kpi.Snapshot], simNow, produced *atomic.Int64, now func() time.Time) *liveView {
	f, ok := out.(*os.File)
	v := &liveView{out: out, terminal: ok && term.IsTerminal(int(f.Fd())), reg: reg, latest: latest, simNow: simNow, produced: produced, now: now}
	v.lastAt, v.lastStored = now(), v.gather().stored
	return v
}

type ingestNumbers struct {
	stored, deadLettered, deadLetters, lag float64
}

func (v *liveView) gather() ingestNumbers {
	var n ingestNumbers
	families, _ := v.reg.Gather()
	for _, f := range families {
		for _, m := range f.Metric {
			switch f.GetName() {
			case "referralops_ingest_records_total":
				for _, l := range m.Label {
					if l.GetName() == "outcome" && l.GetValue() == "stored" {
						n.stored += m.Counter.GetValue()
					}
				}
			case "referralops_ingest_dead_letters_total":
				n.deadLetters += m.Counter.GetValue()
			case "referralops_ingest_consumer_lag":
				n.lag += m.Gauge.GetValue()
			}
		}
	}
	return n
}

func (v *liveView) print() {
	now := v.now()
	n := v.gather()
	rate := 0.0
	if d := now.Sub(v.lastAt).Seconds(); d > 0 {
		rate = (n.stored - v.lastStored) / d
	}
	v.lastAt, v.lastStored = now, n.stored
	sim := time.Unix(v.simNow.Load(), 0).UTC()
	snap := v.latest.Load()
	if !v.terminal {
		line := fmt.Sprintf("live: simulated %s, produced %d, stored %.0f (%.1f events/s), dead letters %.0f, consumer lag %.0f",
			sim.Format(time.RFC3339), v.produced.Load(), n.stored, rate, n.deadLetters, n.lag)
		if snap != nil && len(snap.Windows) > 0 {
			ws := snap.Windows[0]
			line += fmt.Sprintf(", KPIs as of %s: %d referrals in %s, %s scheduled, backlog %d",
				snap.AsOf.Format(time.TimeOnly), ws.Totals.Referrals, ws.Window, pct(ws.Totals.Scheduled, ws.Totals.Referrals), ws.Totals.Backlog.Total())
		}
		fmt.Fprintln(v.out, line)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "live %s  simulated %s  (%s behind)\n", now.Format(time.TimeOnly), sim.Format("2006-01-02 15:04"),
		now.Sub(sim).Round(time.Minute))
	fmt.Fprintf(&b, "ingest %.1f events/s  stored %.0f  produced %d  dead letters %.0f  consumer lag %.0f\n\n",
		rate, n.stored, v.produced.Load(), n.deadLetters, n.lag)
	if snap == nil || len(snap.Windows) == 0 {
		b.WriteString("(no KPI snapshot yet)\n")
	} else {
		writeCompactKPIs(&b, *snap)
	}
	b.WriteString("\nCtrl-C stops.\n")
	text := b.String()
	if v.lines > 0 {
		fmt.Fprintf(v.out, "\033[%dA\033[J", v.lines) // back over the last block
	}
	fmt.Fprint(v.out, text)
	v.lines = strings.Count(text, "\n")
}

// writeCompactKPIs is the first window's KPIs by service line in one table,
// largest cohort first.
func writeCompactKPIs(w io.Writer, s kpi.Snapshot) {
	ws := s.Windows[0]
	fmt.Fprintf(w, "KPIs as of %s, referrals created in the last %s\n", s.AsOf.Format(time.RFC3339), ws.Window)
	rows := [][]string{{"service line", "referrals", "scheduled", "completed", "leaked", "days to appt p50/p90", "backlog"}}
	row := func(name string, f kpi.Fields) {
		rows = append(rows, []string{name, strconv.FormatInt(f.Referrals, 10), pct(f.Scheduled, f.Referrals),
			pct(f.Completed, f.Referrals), pct(f.Leaked, f.Referrals), daysP50P90(f.TimeToAppointment), strconv.FormatInt(f.Backlog.Total(), 10)})
	}
	lines := append([]string(nil), s.ServiceLines...)
	sort.SliceStable(lines, func(i, j int) bool {
		return ws.ByServiceLine[lines[i]].Referrals > ws.ByServiceLine[lines[j]].Referrals
	})
	for _, l := range lines {
		row(l, ws.ByServiceLine[l])
	}
	row("total", ws.Totals)
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s", widths[0], r[0])
		for i, c := range r[1:] {
			fmt.Fprintf(w, "  %*s", widths[i+1], c)
		}
		fmt.Fprintln(w)
	}
}

func pct(n, d int64) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(100*float64(n)/float64(d), 'f', 1, 64) + "%"
}

func daysP50P90(d kpi.Distribution) string {
	if d.P50 == nil || d.P90 == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f / %.1f", float64(*d.P50)/86400, float64(*d.P90)/86400)
}

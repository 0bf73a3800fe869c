package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

var demoCommand = command{
	summary: "migrate, generate a realistic month of referrals into Kafka, ingest it, print what was stored and the KPIs, then serve /metrics until Ctrl-C",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		gen := demoGenerator()
		gen.RegisterFlags(fs)
		file.ClickHouse.RegisterFlags("", fs)
		file.Kafka.RegisterFlags(fs)
		file.Event.RegisterFlags("", fs)
		file.Ingest.Group = "referralops-demo"
		file.Ingest.RegisterFlags(fs)
		file.KPI.RegisterFlags("", fs)
		fs.StringVar(&file.Export.Listen, "export-listen", file.Export.Listen, "address of the KPI exporter's /metrics")
		timeout := fs.Duration("timeout", 10*time.Minute, "give up if ingest has not caught up by then")
		exit := fs.Bool("exit", false, "exit after printing instead of serving /metrics until Ctrl-C")
		validate := func() error {
			gen.MaxMessageBytes = file.Event.MaxMessageBytes
			return errors.Join(gen.Validate(), file.ClickHouse.Validate(), file.Kafka.Validate(), file.Event.Validate(),
				file.Ingest.Validate(), file.KPI.Validate(), file.Export.Validate())
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runDemo(ctx, logger, file, gen, demoOptions{timeout: *timeout, exit: *exit}, os.Stdout)
		}
	},
}

// demoGenerator is a realistic month: 15,000 referrals, a few duplicates and
// invalid messages, out of order.
func demoGenerator() generator.Config {
	gen := generator.DefaultConfig()
	gen.Referrals = 15000
	gen.DuplicateRatio = 0.01
	gen.InvalidRatio = 0.002
	gen.Shuffle = true
	return gen
}

type demoOptions struct {
	timeout time.Duration // for catching up
	exit    bool          // return after printing
}

// runDemo runs the pipeline in one process. Once ingest has caught up it prints
// the summary and the KPI table, then keeps ingesting and serving both /metrics
// endpoints until ctx ends (unless opts.exit).
func runDemo(ctx context.Context, logger *slog.Logger, file *fileConfig, gen generator.Config, opts demoOptions, out io.Writer) error {
	setupCtx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	if err := migrate(setupCtx, logger.With("step", "migrate"), *file.ClickHouse); err != nil {
		return err
	}
	if err := generateKafka(setupCtx, logger.With("step", "generate"), gen, *file.Kafka); err != nil {
		return err
	}

	conn, err := clickhouse.Open(ctx, *file.ClickHouse)
	if err != nil {
		return err
	}
	defer conn.Close()
	dlq := broker.NewWriter(*file.Kafka, file.Kafka.Topics.DeadLetters)
	defer dlq.Close()
	reg := prometheus.NewRegistry()
	in := ingest.New(*file.Ingest, *file.Kafka, event.NewDecoder(*file.Event), ingest.NewClickHouseStore(conn, file.ClickHouse.Database(), file.Ingest.InsertParallel), dlq, logger.With("step", "ingest"), reg)
	srv := &httpserver.Server{Addr: file.Ingest.Listen, Gatherer: reg, Ready: in.Ready, Logger: logger}
	if err := srv.Listen(); err != nil {
		return err
	}
	fmt.Fprintf(out, "ingesting; self-metrics at %s/metrics\n", srv.URL())

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var g errgroup.Group
	g.Go(func() error { return srv.Run(runCtx) })
	g.Go(func() error { return in.Run(runCtx) })
	err = waitCaughtUp(setupCtx, *file.Kafka, file.Ingest.Group)
	if err == nil {
		err = printSummary(ctx, out, clickhouse.Native{Conn: conn}, file.ClickHouse.Database(), reg)
	}
	if err == nil {
		err = serveKPIs(runCtx, logger, file, conn, srv.URL(), out, opts.exit)
	}
	stop()
	if werr := g.Wait(); err == nil {
		err = werr
	}
	return err
}

// serveKPIs prints the KPI table and runs the exporter until ctx ends (or
// returns at once when exit is set).
func serveKPIs(ctx context.Context, logger *slog.Logger, file *fileConfig, conn driver.Conn, ingestURL string, out io.Writer, exit bool) error {
	db := file.ClickHouse.Database()
	q := clickhouse.Native{Conn: conn}
	snap, err := kpi.Request{DB: db, AsOf: time.Now(), Windows: file.KPI.Windows}.Evaluate(ctx, q)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := kpi.WriteTable(out, snap); err != nil {
		return err
	}
	if exit {
		return nil
	}
	reg := prometheus.NewRegistry()
	exp := metrics.NewExporter(*file.Export, *file.KPI, metrics.ClickHouseSource(q, db), logger.With("step", "export"), reg)
	srv := &httpserver.Server{Addr: file.Export.Listen, Gatherer: exp.Gatherer(reg), Ready: exp.Ready, Logger: logger}
	if err := srv.Listen(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nKPI metrics:       %s/metrics\ningester metrics:  %s/metrics\nanalysts:          clickhouse-client --query 'SELECT * FROM %s.v_referrer_scorecard LIMIT 20'\nStill ingesting and refreshing; Ctrl-C stops.\n",
		srv.URL(), ingestURL, db)
	var g errgroup.Group
	g.Go(func() error { return srv.Run(ctx) })
	g.Go(func() error { return exp.Run(ctx) })
	return g.Wait()
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

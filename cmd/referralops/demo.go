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

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/httpserver"
)

var demoCommand = command{
	summary: "migrate, generate a realistic month of referrals into Kafka, ingest it, and print what was stored",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		gen := generator.DefaultConfig()
		gen.Referrals = 15000
		gen.DuplicateRatio = 0.01
		gen.InvalidRatio = 0.002
		gen.Shuffle = true
		gen.RegisterFlags(fs)
		file.ClickHouse.RegisterFlags("", fs)
		file.Kafka.RegisterFlags(fs)
		file.Event.RegisterFlags("", fs)
		file.Ingest.Group = "referralops-demo"
		file.Ingest.RegisterFlags(fs)
		timeout := fs.Duration("timeout", 10*time.Minute, "give up if ingest has not caught up by then")
		validate := func() error {
			gen.MaxMessageBytes = file.Event.MaxMessageBytes
			return errors.Join(gen.Validate(), file.ClickHouse.Validate(), file.Kafka.Validate(), file.Event.Validate(), file.Ingest.Validate())
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runDemo(ctx, logger, file, gen, *timeout, os.Stdout)
		}
	},
}

func runDemo(ctx context.Context, logger *slog.Logger, file *fileConfig, gen generator.Config, timeout time.Duration, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := migrate(ctx, logger.With("step", "migrate"), *file.ClickHouse); err != nil {
		return err
	}
	if err := generateKafka(ctx, logger.With("step", "generate"), gen, *file.Kafka); err != nil {
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

	ingestCtx, stopIngest := context.WithCancel(ctx)
	var g errgroup.Group
	g.Go(func() error { return srv.Run(ingestCtx) })
	g.Go(func() error { return in.Run(ingestCtx) })
	waitErr := waitCaughtUp(ctx, *file.Kafka, file.Ingest.Group)
	stopIngest()
	if err := g.Wait(); err != nil {
		return err
	}
	if waitErr != nil {
		return fmt.Errorf("waiting for ingest to catch up: %w", waitErr)
	}
	return printSummary(ctx, out, clickhouse.Native{Conn: conn}, file.ClickHouse.Database(), reg)
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

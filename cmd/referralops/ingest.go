package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
)

var ingestCommand = command{
	summary: "consume the event topics into ClickHouse until SIGTERM",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		file.Kafka.RegisterFlags(fs)
		file.Event.RegisterFlags("", fs)
		file.Ingest.RegisterFlags(fs)
		validate := func() error {
			return errors.Join(file.ClickHouse.Validate(), file.Kafka.Validate(), file.Event.Validate(), file.Ingest.Validate())
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runIngest(ctx, logger, file)
		}
	},
}

// runIngest wires the ingester. Shutdown order: stop fetching, flush, insert,
// commit offsets (all inside Ingester.Run), then close ClickHouse and the
// dead-letter writer, then the HTTP server.
func runIngest(ctx context.Context, logger *slog.Logger, file *fileConfig) error {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && file.Ingest.MemoryLimit > 0 {
		debug.SetMemoryLimit(file.Ingest.MemoryLimit)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Not Open: the ingester starts while ClickHouse is down and says so on /readyz.
	conn, err := clickhouse.Connect(*file.ClickHouse)
	if err != nil {
		return err
	}
	dlq := broker.NewWriter(*file.Kafka, file.Kafka.Topics.DeadLetters)

	store := ingest.NewClickHouseStore(conn, file.ClickHouse.Database(), file.Ingest.InsertParallel)
	in := ingest.New(*file.Ingest, *file.Kafka, event.NewDecoder(*file.Event), store, dlq, logger, reg)
	srv := &httpserver.Server{Addr: file.Ingest.Listen, Gatherer: reg, Ready: in.Ready, Logger: logger.With("component", "http")}
	if err := srv.Listen(); err != nil {
		conn.Close()
		dlq.Close()
		return err
	}
	logger.Info("ingesting", "brokers", file.Kafka.Brokers.String(), "group", file.Ingest.Group,
		"topics", file.Kafka.Topics.Inputs(), "database", file.ClickHouse.Database(), "metrics", srv.URL()+"/metrics")

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { return srv.Run(httpCtx) })
	runErr := in.Run(ctx)
	conn.Close()
	dlq.Close()
	stopHTTP()
	if err := g.Wait(); err != nil && runErr == nil {
		runErr = fmt.Errorf("http server: %w", err)
	}
	if runErr == nil {
		logger.Info("stopped cleanly: last batch stored and committed")
	}
	return runErr
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/metrics"
)

var exportCommand = command{
	summary: "serve the KPIs as Prometheus metrics (/metrics on :9464), refreshed on a schedule, until SIGTERM",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		file.KPI.RegisterFlags("", fs)
		file.Export.RegisterFlags("", fs)
		validate := func() error {
			return errors.Join(file.ClickHouse.Validate(), file.KPI.Validate(), file.Export.Validate())
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runExport(ctx, logger, file)
		}
	},
}

// runExport wires the exporter. It starts even when ClickHouse is down (not
// ready until a refresh succeeds). Shutdown order: stop refreshing (a refresh
// in flight gets metrics.ShutdownGrace to finish), close ClickHouse, then the
// HTTP server.
func runExport(ctx context.Context, logger *slog.Logger, file *fileConfig) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Connect, not Open: the exporter comes up, unready, while ClickHouse is
	// away, and its refreshes reconnect.
	conn, err := clickhouse.Connect(*file.ClickHouse)
	if err != nil {
		return err
	}
	opts, _ := file.ClickHouse.Options() // valid: Connect parsed it
	db := file.ClickHouse.Database()
	source := metrics.ClickHouseSource(clickhouse.Native{Conn: conn}, db)
	exp := metrics.NewExporter(*file.Export, *file.KPI, source, logger, reg)

	srv := &httpserver.Server{Addr: file.Export.Listen, Gatherer: exp.Gatherer(reg), Ready: exp.Ready, Logger: logger.With("component", "http")}
	if err := srv.Listen(); err != nil {
		conn.Close()
		return err
	}
	asOf := "each refresh"
	if !file.Export.AsOf.IsZero() {
		asOf = file.Export.AsOf.Format(time.RFC3339)
	}
	logger.Info("exporting KPIs", "clickhouse", strings.Join(opts.Addr, ","), "user", opts.Auth.Username, "database", db,
		"windows", file.KPI.Windows.String(), "refresh_interval", file.Export.RefreshInterval.String(), "as_of", asOf,
		"metrics", srv.URL()+"/metrics")

	// The HTTP server outlives the refresh loop, so /readyz answers 503
	// while shutting down; if it fails, the loop stops too.
	runCtx, stopRefresh := context.WithCancel(ctx)
	defer stopRefresh()
	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { defer stopRefresh(); return srv.Run(httpCtx) })
	runErr := exp.Run(runCtx)
	conn.Close()
	stopHTTP()
	if err := g.Wait(); err != nil && runErr == nil {
		runErr = fmt.Errorf("http server: %w", err)
	}
	if runErr == nil {
		logger.Info("stopped")
	}
	return runErr
}

package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/service"
	"github.com/referralops/referralops/metrics"
)

var exportCommand = command{
	summary: "serve the KPIs as Prometheus metrics (/metrics on :9464), refreshed on a schedule, until SIGTERM",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		file.KPI.RegisterFlags("", fs)
		file.Export.RegisterFlags("", fs)
		file.HTTP.RegisterFlags(fs)
		validate := func() error {
			return errors.Join(file.ClickHouse.Validate(), file.KPI.Validate(), file.Export.Validate(), file.HTTP.Validate())
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runExport(ctx, logger, file)
		}
	},
}

// runExport runs the exporter until ctx ends. It starts even when ClickHouse
// is down (not ready until a refresh succeeds); service.Process.Run stops it
// in the shutdown order.
func runExport(ctx context.Context, logger *slog.Logger, file *fileConfig) error {
	// Connect, not Open: the exporter comes up, unready, while ClickHouse is
	// away, and its refreshes reconnect.
	conn, err := clickhouse.Connect(*file.ClickHouse)
	if err != nil {
		return err
	}
	opts, _ := file.ClickHouse.Options() // valid: Connect parsed it
	db := file.ClickHouse.Database()
	source := metrics.ClickHouseSource(clickhouse.Native{Conn: conn}, db)
	exp, err := service.NewExport(*file.Export, *file.KPI, source, *file.HTTP, logger, processRegistry())
	if err != nil {
		conn.Close()
		return err
	}
	asOf := "each refresh"
	if !file.Export.AsOf.IsZero() {
		asOf = file.Export.AsOf.Format(time.RFC3339)
	}
	logger.Info("exporting KPIs", "clickhouse", strings.Join(opts.Addr, ","), "user", opts.Auth.Username, "database", db,
		"windows", file.KPI.Windows.String(), "refresh_interval", file.Export.RefreshInterval.String(), "as_of", asOf,
		"metrics", exp.Server.URL()+"/metrics")
	if err := (service.Process{ClickHouse: conn, Export: exp}).Run(ctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

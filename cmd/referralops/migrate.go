package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/referralops/referralops/internal/clickhouse"
)

var migrateCommand = command{
	summary: "create or update the ClickHouse schema (idempotent; safe to run concurrently)",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		return file.ClickHouse.Validate, func(ctx context.Context, logger *slog.Logger) error {
			return migrate(ctx, logger, *file.ClickHouse)
		}
	},
}

func migrate(ctx context.Context, logger *slog.Logger, cfg clickhouse.Config) error {
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	d, applied, err := clickhouse.MigrateConn(ctx, conn, cfg)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		logger.Info("schema is up to date", "database", cfg.Database(), "server", d.Version)
	} else {
		logger.Info("migrated", "database", cfg.Database(), "server", d.Version, "applied", applied)
	}
	return nil
}

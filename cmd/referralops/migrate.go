package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/schema"
)

// printServerVersion is the dialect `migrate --print` renders by default: the
// newest ClickHouse the schema is tested on (chDB 26.7).
const printServerVersion = "26.7"

var migrateCommand = command{
	summary: "create or update the ClickHouse schema (idempotent; safe to run concurrently); --cluster for the replicated variant, --print to show the SQL",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		cluster := fs.String("cluster", "", "apply the replicated variant (ReplicatedMergeTree tables <name>_local, Distributed tables under the original names, ON CLUSTER DDL) to this cluster of the servers' remote_servers; see docs/scaling.md")
		print := fs.Bool("print", false, "write the SQL that migrating an empty database runs to stdout, without connecting")
		version := fs.String("server-version", printServerVersion, "with --print: the ClickHouse version whose dialect to render (e.g. 18.16 or 26.7)")
		var dialect clickhouse.Dialect
		validate := func() error {
			errs := []error{file.ClickHouse.Validate()}
			if *cluster != "" {
				if err := clickhouse.ValidateIdentifier(*cluster); err != nil {
					errs = append(errs, fmt.Errorf("cluster: %w", err))
				}
			}
			d, err := clickhouse.DialectFor(*version)
			if err != nil {
				errs = append(errs, fmt.Errorf("server-version: %w", err))
			}
			d.RetentionDays = file.ClickHouse.RetentionDays
			d.Cluster = *cluster
			dialect = d
			return errors.Join(errs...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			if *print {
				script, err := schema.Script(dialect, file.ClickHouse.Database())
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(os.Stdout, script)
				return err
			}
			return migrateOnCluster(ctx, logger, *file.ClickHouse, *cluster)
		}
	},
}

// migrateOnCluster applies the schema, the replicated variant when cluster is
// set, through the server of cfg.
func migrateOnCluster(ctx context.Context, logger *slog.Logger, cfg clickhouse.Config, cluster string) error {
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	d, applied, err := schema.MigrateConnOnCluster(ctx, conn, cfg, cluster)
	if err != nil {
		return err
	}
	attrs := []any{"database", cfg.Database(), "server", d.Version}
	if cluster != "" {
		attrs = append(attrs, "cluster", cluster)
	}
	if len(applied) == 0 {
		logger.Info("schema is up to date", attrs...)
	} else {
		logger.Info("migrated", append(attrs, "applied", applied)...)
	}
	return nil
}

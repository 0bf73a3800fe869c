package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

var pruneCommand = command{
	summary: "drop the KPI state's touch log (kpi_touched) months every pass has covered; run daily as the migrator (it is DDL), --cluster as for migrate",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		cluster := fs.String("cluster", "", "the cluster of a replicated schema (as `migrate --cluster`): drop from each shard's kpi_touched_local")
		keep := fs.Duration("keep", schema.DefaultKPITouchedKeep, "keep the touches less than this before the latest pass's covered_to (whole months are dropped)")
		validate := func() error {
			errs := []error{file.ClickHouse.Validate()}
			if *cluster != "" {
				if err := clickhouse.ValidateIdentifier(*cluster); err != nil {
					errs = append(errs, fmt.Errorf("cluster: %w", err))
				}
			}
			if *keep <= 0 {
				errs = append(errs, fmt.Errorf("keep: %s: want a positive duration", *keep))
			}
			return errors.Join(errs...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return prune(ctx, logger, *file.ClickHouse, *cluster, *keep)
		}
	},
}

// prune drops the covered months of kpi_touched through the server of cfg.
func prune(ctx context.Context, logger *slog.Logger, cfg clickhouse.Config, cluster string, keep time.Duration) error {
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	p, err := schema.PruneKPITouchedConn(ctx, conn, cfg, cluster, keep)
	if errors.Is(err, schema.ErrNoKPIState) {
		logger.Info("nothing to prune: the schema has no KPI state yet; run migrate", "database", cfg.Database())
		return nil
	}
	if err != nil {
		return err
	}
	if p.Before.IsZero() {
		logger.Info("nothing to prune: no KPI state pass has run yet (the ingesters run them)", "database", cfg.Database())
		return nil
	}
	logger.Info("pruned kpi_touched", "database", cfg.Database(), "before", p.Before.Format(time.RFC3339), "months", strings.Join(p.Months, " "), "rows", p.Rows)
	return nil
}

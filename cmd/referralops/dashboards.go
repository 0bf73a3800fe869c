package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/metrics"
)

var dashboardsCommand = command{
	summary: "write the Grafana dashboards (JSON) and, with --provisioning, Grafana's datasource and dashboard provisioning",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		out := fs.String("out", "deploy/grafana/dashboards", "directory to write the dashboard JSON files into (stale referralops-*.json files there are removed)")
		prov := dashboards.DefaultProvisioning()
		provDir := fs.String("provisioning", "", "also write Grafana provisioning (datasources/, dashboards/) into this directory, e.g. deploy/grafana/provisioning")
		fs.StringVar(&prov.PrometheusURL, "grafana-prometheus-url", prov.PrometheusURL, "Prometheus URL of the provisioned datasource, as Grafana's server reaches it")
		fs.StringVar(&prov.ClickHouseAddr, "grafana-clickhouse-addr", prov.ClickHouseAddr, "ClickHouse native host:port of the provisioned datasource, as Grafana's server reaches it")
		fs.StringVar(&prov.ClickHouseDatabase, "grafana-clickhouse-database", prov.ClickHouseDatabase, "ClickHouse database holding the analyst views")
		fs.StringVar(&prov.DashboardsPath, "grafana-dashboards-path", prov.DashboardsPath, "directory inside Grafana where the --out directory is mounted")
		fs.StringVar(&prov.ScrapeInterval, "grafana-scrape-interval", prov.ScrapeInterval, "Prometheus scrape interval (Grafana's lower bound for $__rate_interval)")
		targetsFile := fs.String("targets", "", "YAML file of operating targets (keys of metrics.Targets) over the defaults, as for `referralops rules`; unknown keys are an error")
		targets := metrics.DefaultTargets()
		validate := func() error {
			var errs []error
			if *out == "" {
				errs = append(errs, errors.New("out: must name a directory"))
			}
			if *targetsFile != "" {
				t, err := metrics.LoadTargets(*targetsFile)
				if err != nil {
					errs = append(errs, fmt.Errorf("targets: %w", err))
				} else if err := t.Validate(); err != nil {
					errs = append(errs, fmt.Errorf("targets: %w", err))
				}
				targets = t
			}
			if *provDir != "" {
				errs = append(errs, prov.Validate())
			}
			return errors.Join(errs...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			ds, err := dashboards.Build(targets)
			if err != nil {
				return fmt.Errorf("generate dashboards: %w", err)
			}
			if err := dashboards.Write(*out, ds); err != nil {
				return err
			}
			logger.Info("wrote dashboards", "dir", *out, "dashboards", len(ds))
			if *provDir != "" {
				if err := dashboards.WriteProvisioning(*provDir, prov); err != nil {
					return err
				}
				logger.Info("wrote provisioning", "dir", *provDir)
			}
			return nil
		}
	},
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/referralops/referralops/dashboards/rules"
	"github.com/referralops/referralops/metrics"
)

var rulesCommand = command{
	summary: "write the Prometheus recording and alerting rules, generated from the metric catalog and the operating targets, into --out",
	setup: func(fs *flag.FlagSet, _ *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		opts := rules.DefaultOptions()
		opts.RegisterFlags(fs)
		out := fs.String("out", "deploy/prometheus/rules", "directory to write "+rules.FileName+" into (created if missing)")
		targets := fs.String("targets", "", "YAML file of operating targets (keys of metrics.Targets) over the defaults; unknown keys are an error")
		validate := func() error {
			var errs []error
			if *out == "" {
				errs = append(errs, errors.New("out: must not be empty"))
			}
			if *targets != "" {
				t, err := metrics.LoadTargets(*targets)
				if err != nil {
					errs = append(errs, fmt.Errorf("targets: %w", err))
				}
				opts.Targets = t
			}
			return errors.Join(append(errs, opts.Validate())...)
		}
		return validate, func(_ context.Context, logger *slog.Logger) error {
			path, err := rules.Write(*out, opts)
			if err != nil {
				return err
			}
			logger.Info("wrote rules", "path", path, "alert_window", opts.Window.String())
			return nil
		}
	},
}

package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"github.com/referralops/referralops/internal/demo"
)

var demoCommand = command{
	summary: "the whole pipeline in one process: an embedded Kafka, a realistic quarter of referrals replayed and then streamed live, the ingester and the KPI exporter, with a live view; Ctrl-C stops",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		cfg := setupDemo(fs, file)
		return cfg.Validate, func(ctx context.Context, logger *slog.Logger) error {
			return demo.Run(ctx, logger, cfg, os.Stdout)
		}
	},
}

// setupDemo registers the demo's flags over the file's sections, which it
// shares with the ingest and export commands.
func setupDemo(fs *flag.FlagSet, file *fileConfig) *demo.Config {
	cfg := demo.NewConfig(demo.Sections{ClickHouse: file.ClickHouse, Kafka: file.Kafka, Event: file.Event,
		Ingest: file.Ingest, KPI: file.KPI, Export: file.Export, HTTP: file.HTTP})
	cfg.RegisterFlags(fs)
	return cfg
}

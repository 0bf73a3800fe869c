package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"

	"github.com/referralops/referralops/ingest/mapping"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/service"
)

var ingestCommand = command{
	summary: "consume the event topics into ClickHouse until SIGTERM",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.ClickHouse.RegisterFlags("", fs)
		file.Kafka.RegisterFlags(fs)
		file.Event.RegisterFlags("", fs)
		file.Ingest.RegisterFlags(fs)
		file.HTTP.RegisterFlags(fs)
		sitePath := fs.String("site-config", "", "the site's HL7 v2/FHIR mapping (see docs/examples/site-config.yaml): also consume --topic-hl7v2 and --topic-fhir (an empty name skips one); the patient token key comes from "+mapping.KeyEnv)
		var mapper *mapping.Mapper
		validate := func() error {
			errs := []error{file.ClickHouse.Validate(), file.Kafka.Validate(), file.Event.Validate(), file.Ingest.Validate(), file.HTTP.Validate()}
			if *sitePath != "" {
				var err error
				mapper, err = loadMapper(*sitePath)
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			return runIngest(ctx, logger, file, mapper)
		}
	},
}

// runIngest runs the ingester until ctx ends; service.Process.Run stops it
// in the shutdown order.
// A mapper (from --site-config) adds the HL7 v2 and FHIR topics.
func runIngest(ctx context.Context, logger *slog.Logger, file *fileConfig, mapper *mapping.Mapper) error {
	// Not Open: the ingester starts while ClickHouse is down and says so on /readyz.
	conn, err := clickhouse.Connect(*file.ClickHouse)
	if err != nil {
		return err
	}
	in, err := service.NewIngest(*file.Ingest, *file.Kafka, *file.Event, conn, file.ClickHouse.Database(), *file.HTTP, logger, processRegistry())
	if err != nil {
		conn.Close()
		return err
	}
	if mapper != nil {
		in.Ingester.ReadStandard(mapper)
	}
	logger.Info("ingesting", "brokers", file.Kafka.Brokers.String(), "group", file.Ingest.Group,
		"topics", in.Ingester.Topics(), "database", file.ClickHouse.Database(), "metrics", in.Server.URL()+"/metrics")
	if err := (service.Process{ClickHouse: conn, Ingest: in}).Run(ctx); err != nil {
		return err
	}
	logger.Info("stopped cleanly: last batch stored and committed")
	return nil
}

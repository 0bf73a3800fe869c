package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/referralops/referralops/ingest/mllp"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/httpserver"
)

var mllpCommand = command{
	summary: "receive HL7 v2 over MLLP into Kafka, ACK AA only after Kafka acknowledged (mllp --listen :2575)",
	setup: func(fs *flag.FlagSet, file *fileConfig) (func() error, func(context.Context, *slog.Logger) error) {
		file.Kafka.RegisterFlags(fs)
		file.MLLP.RegisterFlags(fs)
		file.HTTP.RegisterFlags(fs)
		validate := func() error {
			err := errors.Join(file.Kafka.Validate(), file.MLLP.Validate(), file.HTTP.Validate())
			if file.Kafka.Topics.HL7v2 == "" {
				err = errors.Join(err, errors.New("topic-hl7v2: required"))
			}
			return err
		}
		return validate, func(ctx context.Context, logger *slog.Logger) error {
			cfg := *file.MLLP
			cfg.Topic = file.Kafka.Topics.HL7v2
			return runMLLP(ctx, logger, *file.Kafka, cfg, *file.HTTP)
		}
	},
}

// runMLLP wires the receiver. Shutdown order: stop accepting, finish the
// messages being stored (with their ACKs), close the Kafka writer, then the
// HTTP server. The HTTP endpoints are served and protected as ingest's and
// export's are (hc: --web.config.file, timeouts, pprof only on request).
func runMLLP(ctx context.Context, logger *slog.Logger, kc broker.Config, cfg mllp.Config, hc httpserver.Config) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := broker.NewWriter(kc, "")
	if err != nil {
		return err
	}
	srv := mllp.New(cfg, w, logger, reg)
	if err := srv.Listen(); err != nil {
		w.Close()
		return err
	}
	hs := &httpserver.Server{Addr: cfg.HTTPListen, Gatherer: reg, Ready: srv.Ready, Logger: logger.With("component", "http"), Config: hc}
	if err := hs.Listen(); err != nil {
		w.Close()
		return err
	}
	logger.Info("receiving HL7 v2 over MLLP", "listen", srv.Addr().String(), "tls", cfg.TLSCert != "",
		"brokers", kc.Brokers.String(), "topic", cfg.Topic, "metrics", hs.URL()+"/metrics")

	httpCtx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	var g errgroup.Group
	g.Go(func() error { return hs.Run(httpCtx) })
	runErr := srv.Run(ctx)
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close Kafka writer: %w", err)
	}
	stopHTTP()
	if err := g.Wait(); err != nil && runErr == nil {
		runErr = fmt.Errorf("http server: %w", err)
	}
	return runErr
}

// Package service builds the long-running parts of referralops, the ingester
// and the KPI exporter, each with its HTTP server, the same way for every
// command that runs them (ingest, export and demo), and runs them with the one
// shutdown order (Process.Run).
//
// It does not load configuration or open ClickHouse: the commands do, as each
// needs (ingest and export start while ClickHouse is down, the demo migrates
// first).
package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/internal/lifecycle"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

// Ingest is the ingester with its dead-letter writer and HTTP server.
type Ingest struct {
	Ingester *ingest.Ingester
	Server   *httpserver.Server
	dlq      *kafka.Writer
}

// NewIngest wires an ingester that stores into database db over conn and
// serves reg (which receives its self-metrics) on cfg.Listen, bound now so a
// taken port fails before anything runs. It applies cfg.MemoryLimit unless
// GOMEMLIMIT is set.
func NewIngest(cfg ingest.Config, kc broker.Config, ec event.Config, conn driver.Conn, db string,
	web httpserver.Config, logger *slog.Logger, reg *prometheus.Registry) (*Ingest, error) {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	dlq, err := broker.NewWriter(kc, kc.Topics.DeadLetters)
	if err != nil {
		return nil, err
	}
	store := ingest.NewClickHouseStore(conn, db, cfg.InsertParallel, cfg.ParallelViews).RecheckPatientOrder(cfg.PatientOrderRecheck)
	in := ingest.New(cfg, kc, event.NewDecoder(ec), store, dlq, logger, reg)
	srv := &httpserver.Server{Addr: cfg.Listen, Gatherer: reg, Ready: in.Ready, Logger: logger.With("component", "http"), Config: web}
	if err := srv.Listen(); err != nil {
		dlq.Close()
		return nil, err
	}
	return &Ingest{Ingester: in, Server: srv, dlq: dlq}, nil
}

// Close releases what NewIngest opened, for a caller that gives up before
// Process.Run (which closes it otherwise).
func (i *Ingest) Close() { i.dlq.Close() }

// Export is the KPI exporter with its HTTP server.
type Export struct {
	Exporter *metrics.Exporter
	Server   *httpserver.Server
}

// NewExport wires a KPI exporter that evaluates its snapshots with source and
// serves them, with reg (which receives its own metrics), on cfg.Listen,
// bound now so a taken port fails before anything runs.
func NewExport(cfg metrics.Config, kc kpi.Config, source metrics.Source, web httpserver.Config, logger *slog.Logger, reg *prometheus.Registry) (*Export, error) {
	exp := metrics.NewExporter(cfg, kc, source, logger, reg)
	srv := &httpserver.Server{Addr: cfg.Listen, Gatherer: exp.Gatherer(reg), Ready: exp.Ready, Logger: logger.With("component", "http"), Config: web}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	return &Export{Exporter: exp, Server: srv}, nil
}

// Process is what one command runs: the ingester, the exporter or both, on
// one ClickHouse connection, and optionally a driver.
type Process struct {
	ClickHouse driver.Conn
	Ingest     *Ingest // nil: none
	Export     *Export // nil: none
	// Driver runs beside the services and is stopped first; its returning
	// ends the process (the demo's replay and live stream).
	Driver func(ctx context.Context) error
}

// Run runs p until ctx ends or a part returns, and then stops it in the one
// shutdown order of referralops:
//
//  1. the driver;
//  2. the ingester: stop fetching, flush, insert, commit offsets (all four
//     inside Ingester.Run, which returns when the last batch is committed or
//     its grace period expired);
//  3. the exporter: stop refreshing (a refresh in flight gets
//     metrics.ShutdownGrace);
//  4. close the dead-letter writer and ClickHouse;
//  5. close HTTP: the servers outlive the rest, so /readyz answers 503 while
//     shutting down.
//
// A part that fails stops the others in the same order, and Run returns its
// error. Run closes p.ClickHouse.
func (p Process) Run(ctx context.Context) error {
	var g lifecycle.Group
	for _, srv := range p.servers() {
		g.Go(func(ctx context.Context) error {
			if err := srv.Run(ctx); err != nil {
				return fmt.Errorf("http server %s: %w", srv.URL(), err)
			}
			return nil
		})
	}
	g.Close(func() { p.ClickHouse.Close() })
	if p.Ingest != nil {
		g.Close(p.Ingest.Close)
	}
	if p.Export != nil {
		g.Go(p.Export.Exporter.Run)
	}
	if p.Ingest != nil {
		g.Go(p.Ingest.Ingester.Run)
	}
	if p.Driver != nil {
		g.Go(p.Driver)
	}
	return g.Run(ctx)
}

func (p Process) servers() []*httpserver.Server {
	var s []*httpserver.Server
	if p.Ingest != nil {
		s = append(s, p.Ingest.Server)
	}
	if p.Export != nil {
		s = append(s, p.Export.Server)
	}
	return s
}

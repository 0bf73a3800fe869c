package service_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/referralops/referralops/ingest"
	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/httpserver"
	"github.com/referralops/referralops/internal/service"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/kpi"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestProcessShutdownOrder: when the process is told to stop while the
// exporter's refresh is in flight, the refresh may finish while ClickHouse
// stays open and the HTTP server answers; then ClickHouse is closed and the
// HTTP server stops.
func TestProcessShutdownOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("needs ClickHouse")
	}
	db := testenv.ClickHouse(t)
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = db.DSN
	conn, err := clickhouse.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	inFlight, release := make(chan struct{}), make(chan struct{})
	calls := 0
	chSource := metrics.ClickHouseSource(clickhouse.Native{Conn: conn}, db.Database)
	source := func(ctx context.Context, r kpi.Request) (kpi.Snapshot, error) {
		calls++ // the refresh loop is one goroutine
		if calls == 2 {
			close(inFlight)
			select {
			case <-release:
			case <-ctx.Done():
				return kpi.Snapshot{}, ctx.Err()
			}
		}
		return chSource(ctx, r)
	}
	xc := metrics.DefaultConfig()
	xc.Listen = testenv.FreeAddr(t)
	xc.RefreshInterval = 10 * time.Millisecond
	exp, err := service.NewExport(xc, kpi.DefaultConfig(), source, httpserver.DefaultConfig(), quiet, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- service.Process{ClickHouse: conn, Export: exp}.Run(ctx) }()
	base := exp.Server.URL()

	select {
	case <-inFlight:
	case err := <-done:
		t.Fatalf("process ended: %v", err)
	}
	if code := testenv.HTTPStatus(base + "/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d after a good refresh, want 200", code)
	}
	stop()
	// The refresh in flight holds the shutdown: ClickHouse and HTTP stay.
	if err := conn.Ping(context.Background()); err != nil {
		t.Errorf("ClickHouse closed while a refresh was in flight: %v", err)
	}
	if code := testenv.HTTPStatus(base + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while a refresh was in flight, want 200", code)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := conn.Ping(context.Background()); err == nil {
		t.Error("ClickHouse still open after Run returned")
	}
	if code := testenv.HTTPStatus(base + "/healthz"); code != 0 {
		t.Errorf("/healthz = %d after Run returned, want no answer", code)
	}
}

// TestProcessListenTaken: a taken listen address fails the constructors,
// before anything runs, with an error naming the address.
func TestProcessListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()

	xc := metrics.DefaultConfig()
	xc.Listen = taken
	source := func(context.Context, kpi.Request) (kpi.Snapshot, error) { return kpi.Snapshot{}, errors.New("unused") }
	if _, err := service.NewExport(xc, kpi.DefaultConfig(), source, httpserver.DefaultConfig(), quiet, prometheus.NewRegistry()); err == nil || !strings.Contains(err.Error(), taken) {
		t.Errorf("NewExport on a taken address: %v, want an error naming %s", err, taken)
	}

	ic := ingest.DefaultConfig()
	ic.Listen = taken
	ic.MemoryLimit = 0
	if _, err := service.NewIngest(ic, broker.DefaultConfig(), event.DefaultConfig(), nil, "db", httpserver.DefaultConfig(), quiet, prometheus.NewRegistry()); err == nil || !strings.Contains(err.Error(), taken) {
		t.Errorf("NewIngest on a taken address: %v, want an error naming %s", err, taken)
	}
}

package httpserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "referralops_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Bool
	s := &Server{Addr: "127.0.0.1:0", Gatherer: reg, Logger: slog.New(slog.DiscardHandler), Ready: func() error {
		if !ready.Load() {
			return errors.New("not yet joined")
		}
		return nil
	}}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not yet joined") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "referralops_test_total 3") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestListenConflictFailsAtStartup(t *testing.T) {
	a := &Server{Addr: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	b := &Server{Addr: strings.TrimPrefix(a.URL(), "http://"), Logger: slog.New(slog.DiscardHandler)}
	if err := b.Listen(); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("second Listen on the same address: %v, want an error naming listen", err)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.Pprof = enabled
		s := &Server{Addr: "127.0.0.1:0", Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler), Config: cfg}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		if code := status(t, s.URL()+"/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("pprof %v: /debug/pprof/ on the metrics port = %d, want 404", enabled, code)
		}
		if got := s.PprofURL() != ""; got != enabled {
			t.Errorf("pprof %v: PprofURL() = %q", enabled, s.PprofURL())
		}
		if enabled {
			if code := status(t, s.PprofURL()+"goroutine?debug=1"); code != http.StatusOK {
				t.Errorf("/debug/pprof/goroutine on the pprof listener = %d, want 200", code)
			}
			if !strings.HasPrefix(s.PprofURL(), "http://127.0.0.1:") {
				t.Errorf("PprofURL() = %q, want loopback", s.PprofURL())
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

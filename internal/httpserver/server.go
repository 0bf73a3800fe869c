// Package httpserver serves a process's operational endpoints: /metrics from a
// private registry, /healthz (the process lives) and /readyz (it can do its job),
// with TLS and basic auth from an exporter-toolkit web configuration, and Go
// profiles only when asked for, on a loopback listener of their own. It shuts
// down gracefully when its context ends.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// Server is the operational HTTP server of one component.
type Server struct {
	Addr     string
	Gatherer prometheus.Gatherer
	// Ready reports why the component cannot serve yet; nil means ready.
	Ready  func() error
	Logger *slog.Logger
	Config Config // the zero value: plain HTTP without timeouts; use DefaultConfig

	listener, pprof net.Listener
}

// Listen binds the address (and the pprof address, if enabled) now, so that a
// port conflict fails at startup and tests can learn the port chosen for ":0".
func (s *Server) Listen() error {
	l, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	if s.Config.Pprof {
		p, err := net.Listen("tcp", s.Config.PprofListen)
		if err != nil {
			l.Close()
			return fmt.Errorf("debug.pprof-listen %s: %w", s.Config.PprofListen, err)
		}
		s.pprof = p
	}
	s.listener = l
	return nil
}

// URL is the server's base URL once it listens; an unspecified address (":9465")
// is shown as loopback, where a local user can open it.
func (s *Server) URL() string {
	scheme := "http"
	if s.Config.tlsEnabled() {
		scheme = "https"
	}
	addr := s.listener.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() {
		return fmt.Sprintf("%s://127.0.0.1:%d", scheme, addr.Port)
	}
	return scheme + "://" + addr.String()
}

// PprofURL is the base URL of the profiles, empty unless enabled.
func (s *Server) PprofURL() string {
	if s.pprof == nil {
		return ""
	}
	return "http://" + s.pprof.Addr().String() + "/debug/pprof/"
}

// Handler is the server's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelError)}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.Ready != nil {
			if err := s.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Run serves until ctx ends, then drains open requests for up to five seconds.
func (s *Server) Run(ctx context.Context) error {
	if s.listener == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: s.Handler(),
		ReadHeaderTimeout: s.Config.ReadTimeout, ReadTimeout: s.Config.ReadTimeout,
		WriteTimeout: s.Config.WriteTimeout, IdleTimeout: s.Config.IdleTimeout,
		ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}
	servers := []*http.Server{srv}
	errc := make(chan error, 2)
	webConfig := s.Config.WebConfigFile
	go func() { errc <- web.Serve(s.listener, srv, &web.FlagConfig{WebConfigFile: &webConfig}, s.Logger) }()
	if s.pprof != nil {
		// No write timeout: a CPU profile or trace takes as long as asked.
		p := &http.Server{Handler: pprofHandler(), ReadHeaderTimeout: s.Config.ReadTimeout}
		servers = append(servers, p)
		s.Logger.Warn("serving Go profiles (--debug.pprof)", "url", s.PprofURL())
		go func() { errc <- p.Serve(s.pprof) }()
	}
	select {
	case err := <-errc:
		for _, srv := range servers {
			srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

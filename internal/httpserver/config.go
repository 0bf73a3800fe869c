package httpserver

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"
)

// Config is how the operational endpoints are served and protected.
type Config struct {
	// WebConfigFile is a Prometheus exporter-toolkit web configuration: TLS
	// (tls_server_config, with client_ca_file for mTLS) and basic auth
	// (basic_auth_users, bcrypt hashes). Empty: plain HTTP, no auth. It is
	// read again on each new connection, so certificates and users can be
	// rotated without a restart.
	WebConfigFile string        `yaml:"web_config_file"`
	ReadTimeout   time.Duration `yaml:"read_timeout"`
	WriteTimeout  time.Duration `yaml:"write_timeout"`
	IdleTimeout   time.Duration `yaml:"idle_timeout"`
	// Pprof serves /debug/pprof/ on PprofListen, a loopback address of its
	// own: profiles show code and memory, so they are never on the metrics
	// port, and are off unless asked for.
	Pprof       bool   `yaml:"pprof"`
	PprofListen string `yaml:"pprof_listen"`
}

// DefaultConfig is plain HTTP with timeouts that fit a scrape, and no pprof.
func DefaultConfig() Config {
	return Config{
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  2 * time.Minute,
		PprofListen:  "127.0.0.1:0",
	}
}

// RegisterFlags registers --web.* and --debug.pprof*, named as Prometheus
// exporters name them.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.WebConfigFile, "web.config.file", c.WebConfigFile,
		"exporter-toolkit web configuration of /metrics, /healthz and /readyz: TLS, client certificates, basic auth (https://prometheus.io/docs/prometheus/latest/configuration/https/); empty: plain HTTP")
	fs.DurationVar(&c.ReadTimeout, "web.read-timeout", c.ReadTimeout, "longest time to read a request, headers included")
	fs.DurationVar(&c.WriteTimeout, "web.write-timeout", c.WriteTimeout, "longest time to write a response")
	fs.DurationVar(&c.IdleTimeout, "web.idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.BoolVar(&c.Pprof, "debug.pprof", c.Pprof, "serve Go profiles at /debug/pprof/ on --debug.pprof-listen (a loopback address; never on the metrics port)")
	fs.StringVar(&c.PprofListen, "debug.pprof-listen", c.PprofListen, "loopback address of /debug/pprof/ with --debug.pprof (port 0: any free port, logged)")
}

// Validate checks the settings and the web configuration file with its
// certificates; errors name the setting.
func (c Config) Validate() error {
	var errs []error
	if c.WebConfigFile != "" {
		if err := web.Validate(c.WebConfigFile); err != nil {
			errs = append(errs, fmt.Errorf("web.config.file: %w", err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"web.read-timeout", c.ReadTimeout}, {"web.write-timeout", c.WriteTimeout}, {"web.idle-timeout", c.IdleTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be > 0, got %s", d.name, d.v))
		}
	}
	if c.Pprof {
		host, _, err := net.SplitHostPort(c.PprofListen)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			errs = append(errs, fmt.Errorf("debug.pprof-listen: %q is not a loopback host:port (profiles must not leave the machine)", c.PprofListen))
		}
	}
	return errors.Join(errs...)
}

// tlsEnabled reports whether the web configuration serves TLS. Validate has
// checked the file; a file that cannot be read here is reported by Serve.
func (c Config) tlsEnabled() bool {
	if c.WebConfigFile == "" {
		return false
	}
	b, err := os.ReadFile(c.WebConfigFile)
	if err != nil {
		return false
	}
	var wc web.Config
	if err := yaml.Unmarshal(b, &wc); err != nil {
		return false
	}
	return wc.TLSConfig.IsEnabled()
}

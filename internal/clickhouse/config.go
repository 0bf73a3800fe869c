package clickhouse

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/tlsfiles"
)

// DefaultDatabase is the database of a DSN that names none.
const DefaultDatabase = "referralops"

// DefaultDSN is a local server's native port.
const DefaultDSN = "clickhouse://127.0.0.1:9000/" + DefaultDatabase

// DefaultRetentionDays is how long `events` rows are kept where the server
// supports TTL (three years).
const DefaultRetentionDays = 1095

// Dial and read timeouts applied when the DSN does not set dial_timeout or
// read_timeout. The read timeout bounds one server round trip, so it must cover
// the slowest KPI query; callers still bound whole operations with ctx.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultReadTimeout = 5 * time.Minute
)

// Config is how to reach ClickHouse and what the schema keeps.
type Config struct {
	// DSN is a clickhouse-go v2 native-protocol DSN; its path is the database.
	DSN string `yaml:"dsn"`
	// RetentionDays is the TTL of `events` rows, applied by migrations on
	// servers that support TTL (the table is created with it; changing it later
	// needs a migration).
	RetentionDays int `yaml:"retention_days"`
	// TLS encrypts the native protocol (the server's tcp_port_secure,
	// conventionally 9440) and authenticates the server, and with a client
	// certificate the client.
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig is the client side of the native protocol's TLS.
type TLSConfig struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// DefaultConfig is a local server and database `referralops`.
func DefaultConfig() Config {
	return Config{DSN: DefaultDSN, RetentionDays: DefaultRetentionDays}
}

// RegisterFlags registers --<prefix>clickhouse-dsn,
// --<prefix>clickhouse-retention-days and the --<prefix>clickhouse-tls-* flags.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.DSN, prefix+"clickhouse-dsn", c.DSN,
		"ClickHouse native-protocol DSN, clickhouse://user:password@host:9000/database?dial_timeout=5s (with --clickhouse-tls, the secure port: host:9440)")
	fs.BoolVar(&c.TLS.Enabled, prefix+"clickhouse-tls", c.TLS.Enabled, "connect over TLS (1.2 or later) to the server's secure native port (tcp_port_secure, usually 9440)")
	fs.StringVar(&c.TLS.CAFile, prefix+"clickhouse-tls-ca-file", c.TLS.CAFile, "PEM CA certificates that sign the server's certificate (default: the system's roots)")
	fs.StringVar(&c.TLS.CertFile, prefix+"clickhouse-tls-cert-file", c.TLS.CertFile, "PEM client certificate, for servers that require one")
	fs.StringVar(&c.TLS.KeyFile, prefix+"clickhouse-tls-key-file", c.TLS.KeyFile, "PEM private key of --clickhouse-tls-cert-file")
	fs.StringVar(&c.TLS.ServerName, prefix+"clickhouse-tls-server-name", c.TLS.ServerName, "name the server's certificate must carry (default: the DSN's host)")
	fs.IntVar(&c.RetentionDays, prefix+"clickhouse-retention-days", c.RetentionDays,
		"days to keep raw events (TTL on servers that support it; applied when the table is created)")
}

// Validate checks the settings; errors name the setting.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.DSN) == "" {
		errs = append(errs, errors.New("clickhouse-dsn: must not be empty"))
	} else if strings.HasPrefix(strings.ToLower(c.DSN), "clickhouses://") {
		// The driver accepts this scheme and speaks plaintext: refuse the false sense of security.
		errs = append(errs, errors.New("clickhouse-dsn: clickhouses:// does not encrypt (the driver reads it as plain clickhouse://); use clickhouse://host:9440/db with --clickhouse-tls"))
	} else if opts, err := ch.ParseDSN(c.DSN); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse-dsn: %w", err))
	} else if opts.Protocol != ch.Native {
		errs = append(errs, errors.New("clickhouse-dsn: must use the native protocol (clickhouse://host:9000/db), not http(s)"))
	} else if err := ValidateIdentifier(databaseOf(opts)); err != nil {
		errs = append(errs, fmt.Errorf("clickhouse-dsn: database: %w", err))
	}
	if c.RetentionDays <= 0 {
		errs = append(errs, fmt.Errorf("clickhouse-retention-days: must be > 0, got %d", c.RetentionDays))
	}
	t := c.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		errs = append(errs, errors.New("clickhouse-tls: the --clickhouse-tls-* settings need --clickhouse-tls"))
	}
	if t.Enabled {
		if _, err := t.build(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// build is the client TLS configuration; errors name the setting.
func (t TLSConfig) build() (*tls.Config, error) {
	return tlsfiles.Files{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}.Client("clickhouse-tls")
}

// Database is the DSN's database, DefaultDatabase if it names none or does not
// parse (Validate reports the latter).
func (c Config) Database() string {
	opts, err := ch.ParseDSN(c.DSN)
	if err != nil {
		return DefaultDatabase
	}
	return databaseOf(opts)
}

func databaseOf(opts *ch.Options) string {
	if opts.Auth.Database == "" {
		return DefaultDatabase
	}
	return opts.Auth.Database
}

// Options are the connection options Open uses: the DSN's, with the default
// timeouts where it sets none, TLS as the --clickhouse-tls-* settings say (a
// DSN's own secure=true still works, with the system's roots), and the
// database left out so that a connection works before migrations create it
// (queries name the database explicitly).
func (c Config) Options() (*ch.Options, error) {
	opts, err := ch.ParseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("clickhouse-dsn: %w", err)
	}
	if !strings.Contains(c.DSN, "dial_timeout=") {
		opts.DialTimeout = DefaultDialTimeout
	}
	if !strings.Contains(c.DSN, "read_timeout=") {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if c.TLS.Enabled {
		if opts.TLS, err = c.TLS.build(); err != nil {
			return nil, err
		}
	}
	opts.Auth.Database = ""
	return opts, nil
}

// Open connects over the native protocol and checks the server answers. It
// creates nothing; run Migrate for the schema.
func Open(ctx context.Context, c Config) (driver.Conn, error) {
	conn, err := Connect(c)
	if err != nil {
		return nil, err
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse %s: %w", c.addrs(), err)
	}
	return conn, nil
}

// Connect returns a connection pool without waiting for the server: for
// long-running processes that start before ClickHouse and report readiness.
func Connect(c Config) (driver.Conn, error) {
	opts, err := c.Options()
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: %w", strings.Join(opts.Addr, ","), err)
	}
	return conn, nil
}

func (c Config) addrs() string {
	opts, err := c.Options()
	if err != nil {
		return c.DSN
	}
	return strings.Join(opts.Addr, ",")
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// ValidateIdentifier accepts a database name that needs no quoting. Names are
// pasted into SQL, so anything else is refused rather than escaped.
func ValidateIdentifier(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("%q is not a plain identifier (letters, digits, _; not starting with a digit)", name)
	}
	return nil
}

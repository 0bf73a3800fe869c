package clickhouse

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
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
}

// DefaultConfig is a local server and database `referralops`.
func DefaultConfig() Config {
	return Config{DSN: DefaultDSN, RetentionDays: DefaultRetentionDays}
}

// RegisterFlags registers --<prefix>clickhouse-dsn and
// --<prefix>clickhouse-retention-days.
func (c *Config) RegisterFlags(prefix string, fs *flag.FlagSet) {
	fs.StringVar(&c.DSN, prefix+"clickhouse-dsn", c.DSN,
		"ClickHouse native-protocol DSN, clickhouse://user:password@host:9000/database?dial_timeout=5s")
	fs.IntVar(&c.RetentionDays, prefix+"clickhouse-retention-days", c.RetentionDays,
		"days to keep raw events (TTL on servers that support it; applied when the table is created)")
}

// Validate checks the settings; errors name the setting.
func (c Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.DSN) == "" {
		errs = append(errs, errors.New("clickhouse-dsn: must not be empty"))
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
	return errors.Join(errs...)
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
// timeouts where it sets none, and the database left out so that a connection
// works before migrations create it (queries name the database explicitly).
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

package clickhouse_test

import (
	"crypto/tls"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/clickhouse"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name, dsn string
		retention int
		wantErr   string // substring; "" means valid
		wantDB    string
	}{
		{name: "default", dsn: clickhouse.DefaultDSN, wantDB: "referralops"},
		{name: "no database", dsn: "clickhouse://127.0.0.1:9000", wantDB: "referralops"},
		{name: "tcp scheme", dsn: "tcp://u:p@ch-1:9000,ch-2:9000/analytics?dial_timeout=2s", wantDB: "analytics"},
		{name: "empty", dsn: "", wantErr: "clickhouse-dsn: must not be empty"},
		{name: "clickhouses scheme", dsn: "clickhouses://h:9440/referralops", wantErr: "clickhouse-dsn: clickhouses:// does not encrypt"},
		{name: "http", dsn: "http://127.0.0.1:8123/referralops", wantErr: "clickhouse-dsn: must use the native protocol"},
		{name: "unparsable", dsn: "clickhouse://127.0.0.1:9000/db?dial_timeout=soon", wantErr: "clickhouse-dsn: "},
		{name: "bad database", dsn: "clickhouse://127.0.0.1:9000/re-ferral", wantErr: "clickhouse-dsn: database: \"re-ferral\" is not a plain identifier"},
		{name: "retention", dsn: clickhouse.DefaultDSN, retention: -1, wantErr: "clickhouse-retention-days: must be > 0, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clickhouse.DefaultConfig()
			c.DSN = tc.dsn
			if tc.retention != 0 {
				c.RetentionDays = tc.retention
			}
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
			}
			if tc.wantDB != "" && c.Database() != tc.wantDB {
				t.Errorf("Database() = %q, want %q", c.Database(), tc.wantDB)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	c := clickhouse.DefaultConfig()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags("", fs)
	if err := fs.Parse([]string{"--clickhouse-dsn", "clickhouse://h:9000/x", "--clickhouse-retention-days", "30"}); err != nil {
		t.Fatal(err)
	}
	if c.DSN != "clickhouse://h:9000/x" || c.RetentionDays != 30 || c.Database() != "x" {
		t.Errorf("after flags: %+v, database %q", c, c.Database())
	}
	prefixed := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags("replica-", prefixed)
	if prefixed.Lookup("replica-clickhouse-dsn") == nil {
		t.Error("prefix not applied to clickhouse-dsn")
	}
}

func TestConfigOptions(t *testing.T) {
	c := clickhouse.DefaultConfig()
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.DialTimeout != clickhouse.DefaultDialTimeout || opts.ReadTimeout != clickhouse.DefaultReadTimeout {
		t.Errorf("timeouts %s/%s, want defaults", opts.DialTimeout, opts.ReadTimeout)
	}
	if opts.Auth.Database != "" {
		t.Errorf("connection database %q: Open must work before the database exists", opts.Auth.Database)
	}
	c.DSN = "clickhouse://127.0.0.1:9000/x?dial_timeout=1s&read_timeout=20s"
	if opts, err = c.Options(); err != nil {
		t.Fatal(err)
	}
	if opts.DialTimeout != time.Second || opts.ReadTimeout != 20*time.Second {
		t.Errorf("timeouts %s/%s, want the DSN's 1s/20s", opts.DialTimeout, opts.ReadTimeout)
	}
}

func TestConfigTLSOptions(t *testing.T) {
	c := clickhouse.DefaultConfig()
	if opts, err := c.Options(); err != nil || opts.TLS != nil {
		t.Fatalf("default: TLS %v, err %v; want none", opts.TLS, err)
	}
	c.DSN = "clickhouse://ch.internal:9440/referralops"
	c.TLS = clickhouse.TLSConfig{Enabled: true, ServerName: "clickhouse.internal"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	opts, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.TLS == nil || opts.TLS.MinVersion != tls.VersionTLS12 || opts.TLS.ServerName != "clickhouse.internal" || opts.TLS.InsecureSkipVerify {
		t.Errorf("TLS options: %+v", opts.TLS)
	}
	c.TLS.CAFile = "testdata/does-not-exist.pem"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "clickhouse-tls-ca-file") {
		t.Errorf("missing CA file: %v, want an error naming clickhouse-tls-ca-file", err)
	}
}

package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/schema"
)

// ClickHouseDB is a migrated database of its own for one test.
type ClickHouseDB struct {
	DSN      string // names the database
	Database string
	Conn     driver.Conn
}

// Querier reads the database with the package clickhouse helpers.
func (c *ClickHouseDB) Querier() clickhouse.Querier { return clickhouse.Native{Conn: c.Conn} }

// ExporterDSN is DSN with the read-only exporter user of
// deploy/local/clickhouse.sh (password CLICKHOUSE_EXPORTER_PASSWORD, or its dev
// default), as deployments run the exporter.
func (c *ClickHouseDB) ExporterDSN() string {
	return withUser(c.DSN, schema.ExporterUser, "CLICKHOUSE_EXPORTER_PASSWORD", "exporter-dev")
}

// GrafanaDSN is dsn (a user-less clickhouse:// DSN) with the read-only Grafana
// user of deploy/local/clickhouse.sh (password CLICKHOUSE_GRAFANA_PASSWORD, or
// its dev default), with the limits of the dashboards' datasource.
func GrafanaDSN(dsn string) string {
	return withUser(dsn, schema.GrafanaUser, "CLICKHOUSE_GRAFANA_PASSWORD", "grafana-dev")
}

// withUser puts a user of deploy/local/clickhouse.sh into dsn, its password
// from passwordEnv or else the script's dev default.
func withUser(dsn, user, passwordEnv, devDefault string) string {
	password := os.Getenv(passwordEnv)
	if password == "" {
		password = devDefault
	}
	return strings.Replace(dsn, "clickhouse://", "clickhouse://"+user+":"+password+"@", 1)
}

// ClickHouse gives the test a fresh, migrated database on the shared server
// (REFERRALOPS_TEST_CLICKHOUSE_ADDR, default 127.0.0.1:9000), dropped at cleanup.
func ClickHouse(t testing.TB) *ClickHouseDB {
	t.Helper()
	return database(t, clickHouseAddr())
}

// ClickHouseMigratedTo is a fresh database on the shared server migrated up to
// version last only: a database behind the binary, as after a deploy that
// skipped `referralops migrate`.
func ClickHouseMigratedTo(t testing.TB, last int) *ClickHouseDB {
	t.Helper()
	e := server(t, clickHouseAddr())
	db := e.Database(t)
	if _, err := schema.MigrateTo(context.Background(), e.exec, e.Dialect, db, last); err != nil {
		t.Fatal(err)
	}
	return &ClickHouseDB{DSN: e.DSN(db), Database: db, Conn: e.conn}
}

func database(t testing.TB, addr string) *ClickHouseDB {
	t.Helper()
	e := server(t, addr)
	db := e.Migrated(t)
	return &ClickHouseDB{DSN: e.DSN(db), Database: db, Conn: e.conn}
}

// ClickHouseServer is a ClickHouse server of the test's own, started with
// deploy/local/clickhouse.sh on free ports with its data in a temporary
// directory, for tests that stop and start the server.
type ClickHouseServer struct {
	// SecureAddr is the native protocol over TLS (host:port), for a server
	// from StartClickHouseTLSServer.
	SecureAddr string
	dataDir    string
	env        []string
	addr       string
	stoppedAt  time.Time
}

// StartClickHouseServer starts a dedicated server and stops it at cleanup.
func StartClickHouseServer(t testing.TB) *ClickHouseServer {
	t.Helper()
	return startClickHouseServer(t, nil)
}

// StartClickHouseTLSServer starts a dedicated server that also serves the
// native protocol over TLS on SecureAddr, with a certificate ca signed for
// 127.0.0.1 and localhost; with clientCA, clients need a certificate it signed.
func StartClickHouseTLSServer(t testing.TB, ca *CA, clientCA bool) *ClickHouseServer {
	t.Helper()
	pair := ca.Issue(t, "clickhouse-server")
	env := []string{"CLICKHOUSE_TLS_CERT_FILE=" + pair.CertFile, "CLICKHOUSE_TLS_KEY_FILE=" + pair.KeyFile}
	if clientCA {
		env = append(env, "CLICKHOUSE_TLS_CA_FILE="+ca.CertFile)
	}
	return startClickHouseServer(t, env)
}

func startClickHouseServer(t testing.TB, tlsEnv []string) *ClickHouseServer {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		unavailable(t, "clickhouse-server", err)
	}
	tcp, http := FreeAddr(t), FreeAddr(t)
	dir := t.TempDir()
	s := &ClickHouseServer{addr: tcp, dataDir: dir, env: []string{
		"REFERRALOPS_DATA_DIR=" + dir,
		"CLICKHOUSE_TCP_PORT=" + port(tcp),
		"CLICKHOUSE_HTTP_PORT=" + port(http),
	}}
	if tlsEnv != nil {
		s.SecureAddr = FreeAddr(t)
		s.env = append(append(s.env, "CLICKHOUSE_TCP_PORT_SECURE="+port(s.SecureAddr)), tlsEnv...)
	}
	s.Start(t)
	t.Cleanup(func() { s.run(t, "down") })
	return s
}

// Database gives the test a migrated database on this server.
func (s *ClickHouseServer) Database(t testing.TB) *ClickHouseDB {
	t.Helper()
	return database(t, s.addr)
}

// UsersFile is the server's rendered users.xml, which it re-reads when it
// changes: a test edits it to change a user's rights while the server runs.
func (s *ClickHouseServer) UsersFile() string {
	return filepath.Join(s.dataDir, "clickhouse", "etc", "users.xml")
}

// Start starts the server and waits until it answers.
func (s *ClickHouseServer) Start(t testing.TB) { t.Helper(); s.run(t, "up") }

// Stop stops the server and waits until it has exited.
func (s *ClickHouseServer) Stop(t testing.TB) {
	t.Helper()
	s.run(t, "down")
	s.stoppedAt = time.Now()
}

// SinceStop is the time since the last Stop.
func (s *ClickHouseServer) SinceStop() time.Duration { return time.Since(s.stoppedAt) }

func (s *ClickHouseServer) run(t testing.TB, action string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(), "deploy", "local", "clickhouse.sh"), action)
	cmd.Env = append(cmd.Environ(), s.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clickhouse.sh %s: %v\n%s", action, err, out)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

package testenv

import (
	"context"
	"net"
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
	// HTTPAddr is the server's HTTP interface (host:port) on a server of the
	// test's own (ClickHouseServer.Database); "" on the shared server.
	HTTPAddr string
}

// Querier reads the database with the package clickhouse helpers.
func (c *ClickHouseDB) Querier() clickhouse.Querier { return clickhouse.Native{Conn: c.Conn} }

// ExporterDSN is DSN with the read-only exporter user of
// deploy/local/clickhouse.sh, as deployments run the exporter. Its users.xml
// allows the readers one database: use it on a ReaderClickHouse database.
func (c *ClickHouseDB) ExporterDSN() string { return c.UserDSN(schema.ExporterUser) }

// passwordEnv: the environment variables of the passwords of the users of
// deploy/local/clickhouse/users.xml.tmpl and their dev defaults (clickhouse.sh).
var passwordEnv = map[string][2]string{
	schema.ExporterUser: {"CLICKHOUSE_EXPORTER_PASSWORD", "exporter-dev"},
	schema.GrafanaUser:  {"CLICKHOUSE_GRAFANA_PASSWORD", "grafana-dev"},
	schema.AnalystUser:  {"CLICKHOUSE_ANALYST_PASSWORD", "analyst-dev"},
	schema.WriterUser:   {"CLICKHOUSE_WRITER_PASSWORD", "writer-dev"},
	schema.MigratorUser: {"CLICKHOUSE_MIGRATOR_PASSWORD", "migrator-dev"},
}

// UserDSN is DSN with one of the users of deploy/local/clickhouse.sh and its
// password (its environment variable, or the dev default).
func (c *ClickHouseDB) UserDSN(user string) string {
	env, ok := passwordEnv[user]
	if !ok {
		panic("testenv: no user " + user + " in deploy/local/clickhouse/users.xml.tmpl")
	}
	password := envOr(env[0], env[1])
	return strings.Replace(c.DSN, "clickhouse://", "clickhouse://"+user+":"+password+"@", 1)
}

// ReaderClickHouse gives the test a migrated database on a ClickHouse server
// of its own (StartClickHouseServer): for tests that connect as the
// read-only users, which deploy/local/clickhouse/users.xml.tmpl allows that
// one database.
func ReaderClickHouse(t testing.TB) *ClickHouseDB {
	t.Helper()
	return StartClickHouseServer(t).Database(t)
}

// ClickHouse gives the test a fresh, migrated database on the shared server
// (REFERRALOPS_TEST_CLICKHOUSE_ADDR, default 127.0.0.1:9000), dropped at
// cleanup. Its readers are not allowed it: see ReaderClickHouse.
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
// directory, for tests that stop and start the server or connect as the
// users of its users.xml, which name its one database (Database).
type ClickHouseServer struct {
	// SecureAddr is the native protocol over TLS (host:port), for a server
	// from StartClickHouseTLSServer.
	SecureAddr string
	// HTTPAddr is the HTTP interface (host:port).
	HTTPAddr  string
	dataDir   string
	env       []string
	addr      string
	db        string // CLICKHOUSE_DATABASE
	stoppedAt time.Time
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

// startClickHouseServer starts a server with clickhouse.sh's settings plus
// env; with CLICKHOUSE_TCP_PORT_SECURE's files (StartClickHouseTLSServer)
// it also serves TLS.
func startClickHouseServer(t testing.TB, env []string) *ClickHouseServer {
	t.Helper()
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		unavailable(t, "clickhouse-server", err)
	}
	tcp, http := FreeAddr(t), FreeAddr(t)
	dir := t.TempDir()
	s := &ClickHouseServer{addr: tcp, HTTPAddr: http, dataDir: dir, db: UniqueName("rs_"), env: []string{
		"REFERRALOPS_DATA_DIR=" + dir,
		"CLICKHOUSE_TCP_PORT=" + port(tcp),
		"CLICKHOUSE_HTTP_PORT=" + port(http),
	}}
	s.env = append(s.env, "CLICKHOUSE_DATABASE="+s.db)
	for _, kv := range env {
		if strings.HasPrefix(kv, "CLICKHOUSE_TLS_CERT_FILE=") {
			s.SecureAddr = FreeAddr(t)
			s.env = append(s.env, "CLICKHOUSE_TCP_PORT_SECURE="+port(s.SecureAddr))
		}
	}
	s.env = append(s.env, env...)
	s.Start(t)
	t.Cleanup(func() { s.run(t, "down") })
	return s
}

// Database is the server's database, the one its users.xml names, migrated
// as the migrator user (again on every call, which changes nothing); Conn is
// the admin user's, for setting up.
func (s *ClickHouseServer) Database(t testing.TB) *ClickHouseDB {
	t.Helper()
	e := server(t, s.addr)
	c := &ClickHouseDB{DSN: e.DSN(s.db), Database: s.db, Conn: e.conn, HTTPAddr: s.HTTPAddr}
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = c.UserDSN(schema.MigratorUser)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("connect as %s: %v", schema.MigratorUser, err)
	}
	defer conn.Close()
	if _, _, err := schema.MigrateConn(ctx, conn, cfg); err != nil {
		t.Fatalf("migrate %s as %s: %v", s.db, schema.MigratorUser, err)
	}
	return c
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

package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/internal/clickhouse/chdb"
	"github.com/referralops/referralops/schema"
)

// Engine is one ClickHouse engine that the cross-version tests prove the
// project's SQL on: the 18.16 server of `make services-up` (Server) or chDB,
// the current release as a library (ChDB). Tests take databases of their own on
// it (Database, Migrated). It is a clickhouse.Executor.
type Engine struct {
	Name    string             // "server" or "chdb"; the subtest name under OnEngines
	Dialect clickhouse.Dialect // what the engine's version supports

	exec clickhouse.Executor
	conn driver.Conn // the server's; nil on chDB
	addr string      // the server's host:port; "" on chDB
}

var _ clickhouse.Executor = (*Engine)(nil)

// Server is the shared ClickHouse server (REFERRALOPS_TEST_CLICKHOUSE_ADDR,
// default 127.0.0.1:9000) over a connection of the test's own.
func Server(t testing.TB) *Engine {
	t.Helper()
	return server(t, clickHouseAddr())
}

// ServerAt is the ClickHouse server at addr (host:port) over a connection of
// the test's own, e.g. one server of the live cluster.
func ServerAt(t testing.TB, addr string) *Engine {
	t.Helper()
	return server(t, addr)
}

func clickHouseAddr() string { return envOr("REFERRALOPS_TEST_CLICKHOUSE_ADDR", "127.0.0.1:9000") }

func server(t testing.TB, addr string) *Engine {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		unavailable(t, "ClickHouse server at "+addr, err)
	}
	c.Close()
	e := &Engine{Name: "server", addr: addr}
	e.conn = e.open(t)
	e.exec = clickhouse.Native{Conn: e.conn}
	e.detect(t)
	return e
}

func (e *Engine) open(t testing.TB) driver.Conn {
	t.Helper()
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = e.DSN(clickhouse.DefaultDatabase)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// libchdb holds one engine per process, so every test shares one session; Main
// closes it and removes its data when the tests are done.
var chdbState struct {
	once    sync.Once
	session *chdb.Session
	dir     string
	err     error
}

// ChDB is the process's chDB session (/usr/local/lib/libchdb.so, see `make
// chdb`). Its package's TestMain must call Main.
func ChDB(t testing.TB) *Engine {
	t.Helper()
	s := &chdbState
	s.once.Do(func() {
		if s.err = chdb.Load(); s.err != nil {
			return
		}
		if s.dir, s.err = os.MkdirTemp("", "referralops-chdb-"); s.err != nil {
			return
		}
		s.session, s.err = chdb.Open(s.dir)
	})
	if errors.Is(s.err, chdb.ErrNoLibrary) {
		missing(t, "chDB ("+chdb.LibraryPath()+")", "make chdb", s.err)
	}
	if s.err != nil {
		t.Fatalf("chDB: %v", s.err)
	}
	e := &Engine{Name: "chdb", exec: clickhouse.ChDB{Session: s.session}}
	e.detect(t)
	return e
}

// Main runs a package's tests, then closes the chDB session if a test opened
// one and removes its data. A package whose tests use ChDB or OnEngines calls
// it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	s := &chdbState
	if s.session != nil {
		s.session.Close()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
	os.Exit(code)
}

// OnEngines runs f as a subtest on the server and on chDB.
func OnEngines(t *testing.T, f func(t *testing.T, e *Engine)) {
	t.Helper()
	t.Run("server", func(t *testing.T) { f(t, Server(t)) })
	t.Run("chdb", func(t *testing.T) { f(t, ChDB(t)) })
}

func (e *Engine) detect(t testing.TB) {
	t.Helper()
	d, err := clickhouse.DetectDialect(context.Background(), e.exec)
	if err != nil {
		t.Fatalf("%s: %v", e.Name, err)
	}
	e.Dialect = d
}

// Exec runs one statement.
func (e *Engine) Exec(ctx context.Context, statement string) error {
	return e.exec.Exec(ctx, statement)
}

// Query returns the rows of a query, every value as text (see clickhouse.Querier).
func (e *Engine) Query(ctx context.Context, query string) ([][]string, error) {
	return e.exec.Query(ctx, query)
}

// NewExecutor is a way in of its own, as a separate process would have: a new
// connection on the server; on chDB, which has one session, the same session.
func (e *Engine) NewExecutor(t testing.TB) clickhouse.Executor {
	t.Helper()
	if e.conn == nil {
		return e.exec
	}
	return clickhouse.Native{Conn: e.open(t)}
}

// DSN names database db on the server, for the referralops binary; "" on chDB.
func (e *Engine) DSN(db string) string {
	if e.addr == "" {
		return ""
	}
	return "clickhouse://" + e.addr + "/" + db
}

// Database names a fresh database, not created yet, and drops it and its PHI
// database (schema.PHIDatabase) when the test ends.
func (e *Engine) Database(t testing.TB) string {
	t.Helper()
	db := UniqueName("rt_")
	t.Cleanup(func() {
		// Bounded: on 18.16 a DROP can wait on a cancelled query's locks.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The PHI database first: its views write into db.
		for _, name := range []string{schema.PHIDatabase(db), db} {
			if err := e.exec.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
				t.Logf("%s: drop %s: %v", e.Name, name, err)
			}
		}
	})
	return db
}

// Migrated is a fresh database with every migration applied.
func (e *Engine) Migrated(t testing.TB) string {
	t.Helper()
	db := e.Database(t)
	if _, err := schema.Migrate(context.Background(), e.exec, e.Dialect, db); err != nil {
		t.Fatalf("%s (%s): %v", e.Name, e.Dialect.Version, err)
	}
	return db
}

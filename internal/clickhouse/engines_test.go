package clickhouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/clickhouse/chdb"
)

// Integration tests run on two engines: a ClickHouse server over the native
// protocol (REFERRALOPS_CLICKHOUSE_DSN, default 127.0.0.1:9000) and chDB
// (/usr/local/lib/libchdb.so, see deploy/local/chdb.sh). An engine that is not
// there skips its tests, unless REFERRALOPS_REQUIRE_SERVERS=1 (CI), where it
// fails them.

const (
	envDSN     = "REFERRALOPS_CLICKHOUSE_DSN"
	envRequire = "REFERRALOPS_REQUIRE_SERVERS"
)

var chdbDir string // the chDB session's data directory, removed by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	if chdbSession != nil {
		chdbSession.Close()
	}
	if chdbDir != "" {
		os.RemoveAll(chdbDir)
	}
	os.Exit(code)
}

// unavailable skips the test, or fails it when servers are required.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(envRequire) == "1" {
		t.Fatalf("%s (%s=1, so this is a failure)", msg, envRequire)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, envRequire)
}

// engine is one place the schema runs.
type engine struct {
	name    string
	exec    clickhouse.Executor
	dialect clickhouse.Dialect
	conn    driver.Conn // the server's connection; nil for chDB
	// newConn opens another server connection (concurrency tests); nil for chDB.
	newConn func(t *testing.T) driver.Conn
}

func serverConfig() clickhouse.Config {
	cfg := clickhouse.DefaultConfig()
	if dsn := os.Getenv(envDSN); dsn != "" {
		cfg.DSN = dsn
	}
	return cfg
}

func serverEngine(t *testing.T) *engine {
	t.Helper()
	cfg := serverConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s: %v", envDSN, err)
	}
	open := func(t *testing.T) driver.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := clickhouse.Open(ctx, cfg)
		if err != nil {
			unavailable(t, "no ClickHouse server at %s=%q: %v", envDSN, cfg.DSN, err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	conn := open(t)
	e := &engine{name: "server", exec: clickhouse.Native{Conn: conn}, conn: conn, newConn: open}
	e.dialect = detect(t, e.exec)
	return e
}

var (
	chdbOnce    sync.Once
	chdbSession *chdb.Session
	chdbErr     error
)

func chdbEngine(t *testing.T) *engine {
	t.Helper()
	chdbOnce.Do(func() {
		if chdbErr = chdb.Load(); chdbErr != nil {
			return
		}
		if chdbDir, chdbErr = os.MkdirTemp("", "referralops-chdb-"); chdbErr != nil {
			return
		}
		chdbSession, chdbErr = chdb.Open(chdbDir)
	})
	if errors.Is(chdbErr, chdb.ErrNoLibrary) {
		unavailable(t, "chDB: %v", chdbErr)
	}
	if chdbErr != nil {
		t.Fatalf("chDB: %v", chdbErr)
	}
	e := &engine{name: "chdb", exec: clickhouse.ChDB{Session: chdbSession}}
	e.dialect = detect(t, e.exec)
	return e
}

func detect(t *testing.T, q clickhouse.Querier) clickhouse.Dialect {
	t.Helper()
	d, err := clickhouse.DetectDialect(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// onEngines runs f as a subtest per engine.
func onEngines(t *testing.T, f func(t *testing.T, e *engine)) {
	t.Run("server", func(t *testing.T) { f(t, serverEngine(t)) })
	t.Run("chdb", func(t *testing.T) { f(t, chdbEngine(t)) })
}

// testDatabase names a fresh database and drops it when the test ends.
func testDatabase(t *testing.T, e *engine) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	db := "referralops_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := e.exec.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
	return db
}

// migrated is a fresh, migrated database.
func migrated(t *testing.T, e *engine) string {
	t.Helper()
	db := testDatabase(t, e)
	if _, err := clickhouse.Migrate(context.Background(), e.exec, e.dialect, db); err != nil {
		t.Fatalf("%s (%s): %v", e.name, e.dialect.Version, err)
	}
	return db
}

// row is one `events` row.
type row struct {
	EventID, EventType                                                     string
	EventTime                                                              time.Time
	ReferralID, Source                                                     string
	ReferrerID, ReferrerOrgID, ReferrerType, ReferrerNetwork, ServiceLine  string
	LocationID, DestinationNetwork, DestinationOrgID, PayerClass, Priority string
	Channel, PatientToken, Reason                                          string
	Missing                                                                []string
	AppointmentID                                                          string
	ScheduledFor                                                           time.Time
	VisitType, CancelledBy, Recipient, Outcome, Topic                      string
	Partition                                                              int32
	Offset                                                                 int64
	IngestedAt                                                             time.Time
}

func (r row) values() []any {
	missing := r.Missing
	if missing == nil {
		missing = []string{}
	}
	return []any{
		r.EventID, r.EventType, r.EventTime.UTC(), r.ReferralID, r.Source,
		r.ReferrerID, r.ReferrerOrgID, r.ReferrerType, r.ReferrerNetwork, r.ServiceLine,
		r.LocationID, r.DestinationNetwork, r.DestinationOrgID, r.PayerClass, r.Priority,
		r.Channel, r.PatientToken, r.Reason, missing, r.AppointmentID,
		dateTime(r.ScheduledFor), r.VisitType, r.CancelledBy, r.Recipient, r.Outcome,
		r.Topic, r.Partition, r.Offset, r.IngestedAt.UTC(),
	}
}

// dateTime maps "none" to the 1970 epoch the schema uses for it.
func dateTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC()
}

// insert stores rows: a named-column batch on the server (what the ingester
// does), a VALUES statement on chDB.
func insert(t *testing.T, e *engine, db string, rows []row) {
	t.Helper()
	ctx := context.Background()
	query := "INSERT INTO " + db + ".events (" + strings.Join(clickhouse.EventColumns, ", ") + ")"
	if e.conn != nil {
		b, err := e.conn.PrepareBatch(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if err := b.Append(r.values()...); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
		return
	}
	var sb strings.Builder
	sb.WriteString(query + " VALUES ")
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(")
		for j, v := range r.values() {
			if j > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(literal(v))
		}
		sb.WriteString(")")
	}
	if err := e.exec.Exec(ctx, sb.String()); err != nil {
		t.Fatal(err)
	}
}

func literal(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case time.Time:
		return quote(x.UTC().Format(time.DateTime))
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return fmt.Sprint(x)
	}
}

func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func facts(t *testing.T, e *engine, db string, asOf time.Time) []clickhouse.ReferralFact {
	t.Helper()
	f, err := clickhouse.ReferralFacts(context.Background(), e.exec, db, asOf)
	if err != nil {
		t.Fatalf("%s (%s): %v", e.name, e.dialect.Version, err)
	}
	return f
}

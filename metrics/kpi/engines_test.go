package kpi_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/clickhouse/chdb"
	"github.com/referralops/referralops/internal/testenv"
)

// The KPI SQL is proven on two engines: the ClickHouse 18.16 server of `make
// services-up` (a fresh database per test from testenv) and chDB, the current
// engine as a library (one session per test process, a database per test).
// Events enter through the `events` table, so the materialized views build the
// facts and the KPI index exactly as they do behind the ingester.

// engine is a migrated, empty database on one engine.
type engine struct {
	name string
	db   string
	dsn  string // the server's, for the referralops binary; "" on chDB
	q    clickhouse.Querier
	conn driver.Conn // the server's; nil on chDB
	exec clickhouse.Executor
}

func serverEngine(t testing.TB) *engine {
	t.Helper()
	db := testenv.ClickHouse(t)
	return &engine{name: "clickhouse-server", db: db.Database, dsn: db.DSN, q: db.Querier(), conn: db.Conn, exec: clickhouse.Native{Conn: db.Conn}}
}

var (
	chdbOnce    sync.Once
	chdbSession *chdb.Session
	chdbDir     string
	chdbErr     error
)

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

func chdbEngine(t testing.TB) *engine {
	t.Helper()
	chdbOnce.Do(func() {
		if chdbErr = chdb.Load(); chdbErr != nil {
			return
		}
		if chdbDir, chdbErr = os.MkdirTemp("", "referralops-kpi-chdb-"); chdbErr != nil {
			return
		}
		chdbSession, chdbErr = chdb.Open(chdbDir)
	})
	if errors.Is(chdbErr, chdb.ErrNoLibrary) {
		if testenv.RequireServers() {
			t.Fatalf("chDB is required (REFERRALOPS_REQUIRE_SERVERS=1): %v", chdbErr)
		}
		t.Skipf("chDB unavailable (%v); set REFERRALOPS_REQUIRE_SERVERS=1 to fail instead", chdbErr)
	}
	if chdbErr != nil {
		t.Fatalf("chDB: %v", chdbErr)
	}
	exec := clickhouse.ChDB{Session: chdbSession}
	ctx := context.Background()
	d, err := clickhouse.DetectDialect(ctx, exec)
	if err != nil {
		t.Fatal(err)
	}
	db := testenv.UniqueName("kpi_")
	t.Cleanup(func() { _ = exec.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	if _, err := clickhouse.Migrate(ctx, exec, d, db); err != nil {
		t.Fatalf("chDB %s: %v", d.Version, err)
	}
	return &engine{name: "chdb-" + d.Version, db: db, q: exec, exec: exec}
}

// engines runs f as a subtest on each engine.
func engines(t *testing.T, f func(t *testing.T, e *engine)) {
	t.Run("server", func(t *testing.T) { f(t, serverEngine(t)) })
	t.Run("chdb", func(t *testing.T) { f(t, chdbEngine(t)) })
}

// columns holds events column by column in clickhouse.EventColumns order.
type columns struct {
	strs      [23][]string
	eventTime []time.Time
	scheduled []time.Time
	missing   [][]string
	partition []int32
	offset    []int64
	ingested  []time.Time
}

var epoch = time.Unix(0, 0).UTC()

func (c *columns) add(e event.Event, offset int64) {
	d := e.Data
	topic := map[event.Stream]string{event.StreamReferral: "referral-events", event.StreamScheduling: "scheduling-events",
		event.StreamCommunication: "communication-events"}[e.Type.Stream()]
	for i, v := range []string{
		e.ID, string(e.Type), e.Subject, e.Source, d.ReferrerID, d.ReferrerOrgID, d.ReferrerType, d.ReferrerNetwork,
		d.ServiceLine, d.LocationID, d.DestinationNetwork, d.DestinationOrgID, d.PayerClass, d.Priority, d.Channel,
		d.PatientToken, d.Reason, d.AppointmentID, d.VisitType, d.CancelledBy, d.Recipient, d.Outcome, topic,
	} {
		c.strs[i] = append(c.strs[i], v)
	}
	c.eventTime = append(c.eventTime, e.Time.UTC())
	slot := epoch
	if !d.ScheduledFor.IsZero() {
		slot = d.ScheduledFor.UTC()
	}
	c.scheduled = append(c.scheduled, slot)
	missing := d.Missing
	if missing == nil {
		missing = []string{}
	}
	c.missing = append(c.missing, missing)
	c.partition = append(c.partition, 0)
	c.offset = append(c.offset, offset)
	c.ingested = append(c.ingested, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
}

// values returns the column slices in clickhouse.EventColumns order.
func (c *columns) values() []any {
	s := c.strs
	return []any{
		s[0], s[1], c.eventTime, s[2], s[3], s[4], s[5], s[6], s[7], s[8],
		s[9], s[10], s[11], s[12], s[13], s[14], s[15], s[16], c.missing, s[17],
		c.scheduled, s[18], s[19], s[20], s[21], s[22], c.partition, c.offset, c.ingested,
	}
}

// insertBatch is the rows per INSERT: many blocks, as the ingester makes, so
// the views see a referral's events spread over inserts.
const insertBatch = 20_000

// load stores events (duplicates included, in the order given) in the
// engine's `events` table.
func (e *engine) load(t testing.TB, events []event.Event) {
	t.Helper()
	ctx := context.Background()
	for start := 0; start < len(events); start += insertBatch {
		chunk := events[start:min(start+insertBatch, len(events))]
		var c columns
		for i, ev := range chunk {
			c.add(ev, int64(start+i))
		}
		query := "INSERT INTO " + e.db + ".events (" + strings.Join(clickhouse.EventColumns, ", ") + ")"
		if e.conn != nil {
			b, err := e.conn.PrepareBatch(ctx, query)
			if err != nil {
				t.Fatal(err)
			}
			for i, col := range c.values() {
				if err := b.Column(i).Append(col); err != nil {
					t.Fatalf("column %s: %v", clickhouse.EventColumns[i], err)
				}
			}
			if err := b.Send(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := e.exec.Exec(ctx, query+" FORMAT TSV\n"+tsv(&c)); err != nil {
			t.Fatal(err)
		}
	}
}

// tsv renders the rows as TabSeparated data (chDB has no batch API, and
// parses TSV far faster than VALUES).
func tsv(c *columns) string {
	var sb strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)
	cols := c.values()
	for r := range len(c.eventTime) {
		for i, col := range cols {
			if i > 0 {
				sb.WriteByte('\t')
			}
			switch v := col.(type) {
			case []string:
				sb.WriteString(esc.Replace(v[r]))
			case []time.Time:
				sb.WriteString(v[r].Format(time.DateTime))
			case [][]string:
				quoted := make([]string, len(v[r]))
				for j, s := range v[r] {
					quoted[j] = sqlString(s)
				}
				sb.WriteString(esc.Replace("[" + strings.Join(quoted, ",") + "]"))
			case []int32:
				fmt.Fprint(&sb, v[r])
			case []int64:
				fmt.Fprint(&sb, v[r])
			default:
				panic(fmt.Sprintf("column %T", col))
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

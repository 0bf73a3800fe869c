package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/schema"
)

// Row is one row of the `events` table. A zero ScheduledFor is stored as the
// 1970 epoch the schema uses for "none".
type Row struct {
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

// LoadIngestedAt is the ingested_at of loaded events: fixed, so that a dataset
// is stored the same on every run.
var LoadIngestedAt = time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)

// loadBatch is the rows per INSERT of a load: several inserts, as the ingester
// makes, so the views see a referral's events spread over blocks.
const loadBatch = 20_000

// eventRows are events as the ingester stores them from one partition: the
// default topic of their stream, partition 0, offsets from 0 in order.
func eventRows(events []event.Event) []Row {
	topics := broker.DefaultConfig().Topics
	rows := make([]Row, len(events))
	for i, e := range events {
		d := &e.Data
		rows[i] = Row{
			EventID: e.ID, EventType: string(e.Type), EventTime: e.Time, ReferralID: e.Subject, Source: e.Source,
			ReferrerID: d.ReferrerID, ReferrerOrgID: d.ReferrerOrgID, ReferrerType: d.ReferrerType,
			ReferrerNetwork: d.ReferrerNetwork, ServiceLine: d.ServiceLine, LocationID: d.LocationID,
			DestinationNetwork: d.DestinationNetwork, DestinationOrgID: d.DestinationOrgID, PayerClass: d.PayerClass,
			Priority: d.Priority, Channel: d.Channel, PatientToken: d.PatientToken, Reason: d.Reason, Missing: d.Missing,
			AppointmentID: d.AppointmentID, ScheduledFor: d.ScheduledFor, VisitType: d.VisitType,
			CancelledBy: d.CancelledBy, Recipient: d.Recipient, Outcome: d.Outcome,
			Topic: topics.For(e.Type.Stream()), Offset: int64(i), IngestedAt: LoadIngestedAt,
		}
	}
	return rows
}

// Load stores events (duplicates included, in the order given) in db's
// `events` table as the ingester would (see eventRows), in several INSERTs;
// the materialized views build the facts and the KPI index from them.
func (e *Engine) Load(t testing.TB, db string, events []event.Event) {
	t.Helper()
	rows := eventRows(events)
	for start := 0; start < len(rows); start += loadBatch {
		e.Insert(t, db, rows[start:min(start+loadBatch, len(rows))])
	}
}

// Load is Engine.Load on this database.
func (c *ClickHouseDB) Load(t testing.TB, events []event.Event) {
	t.Helper()
	rows := eventRows(events)
	for start := 0; start < len(rows); start += loadBatch {
		batch := rows[start:min(start+loadBatch, len(rows))]
		insertNative(t, c.Conn, schema.EventsTable(c.Database), batch)
		refreshPatientOrder(t, clickhouse.Native{Conn: c.Conn}, c.Database, batch)
	}
}

// Insert stores rows in db's `events` table (schema.EventsTable) in one
// INSERT: on the server a batch with named columns over the native protocol,
// what the ingester sends; on chDB, which has no batch API, TabSeparated data.
func (e *Engine) Insert(t testing.TB, db string, rows []Row) {
	t.Helper()
	e.InsertInto(t, schema.EventsTable(db), rows)
	refreshPatientOrder(t, e.exec, db, rows)
}

// refreshPatientOrder does what the ingester does after storing a batch:
// recompute referral_patient_order for the batch's patients (migration 0010;
// nothing before it).
func refreshPatientOrder(t testing.TB, exec clickhouse.Executor, db string, rows []Row) {
	t.Helper()
	var referrals []string
	for _, r := range rows {
		if r.EventType == string(event.ReferralCreated) && r.PatientToken != "" {
			referrals = append(referrals, r.ReferralID)
		}
	}
	if len(referrals) == 0 {
		return
	}
	ok, err := exec.Query(context.Background(), "EXISTS TABLE "+db+".referral_patient_order")
	if err != nil {
		t.Fatal(err)
	}
	if len(ok) != 1 || len(ok[0]) != 1 || ok[0][0] != "1" {
		return // a database migrated to before 0010
	}
	if err := schema.RefreshPatientOrder(context.Background(), exec, db, referrals, 0); err != nil {
		t.Fatal(err)
	}
}

// InsertInto is Insert into a table with the columns of `events` named
// db.table: the events table where an older schema kept it.
func (e *Engine) InsertInto(t testing.TB, table string, rows []Row) {
	t.Helper()
	if len(rows) == 0 {
		return // nothing to send
	}
	if e.conn != nil {
		insertNative(t, e.conn, table, rows)
		return
	}
	if err := e.exec.Exec(context.Background(), insertQuery(table)+" FORMAT TSV\n"+tsv(rows)); err != nil {
		t.Fatalf("%s: insert %d rows into %s: %v", e.Name, len(rows), table, err)
	}
}

func insertQuery(table string) string {
	return "INSERT INTO " + table + " (" + strings.Join(schema.EventColumns, ", ") + ")"
}

func insertNative(t testing.TB, conn driver.Conn, table string, rows []Row) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), insertQuery(table))
	if err != nil {
		t.Fatal(err)
	}
	for i, col := range columns(rows) {
		if err := b.Column(i).Append(col); err != nil {
			t.Fatalf("column %s: %v", schema.EventColumns[i], err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("insert %d rows into %s: %v", len(rows), table, err)
	}
}

// columns turns rows into one slice per column, in schema.EventColumns
// order: the layout the native protocol sends.
func columns(rows []Row) []any {
	str := func(f func(*Row) string) []string {
		c := make([]string, len(rows))
		for i := range rows {
			c[i] = f(&rows[i])
		}
		return c
	}
	utc := func(f func(*Row) time.Time) []time.Time {
		c := make([]time.Time, len(rows))
		for i := range rows {
			c[i] = f(&rows[i]).UTC()
		}
		return c
	}
	missing := make([][]string, len(rows))
	partition := make([]int32, len(rows))
	offset := make([]int64, len(rows))
	for i, r := range rows {
		missing[i] = r.Missing
		if missing[i] == nil {
			missing[i] = []string{}
		}
		partition[i], offset[i] = r.Partition, r.Offset
	}
	epoch := time.Unix(0, 0)
	return []any{
		str(func(r *Row) string { return r.EventID }), str(func(r *Row) string { return r.EventType }),
		utc(func(r *Row) time.Time { return r.EventTime }), str(func(r *Row) string { return r.ReferralID }),
		str(func(r *Row) string { return r.Source }), str(func(r *Row) string { return r.ReferrerID }),
		str(func(r *Row) string { return r.ReferrerOrgID }), str(func(r *Row) string { return r.ReferrerType }),
		str(func(r *Row) string { return r.ReferrerNetwork }), str(func(r *Row) string { return r.ServiceLine }),
		str(func(r *Row) string { return r.LocationID }), str(func(r *Row) string { return r.DestinationNetwork }),
		str(func(r *Row) string { return r.DestinationOrgID }), str(func(r *Row) string { return r.PayerClass }),
		str(func(r *Row) string { return r.Priority }), str(func(r *Row) string { return r.Channel }),
		str(func(r *Row) string { return r.PatientToken }), str(func(r *Row) string { return r.Reason }),
		missing, str(func(r *Row) string { return r.AppointmentID }),
		utc(func(r *Row) time.Time {
			if r.ScheduledFor.IsZero() {
				return epoch
			}
			return r.ScheduledFor
		}),
		str(func(r *Row) string { return r.VisitType }), str(func(r *Row) string { return r.CancelledBy }),
		str(func(r *Row) string { return r.Recipient }), str(func(r *Row) string { return r.Outcome }),
		str(func(r *Row) string { return r.Topic }), partition, offset,
		utc(func(r *Row) time.Time { return r.IngestedAt }),
	}
}

// tsv renders rows as TabSeparated data (chDB parses it far faster than VALUES).
func tsv(rows []Row) string {
	var sb strings.Builder
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`)
	// An array field is not escaped again: its strings are quoted and escaped once.
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\t", `\t`, "\n", `\n`)
	cols := columns(rows)
	for r := range rows {
		for i, col := range cols {
			if i > 0 {
				sb.WriteByte('\t')
			}
			switch c := col.(type) {
			case []string:
				sb.WriteString(esc.Replace(c[r]))
			case []time.Time:
				sb.WriteString(c[r].Format(time.DateTime))
			case [][]string:
				quoted := make([]string, len(c[r]))
				for j, s := range c[r] {
					quoted[j] = "'" + quote.Replace(s) + "'"
				}
				sb.WriteString("[" + strings.Join(quoted, ",") + "]")
			case []int32:
				sb.WriteString(strconv.FormatInt(int64(c[r]), 10))
			case []int64:
				sb.WriteString(strconv.FormatInt(c[r], 10))
			default:
				panic(fmt.Sprintf("events column %s: %T", schema.EventColumns[i], col))
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestClassify classifies errors as the ingester meets them: raised by the
// real 18.16 server and the Kafka client where they can be provoked here,
// the rest as the client returns them (a *proto.Exception with the code of
// a state this server cannot be put in, kafka-go's error values).
func TestClassify(t *testing.T) {
	ctx := context.Background()
	ch := testenv.ReaderClickHouse(t) // its readers may read its database
	open := func(dsn string) (pingErr error, exec func(string) error) {
		cfg := clickhouse.DefaultConfig()
		cfg.DSN = dsn
		conn, err := clickhouse.Connect(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn.Ping(ctx), func(q string) error { return conn.Exec(ctx, q) }
	}
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = ch.DSN + "?max_memory_usage=1000000"
	limited, err := clickhouse.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer limited.Close()
	_, exec := open(ch.DSN)
	_, exporter := open(ch.ExporterDSN())
	wrongPassword, _ := open(strings.Replace(ch.ExporterDSN(), ":exporter-dev@", ":wrong@", 1))
	noServer, _ := open("clickhouse://" + testenv.FreeAddr(t) + "/x?dial_timeout=1s")
	timedOut, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-timedOut.Done()
	tooLarge := (&kafka.Writer{Addr: kafka.TCP("127.0.0.1:1"), BatchBytes: 100}).
		WriteMessages(ctx, kafka.Message{Value: make([]byte, 1000)})
	events := schema.EventsTable(ch.Database)

	for _, c := range []struct {
		name string
		err  error
		want errClass
		code int32 // the ClickHouse code the server raised, 0 if none
	}{
		{"no server", noServer, transient, 0},
		{"context deadline", timedOut.Err(), transient, 0},
		{"memory limit", limited.Exec(ctx, "SELECT length(groupArray(number)) FROM numbers(10000000)"), transient, clickhouse.CodeMemoryLimitExceeded},
		{"time limit", exec("SELECT count() FROM system.numbers SETTINGS max_execution_time = 1"), transient, clickhouse.CodeTimeoutExceeded},
		{"too many parts", &proto.Exception{Code: 252, Message: "Too many parts (300). Merges are processing significantly slower than inserts."}, transient, 252},
		{"replica read-only", &proto.Exception{Code: 242, Message: "Table is in readonly mode"}, transient, 242},
		{"server overloaded", &proto.Exception{Code: 745, Message: "The server is overloaded"}, transient, 745},
		{"readonly user", exporter("INSERT INTO " + ch.Database + ".kpi_created (event_id) SELECT 'x'"), accessDenied, clickhouse.CodeReadonly},
		{"database not allowed", exporter("SELECT count() FROM " + events), accessDenied, clickhouse.CodeDatabaseAccessDenied},
		{"wrong password", wrongPassword, accessDenied, clickhouse.CodeWrongPassword},
		{"access denied", &proto.Exception{Code: 497, Message: "referralops_ingest: Not enough privileges. To execute this query, it's necessary to have the grant INSERT"}, accessDenied, 497},
		{"unknown table", exec("INSERT INTO " + ch.Database + ".no_such_table (a) SELECT 1"), schemaBehind, clickhouse.CodeUnknownTable},
		{"unknown database", exec("INSERT INTO no_such_db.events (a) SELECT 1"), schemaBehind, clickhouse.CodeUnknownDatabase},
		{"unknown column", exec("INSERT INTO " + events + " (no_such_column) SELECT 1"), schemaBehind, clickhouse.CodeNoSuchColumnInTable},
		{"missing migration", fmt.Errorf("%w: migrations 0007_x not applied", errSchemaBehind), schemaBehind, 0},
		{"too many partitions", &proto.Exception{Code: 252, Message: tooManyPartitions + " (more than 100)."}, rejected, 252},
		{"type mismatch", exec("INSERT INTO " + events + " (event_time) SELECT 'not a time'"), rejected, 0},
		{"writer limit", tooLarge, recordRefused, 0},
		{"broker size limit", kafka.WriteErrors{nil, kafka.MessageSizeTooLarge}, recordRefused, 0},
		{"corrupt record", kafka.InvalidMessage, recordRefused, 0},
		{"leader moved", fmt.Errorf("write: %w", kafka.NotLeaderForPartition), transient, 0},
		{"topic being created", kafka.UnknownTopicOrPartition, transient, 0},
		{"not enough replicas", kafka.NotEnoughReplicas, transient, 0},
		{"topic not authorized", kafka.TopicAuthorizationFailed, accessDenied, 0},
		{"SASL refused", kafka.SASLAuthenticationFailed, accessDenied, 0},
		{"policy violation", kafka.PolicyViolation, rejected, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.err == nil {
				t.Fatal("no error raised")
			}
			if code, _, _ := clickhouse.Exception(c.err); c.code != 0 && code != c.code {
				t.Errorf("ClickHouse code %d, want %d: %v", code, c.code, c.err)
			}
			if got := classify(c.err); got != c.want {
				t.Errorf("classify(%v) = %s, want %s", c.err, got, c.want)
			}
		})
	}
}

func TestInsertFailureNeeds(t *testing.T) {
	for _, c := range []struct {
		f    InsertFailure
		want string
	}{
		{InsertFailure{Code: "164", Need: "INSERT on db.events for the ingester's ClickHouse user", class: accessDenied},
			"ClickHouse exception code 164 (access denied); needs INSERT on db.events for the ingester's ClickHouse user"},
		{InsertFailure{Need: "migrations 0007_x (run `referralops migrate`)", class: schemaBehind},
			"schema behind the binary; needs migrations 0007_x (run `referralops migrate`)"},
		{InsertFailure{Code: "252", Shard: "1", Replica: "2", class: rejected}, "ClickHouse exception code 252 on shard 1 replica 2 (rejected)"},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
}

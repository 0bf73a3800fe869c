package ingest_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// ClickHouse's permanent refusals, through the real binary on the 18.16
// server: each makes the ingester not ready naming what it needs, commits
// nothing, and flows once an operator has acted. And a backfill spanning more
// months than current ClickHouse takes in one INSERT block stores.

// TestFaultBackfill120Months stores a backfill whose events span 120 months:
// the ingester splits the batch into blocks of bounded months (current
// ClickHouse refuses one block of more than 100 partitions; see
// TestMonthBlocksOnCurrentClickHouse). Every event id is stored, and the
// group commits to the end.
func TestFaultBackfill120Months(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d := backfill(t, 120)
	d.produce(t, kc, nil)
	group := testenv.UniqueName("g")
	// A batch age long enough that the backfill is one batch.
	p, _ := ingester(t, kc, ch.DSN, group, "--batch-max-age", "3s")
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	var months uint64
	if err := ch.Conn.QueryRow(context.Background(), "SELECT uniqExact(toYYYYMM(event_time)) FROM "+schema.EventsTable(ch.Database)).Scan(&months); err != nil {
		t.Fatal(err)
	}
	if months != 120 {
		t.Errorf("stored events span %d months, want 120", months)
	}
	if p.Exited() {
		t.Fatalf("ingester exited:\n%s", p.Output())
	}
}

// backfill is months valid events, one per month, ending in March 2026, in
// shuffled month order: generated events with their times moved.
func backfill(t *testing.T, months int) *dataset {
	t.Helper()
	src := smallDataset(t, months)
	dec := event.NewDecoder(event.DefaultConfig())
	d := &dataset{validIDs: map[string]bool{}}
	end := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for _, m := range src.messages {
		if len(d.messages) == months {
			break
		}
		hs := make([]event.Header, len(m.Headers))
		for i, h := range m.Headers {
			hs[i] = event.Header{Key: h.Key, Value: h.Value}
		}
		ev, err := dec.Decode(m.Value, hs)
		if err != nil {
			t.Fatalf("generated event %s: %v", m.EventID, err)
		}
		i := len(d.messages)
		ev.Time = end.AddDate(0, -(i*37)%months, 0) // 37 is prime to 120: every month once
		value, err := event.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		m.Value, m.Headers = value, nil
		d.messages = append(d.messages, m)
		d.validIDs[ev.ID] = true
	}
	if len(d.messages) < months {
		t.Fatalf("only %d generated events for %d months", len(d.messages), months)
	}
	return d
}

// TestFaultSchemaBehind points the ingester at a database one migration
// behind the binary: it is not ready and names the missing migration in
// /readyz and the log, stores and commits nothing; once `referralops migrate`
// ran, everything flows.
func TestFaultSchemaBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	last := ms[len(ms)-1]
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouseMigratedTo(t, last.Version-1)
	d := smallDataset(t, 100)
	d.produce(t, kc, nil)
	group := testenv.UniqueName("g")
	in, base := ingester(t, kc, ch.DSN, group)
	waitRefused(t, in, base, "migrations "+last.String()+" (run `referralops migrate`)")
	checkNothingCommitted(t, kc, group, len(d.messages))
	// Nothing stored: one migration behind, `events` is already where the
	// binary writes it.
	var stored uint64
	if err := ch.Conn.QueryRow(context.Background(), "SELECT count() FROM "+schema.EventsTable(ch.Database)).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("stored %d events before the migration (%v), want none", stored, err)
	}

	migrate := testenv.Start(t, []string{"REFERRALOPS_CLICKHOUSE_DSN=" + ch.DSN}, "migrate")
	testenv.Eventually(t, 2*time.Minute, migrate.Exited, func() string { return "migrate did not finish:\n" + migrate.Output() })
	if code := migrate.Stop(time.Second); code != 0 {
		t.Fatalf("migrate exited %d:\n%s", code, migrate.Output())
	}
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	waitReady(t, base)
}

// TestFaultAccessDenied runs the ingester as the writer user of a ClickHouse
// server of the test's own, whose profile an operator made read-only in
// users.xml: 18.16 refuses its INSERT (READONLY, 164). The ingester is not
// ready, names the grant, logs it, commits nothing and retries slowly; once
// the user may write again (users.xml edited back, which the server
// re-reads), everything flows.
func TestFaultAccessDenied(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	server := testenv.StartClickHouseServer(t)
	ch := server.Database(t)
	users, err := os.ReadFile(server.UsersFile())
	if err != nil {
		t.Fatal(err)
	}
	writerProfile := regexp.MustCompile(`(<writer>\s*)(<allow_ddl>)`)
	if !writerProfile.Match(users) {
		t.Fatalf("%s has no writer profile to change", server.UsersFile())
	}
	// 18.16 re-reads users.xml when its mtime (in seconds) changes, checked
	// every 2 s; the file is replaced whole, by rename, so the server never
	// reads half of it, and again until the server has taken it.
	setUsers := func(b []byte, mayWrite bool) {
		testenv.Eventually(t, time.Minute, func() bool {
			tmp := server.UsersFile() + ".new"
			if err := os.WriteFile(tmp, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, server.UsersFile()); err != nil {
				t.Fatal(err)
			}
			return writerMayWrite(t, ch) == mayWrite
		}, func() string {
			return fmt.Sprintf("the server did not take the writer's profile (may write: %v)", mayWrite)
		})
	}
	setUsers(writerProfile.ReplaceAll(users, []byte("${1}<readonly>1</readonly>\n            ${2}")), false)

	d := smallDataset(t, 100)
	d.produce(t, kc, nil)
	group := testenv.UniqueName("g")
	in, base := ingester(t, kc, ch.UserDSN(schema.WriterUser), group)
	waitRefused(t, in, base, "INSERT on "+schema.EventsTable(ch.Database))
	if !strings.Contains(in.Output(), `"class":"access denied"`) {
		t.Errorf("the log does not classify the refusal as access denied:\n%s", in.Output())
	}
	checkNothingCommitted(t, kc, group, len(d.messages))
	m := testenv.Scrape(t, base+"/metrics")
	if got := m.Value(t, "referralops_ingest_insert_errors_total", "code", "164"); got == 0 {
		t.Errorf("insert_errors_total{code=164} = 0 while the INSERT is refused")
	}

	// The operator's fix: the writer's profile as it was.
	setUsers(users, true)
	testenv.WaitCommitted(t, kc, group, 2*time.Minute)
	checkStored(t, ch, d.validIDs)
	waitReady(t, base)
	if !strings.Contains(in.Output(), "ClickHouse insert answers again") {
		t.Errorf("the ingester did not log the recovery:\n%s", in.Output())
	}
}

// writerMayWrite reports whether a new session of the writer user may
// insert, into a scratch table of the test database.
func writerMayWrite(t *testing.T, ch *testenv.ClickHouseDB) bool {
	t.Helper()
	ctx := context.Background()
	if err := ch.Conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ch.Database+".access_probe (x UInt8) ENGINE = Memory"); err != nil {
		t.Fatal(err)
	}
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = ch.UserDSN(schema.WriterUser)
	conn, err := clickhouse.Connect(cfg)
	if err != nil {
		return false
	}
	defer conn.Close()
	return conn.Exec(ctx, "INSERT INTO "+ch.Database+".access_probe SELECT 1") == nil
}

// waitRefused waits until /readyz is 503 naming need, and the log names it too.
func waitRefused(t *testing.T, in *testenv.Process, base, need string) {
	t.Helper()
	var code int
	var body string
	testenv.Eventually(t, time.Minute, func() bool {
		code, body = readyz(base)
		return code == 503 && strings.Contains(body, "needs "+need) && strings.Contains(in.Output(), need)
	}, func() string {
		return fmt.Sprintf("/readyz = %d %q, want 503 naming %q in /readyz and the log; log:\n%s", code, body, need, in.Output())
	})
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	var code int
	var body string
	testenv.Eventually(t, 30*time.Second, func() bool {
		code, body = readyz(base)
		return code == 200
	}, func() string { return fmt.Sprintf("/readyz = %d %q after the fix", code, body) })
}

// checkNothingCommitted asserts that group's lag is still every one of the
// produced records.
func checkNothingCommitted(t *testing.T, kc broker.Config, group string, produced int) {
	t.Helper()
	lag, err := broker.GroupLag(context.Background(), kc, group, kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	if total := broker.TotalLag(lag); total != int64(produced) {
		t.Fatalf("lag %d of %d records while inserts are refused: offsets were committed", total, produced)
	}
}

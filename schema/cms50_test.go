package schema_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/referralops/referralops/ingest/event"
	chclient "github.com/referralops/referralops/internal/clickhouse"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestCMS50PatientOrder: referral_patient_order (migration 0010) holds, per
// referral with a patient token, the created_at of the same patient's
// previous referral in (created_at, referral_id) order, kept current by the
// writer's recompute (testenv.Insert runs it like the ingester) across
// out-of-order batches, and rebuilt alike by the migration's backfill; a
// referral without a token has no row; referrer_notes keeps only notes to
// the referrer (or with no recipient).
func TestCMS50PatientOrder(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		tok := func(s string) func(*row) { return func(r *row) { r.PatientToken = s } }
		to := func(s string) func(*row) { return func(r *row) { r.Recipient = s } }
		// Patient P: R-3 first, then created at the same second
		// (R-1 before R-2 by id), delivered in reverse; Q has one referral,
		// R-5 none.
		e.Insert(t, db, []row{
			ev("e1", "referral.created", "2026-01-10 09:00:00", "R-2", tok("P")),
			ev("e2", "referral.created", "2026-01-10 09:00:00", "R-1", tok("P")),
			ev("e3", "referral.created", "2026-01-05 08:00:00", "R-4", tok("Q")),
		})
		e.Insert(t, db, []row{
			ev("e4", "referral.created", "2026-01-01 08:00:00", "R-3", tok("P")),
			ev("e4", "referral.created", "2026-01-01 08:00:00", "R-3", tok("P")), // a duplicate
			ev("e5", "referral.created", "2026-01-02 08:00:00", "R-5"),
			ev("n1", "communication.consult_note_sent", "2026-01-12 08:00:00", "R-1", to("pcp")),
			ev("n2", "communication.consult_note_sent", "2026-01-13 08:00:00", "R-1", to("referrer")),
			ev("n3", "communication.consult_note_sent", "2026-01-14 08:00:00", "R-3"),
		})
		want := [][]string{{"R-1", unix("2026-01-01 08:00:00")}, {"R-2", unix("2026-01-10 09:00:00")}, {"R-3", "0"}, {"R-4", "0"}}
		order := func() [][]string {
			t.Helper()
			rows, err := e.Query(ctx, "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+db+
				".referral_patient_order GROUP BY referral_id ORDER BY referral_id")
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		if got := order(); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("after the writer's recomputes: %v, want %v", got, want)
		}
		// The backfill over every patient writes the same values.
		if err := e.Exec(ctx, "TRUNCATE TABLE "+db+".referral_patient_order"); err != nil {
			t.Fatal(err)
		}
		stmt, err := schema.PatientOrderSQL(db, nil, false, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
		if got := order(); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("after the backfill: %v, want %v", got, want)
		}
		notes, err := e.Query(ctx, "SELECT referral_id, toString(arraySort(groupUniqArrayMerge(note_times))) FROM "+db+
			".referrer_notes GROUP BY referral_id ORDER BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		wantNotes := [][]string{{"R-1", "['2026-01-13 08:00:00']"}, {"R-3", "['2026-01-14 08:00:00']"}}
		if !slices.EqualFunc(notes, wantNotes, slices.Equal) {
			t.Errorf("referrer_notes %v, want %v", notes, wantNotes)
		}
	})
}

func unix(s string) string { return strconv.FormatInt(ts(s).Unix(), 10) }

// TestRefreshPatientOrderManyReferrals: a batch naming more referrals than
// fit in one statement (max_query_size, 256 KiB by default: 20,000 ids of 40
// characters) is recomputed in several, each patient's order complete; a
// patient with thousands of referrals (a feed that gives many patients one
// token) costs memory in proportion, not in its square.
func TestRefreshPatientOrderManyReferrals(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		insertOtherPatients(t, e.Exec, db, 60000) // so the recompute names its referrals (patientReferrals.all)
		const n, patients = 20000, 5001           // patient 0 has every 5,001st referral too
		batch := make([]row, n)
		for i := range batch {
			id := fmt.Sprintf("urn:uuid:%031d", i) // 40 characters, like a FHIR id
			at := ts("2026-01-01 00:00:00").Add(time.Duration(i) * time.Minute).Format(time.DateTime)
			p := i % patients
			if i%4 == 0 {
				p = 0
			}
			batch[i] = ev(fmt.Sprintf("e%d", i), "referral.created", at, id, func(r *row) { r.PatientToken = fmt.Sprintf("P%d", p) })
		}
		e.Insert(t, db, batch) // recomputes like the writer
		want := map[string]int64{}
		last := map[int]int64{}
		for i, r := range batch {
			p := i % patients
			if i%4 == 0 {
				p = 0
			}
			want[r.ReferralID] = last[p]
			last[p] = r.EventTime.Unix()
		}
		got, err := e.Query(context.Background(), "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+
			db+".referral_patient_order WHERE referral_id NOT LIKE 'X-%' GROUP BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Errorf("%d referrals with an order row, want %d", len(got), n)
		}
		wrong := 0
		for _, g := range got {
			if w := strconv.FormatInt(want[g[0]], 10); g[1] != w {
				if wrong++; wrong <= 3 {
					t.Errorf("%s: previous referral at %s, want %s", g[0], g[1], w)
				}
			}
		}
		if wrong > 0 {
			t.Errorf("%d of %d referrals with the wrong previous referral", wrong, n)
		}
	})
}

// TestRefreshPatientOrderPrewhere: a recompute whose patients hold a small
// share of patient_referrals' rows filters them by token before reading
// their states (PREWHERE) and still orders each patient's referrals
// completely: a referral stored later but created earlier moves ahead of the
// patient's first.
func TestRefreshPatientOrderPrewhere(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		const others = 400 // other patients' referrals: 16 and more rows per recomputed referral
		batch := make([]row, others)
		for i := range batch {
			batch[i] = ev(fmt.Sprintf("o%d", i), "referral.created", "2026-01-05 08:00:00", fmt.Sprintf("X-%d", i),
				func(r *row) { r.PatientToken = fmt.Sprintf("O%d", i%97) })
		}
		e.Insert(t, db, batch)
		if sql, err := schema.PatientOrderSQL(db, []string{"R-1"}, false, true); err != nil || !strings.Contains(sql, "PREWHERE patient_token IN") {
			t.Fatalf("the recompute with prewhere: %v\n%s", err, sql)
		}
		patient := func(r *row) { r.PatientToken = "P" }
		e.Insert(t, db, []row{ev("e1", "referral.created", "2026-01-10 09:00:00", "R-1", patient)})
		e.Insert(t, db, []row{ev("e2", "referral.created", "2026-01-08 09:00:00", "R-2", patient)})
		e.Insert(t, db, []row{ev("e3", "referral.created", "2026-01-12 09:00:00", "R-3", patient)})
		got, err := e.Query(context.Background(), "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+
			db+".referral_patient_order WHERE referral_id LIKE 'R-%' GROUP BY referral_id ORDER BY referral_id")
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{
			{"R-1", fmt.Sprint(ts("2026-01-08 09:00:00").Unix())},
			{"R-2", "0"},
			{"R-3", fmt.Sprint(ts("2026-01-10 09:00:00").Unix())},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the patient's order: %v, want %v", got, want)
		}
	})
}

// TestRefreshPatientOrderReadsItsPatients: on one server the recompute for a
// small batch reads the rows of its patients from patient_referrals through
// the primary key, not the table (GLOBAL IN read every patient's row for
// every batch: 0.3 s a batch at 2.2 M patients); a large batch still reads
// the table (TestRefreshPatientOrderManyReferrals), a cluster's Distributed
// table too (TestLiveCluster*).
func TestRefreshPatientOrderReadsItsPatients(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	phi := schema.PHIDatabase(ch.Database)
	const others = 200000
	insertOtherPatients(t, chclient.Native{Conn: ch.Conn}.Exec, ch.Database, others)
	if err := ch.Conn.Exec(ctx, "OPTIMIZE TABLE "+phi+".patient_referrals FINAL"); err != nil {
		t.Fatal(err)
	}
	ch.Load(t, []event.Event{{ID: "e1", Source: "epic/test", Type: event.ReferralCreated, Time: ts("2026-01-10 09:00:00"), Subject: "R-1",
		Data: event.Data{ServiceLine: "cardiology", LocationID: "loc-1", ReferrerID: "npi-1", ReferrerType: "primary_care",
			ReferrerNetwork: "in", DestinationNetwork: "in", PayerClass: "commercial", Priority: "routine", Channel: "fax", PatientToken: "P"}}})
	// A query's log entry can come after its result reached the client: poll.
	var rows [][]string
	testenv.Eventually(t, time.Minute, func() bool {
		if err := ch.Conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
			t.Fatal(err)
		}
		var err error
		rows, err = ch.Querier().Query(ctx, "SELECT toString(read_rows) FROM system.query_log WHERE type = 2 AND query LIKE 'INSERT INTO "+
			ch.Database+".referral_patient_order%' AND query LIKE '%''R-1''%'")
		if err != nil {
			t.Fatal(err)
		}
		return len(rows) > 0
	}, func() string { return fmt.Sprintf("the recompute of R-1 in system.query_log: %v", rows) })
	if n, _ := strconv.Atoi(rows[0][0]); n >= others/2 {
		t.Errorf("the recompute of one referral read %d rows, of %d patients' referrals", n, others)
	}
	order, err := ch.Querier().Query(ctx, "SELECT toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+ch.Database+
		".referral_patient_order WHERE referral_id = 'R-1'")
	if err != nil || len(order) != 1 || order[0][0] != "0" {
		t.Errorf("R-1's order row: %v, %v; want its patient's first (0)", order, err)
	}
}

// TestRefreshPatientOrderQuerySize: the recompute fits its statements to the
// max_query_size they run under: 20,000 ids of 40 characters (about 880 KB)
// take several statements under the server's default (256 KiB), one under 2
// MiB, with the same order either way.
func TestRefreshPatientOrderQuerySize(t *testing.T) {
	ch := testenv.ClickHouse(t)
	insertOtherPatients(t, chclient.Native{Conn: ch.Conn}.Exec, ch.Database, 50000) // so the recompute names its referrals
	const n = 20000
	events := make([]event.Event, n)
	referrals := make([]string, n)
	for i := range events {
		referrals[i] = fmt.Sprintf("urn:uuid:%031d", i)
		events[i] = event.Event{ID: fmt.Sprintf("e%d", i), Source: "epic/test", Type: event.ReferralCreated,
			Time: ts("2026-01-01 00:00:00").Add(time.Duration(i) * time.Minute), Subject: referrals[i],
			Data: event.Data{ServiceLine: "cardiology", LocationID: "loc-1", ReferrerID: "npi-1", ReferrerType: "primary_care",
				ReferrerNetwork: "in", DestinationNetwork: "in", PayerClass: "commercial", Priority: "routine", Channel: "fax",
				PatientToken: fmt.Sprintf("P%d", i%7)}}
	}
	ch.Load(t, events)
	exec := chclient.Native{Conn: ch.Conn}
	// statements runs the recompute under max_query_size size (0: the
	// default) and counts its statements once want of them are logged (a
	// query's log entry can come after its result).
	statements := func(size, want int) int {
		id := fmt.Sprintf("%s-size-%d", ch.Database, size)
		ctx := context.Background()
		if size > 0 {
			ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_query_size": size}))
		}
		if err := schema.RefreshPatientOrder(ctx, &numberedStatements{Executor: exec, prefix: id}, ch.Database, referrals, size); err != nil {
			t.Fatalf("max_query_size %d: %v", size, err)
		}
		got := 0
		testenv.Eventually(t, time.Minute, func() bool {
			if err := ch.Conn.Exec(context.Background(), "SYSTEM FLUSH LOGS"); err != nil {
				t.Fatal(err)
			}
			rows, err := exec.Query(context.Background(), "SELECT toString(count()) FROM system.query_log WHERE type = 2 AND query_id LIKE '"+id+"-%' AND query LIKE 'INSERT%'")
			if err != nil {
				t.Fatal(err)
			}
			got, _ = strconv.Atoi(rows[0][0])
			return got >= want
		}, func() string { return fmt.Sprintf("%d statements logged, want %d", got, want) })
		return got
	}
	// 245,760 bytes of ids per statement, 44 per id (quoted, with ", "): 5,585 ids.
	if got := statements(0, 4); got != 4 {
		t.Errorf("under the default max_query_size: %d statements, want 4 (880 KB of ids)", got)
	}
	if got := statements(2<<20, 1); got != 1 {
		t.Errorf("under max_query_size 2 MiB: %d statements, want 1", got)
	}
	// Patient 3's referrals are 3, 10, 17, ...: each one's previous is 7 minutes before.
	got, err := exec.Query(context.Background(), "SELECT toString(countIf(prev != 0)), toString(countIf(prev != 0 AND prev != "+
		"toDateTime('2026-01-01 00:00:00', 'UTC') + (toUInt32(substring(referral_id, 10)) - 7) * 60)) FROM "+
		"(SELECT referral_id, argMax(prev_patient_referral_created_at, version) AS prev FROM "+ch.Database+".referral_patient_order "+
		"WHERE referral_id NOT LIKE 'X-%' GROUP BY referral_id)")
	if err != nil || len(got) != 1 || got[0][0] != strconv.Itoa(n-7) || got[0][1] != "0" {
		t.Errorf("[referrals with a previous one, of them not 7 minutes before]: %v, %v; want [%d 0]", got, err, n-7)
	}
}

// TestRefreshPatientOrderCommaInID: referral ids go to the server as one
// comma-joined string; an id with a comma (none passes the decoder, which
// holds subjects to the identifier rule) still gets its patient's order,
// through an array of literals.
func TestRefreshPatientOrderCommaInID(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		insertOtherPatients(t, e.Exec, db, 10) // so the recompute names its referrals
		batch := []row{
			ev("e1", "referral.created", "2026-01-01 09:00:00", "R,1", func(r *row) { r.PatientToken = "P" }),
			ev("e2", "referral.created", "2026-01-02 09:00:00", "R-2", func(r *row) { r.PatientToken = "Q" }),
			ev("e3", "referral.created", "2026-01-03 09:00:00", "R,3", func(r *row) { r.PatientToken = "P" }),
		}
		e.Insert(t, db, batch) // recomputes like the writer
		got, err := e.Query(context.Background(), "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+
			db+".referral_patient_order WHERE referral_id LIKE 'R%' GROUP BY referral_id ORDER BY referral_id")
		want := [][]string{{"R,1", "0"}, {"R,3", unix("2026-01-01 09:00:00")}, {"R-2", "0"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("order rows %v, %v; want %v", got, err, want)
		}
	})
}

// TestRefreshPatientOrderEveryPatient: a recompute whose referrals are half
// the rows of patient_referrals or more (a backlog held into a short
// history) recomputes every patient without naming its referrals, each
// order complete: a referral it does not name gets its row too.
func TestRefreshPatientOrderEveryPatient(t *testing.T) {
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		ctx := context.Background()
		db := e.Migrated(t)
		tok := func(s string) func(*row) { return func(r *row) { r.PatientToken = s } }
		e.Insert(t, db, []row{
			ev("e1", "referral.created", "2026-01-10 09:00:00", "R-1", tok("P")),
			ev("e2", "referral.created", "2026-01-08 09:00:00", "R-2", tok("P")),
			ev("e3", "referral.created", "2026-01-09 09:00:00", "R-3", tok("Q")),
		})
		if err := e.Exec(ctx, "TRUNCATE TABLE "+db+".referral_patient_order"); err != nil {
			t.Fatal(err)
		}
		if err := schema.RefreshPatientOrder(ctx, e.NewExecutor(t), db, []string{"R-1", "R-2"}, 0); err != nil {
			t.Fatal(err)
		}
		got, err := e.Query(ctx, "SELECT referral_id, toString(toInt64(argMax(prev_patient_referral_created_at, version))) FROM "+db+
			".referral_patient_order GROUP BY referral_id ORDER BY referral_id")
		want := [][]string{{"R-1", unix("2026-01-08 09:00:00")}, {"R-2", "0"}, {"R-3", "0"}}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("order rows %v, %v; want %v (R-3's too: every patient recomputed)", got, err, want)
		}
	})
}

// insertOtherPatients adds n other patients' referrals (X-0, X-1, ...), one
// each, to the patient_referrals of db, as its view writes them.
func insertOtherPatients(t *testing.T, exec func(context.Context, string) error, db string, n int) {
	t.Helper()
	if err := exec(context.Background(), "INSERT INTO "+schema.PHIDatabase(db)+".patient_referrals SELECT concat('T-', toString(cityHash64(number))) AS token, "+
		"concat('X-', toString(number)) AS rid, minState(toDateTime('2025-01-01 00:00:00', 'UTC')) FROM numbers("+
		strconv.Itoa(n)+") GROUP BY token, rid"); err != nil {
		t.Fatal(err)
	}
}

// numberedStatements gives each statement through it its own query id,
// prefix-N: one id for several statements fails now and then on 18.16 ("is
// already running"), which unregisters a query a moment after its client has
// its result.
type numberedStatements struct {
	chclient.Executor
	prefix string
	n      atomic.Int64
}

func (x *numberedStatements) ctx(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithQueryID(fmt.Sprintf("%s-%d", x.prefix, x.n.Add(1))))
}

func (x *numberedStatements) Exec(ctx context.Context, statement string) error {
	return x.Executor.Exec(x.ctx(ctx), statement)
}

func (x *numberedStatements) Query(ctx context.Context, query string) ([][]string, error) {
	return x.Executor.Query(x.ctx(ctx), query)
}

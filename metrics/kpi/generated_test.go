package kpi_test

import (
	"cmp"
	"context"
	"maps"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/ingest/event"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics/kpi"
)

// TestGeneratedAgainstReference: on 14 months of generated referrals with
// duplicates, out-of-order and late deliveries, `referralops kpi --format json`
// on the ClickHouse 18.16 server agrees field for field with the reference
// implementation at several as-of times, for both default windows; the KPI SQL
// on chDB gives the same JSON, and the same whole snapshot (histograms,
// referrers by type, every breakdown) as the server.
func TestGeneratedAgainstReference(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into two engines")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 7
	cfg.Referrals = 20_000
	cfg.Days = 420 // > 365 + 90: every referrer activity state occurs
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.05
	cfg.Shuffle = true
	step := testenv.Stopwatch(t)
	events := testenv.GenerateEvents(t, cfg)
	step("generated " + strconv.Itoa(len(events)) + " messages (with duplicates)")

	asOfs := []time.Time{
		cfg.End,
		time.Date(2026, 2, 14, 13, 37, 11, 0, time.UTC), // any second, mid-week
		time.Date(2025, 9, 30, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), // 60 days in: little history
		cfg.End.Add(15 * 24 * time.Hour),            // after the last event
	}
	windows := kpi.DefaultWindows()
	want := map[time.Time][]map[string]any{}
	for _, asOf := range asOfs {
		for _, w := range windows {
			want[asOf] = append(want[asOf], referenceKPIs(events, asOf, w.Duration(), w.String()))
		}
	}
	exercised(t, want[cfg.End][0])
	step("reference")

	server := testenv.Server(t)
	serverDB := server.Migrated(t)
	server.Load(t, serverDB, events)
	step("loaded into " + server.Name)
	chdb := testenv.ChDB(t)
	chdbDB := chdb.Migrated(t)
	chdb.Load(t, chdbDB, events)
	step("loaded into " + chdb.Name)
	dsn := server.DSN(serverDB)

	// The table for people, and a bad flag refused before anything runs.
	table, err := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--as-of",
		cfg.End.Format(time.RFC3339), "--window", "30d").Output()
	if err != nil || !strings.Contains(string(table), "window 30d") || !strings.Contains(string(table), "\ntotal ") {
		t.Errorf("referralops kpi (table): %v\n%s", err, table)
	}
	bad := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--window", "0d")
	if out, err := bad.CombinedOutput(); bad.ProcessState == nil || bad.ProcessState.ExitCode() != 2 {
		t.Errorf("referralops kpi --window 0d: %v, want exit code 2\n%s", err, out)
	}
	step("ran referralops kpi")

	all := []kpi.Breakdown{{kpi.Location}, {kpi.ReferrerType}, {kpi.ReferrerNetwork}, {kpi.PayerClass},
		{kpi.Priority}, {kpi.ServiceLine, kpi.Location}}
	for _, asOf := range asOfs {
		stamp := asOf.Format(time.RFC3339)
		out, err := exec.Command(testenv.Binary(t), "kpi", "--clickhouse-dsn", dsn, "--as-of", stamp,
			"--format", "json").Output()
		if err != nil {
			t.Fatalf("referralops kpi --as-of %s: %v", stamp, err)
		}
		compareJSON(t, "referralops kpi (server) vs reference as of "+stamp, decodeJSON(t, out), want[asOf])

		req := kpi.Request{DB: chdbDB, AsOf: asOf, Breakdowns: all, Attention: true}
		fromChDB, err := req.Evaluate(context.Background(), chdb)
		if err != nil {
			t.Fatal(err)
		}
		compareJSON(t, "chDB vs reference as of "+stamp, snapshotJSON(t, fromChDB), want[asOf])
		req.DB = serverDB
		fromServer, err := req.Evaluate(context.Background(), server)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fromServer, fromChDB) {
			t.Errorf("as of %s the snapshots with every breakdown differ between %s and %s", stamp, server.Name, chdb.Name)
			compareJSON(t, "server vs chDB snapshot", fromServer, fromChDB)
		}
		step("compared as of " + stamp)
	}
}

// exercised fails the test if the dataset leaves a KPI untested: every one is
// non-zero in the reference's totals, and every referrer state occurs.
func exercised(t *testing.T, w map[string]any) {
	t.Helper()
	totals := w["totals"].(map[string]any)
	for k, v := range totals {
		if v == nil || v == int64(0) {
			t.Errorf("the dataset leaves %s empty as of %s", k, w["as_of"])
		}
	}
	for k, n := range totals["backlog"].(map[string]any) {
		if n == int64(0) {
			t.Errorf("the dataset has no backlog aged %s", k)
		}
	}
	for k, n := range w["referrers"].(map[string]any) {
		if n == int64(0) {
			t.Errorf("the dataset has no %s referrer", k)
		}
	}
}

// TestGeneratedAgainstReferenceIDFormats: the KPIs stay exact when referral
// ids do not sort by creation time (FHIR-like UUIDs, scattered EHR numbers),
// on both engines. The lookups by creation time then read the KPI state
// (migration 0018): it is exact with a pass over the first half of the
// events only (the rest read from the facts, as touched since) and with one
// over all of them.
func TestGeneratedAgainstReferenceIDFormats(t *testing.T) {
	if testing.Short() {
		t.Skip("loads generated datasets into two engines")
	}
	server, chdb := testenv.Server(t), testenv.ChDB(t)
	// Sequential ids read the state only when told to (--kpi-state always).
	for format, use := range map[generator.IDFormat]kpi.StateUse{generator.IDRandom: kpi.StateAuto, generator.IDEHR: "", generator.IDSequential: kpi.StateAlways} {
		t.Run(string(format), func(t *testing.T) {
			cfg := generator.DefaultConfig()
			cfg.Seed = 11
			cfg.Referrals = 3000
			// three years: every lookup by creation time is sparse, and
			// reads the state
			cfg.Days = 1100
			cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
			cfg.DuplicateRatio = 0.05
			cfg.Shuffle = true
			cfg.IDFormat = format
			events := testenv.GenerateEvents(t, cfg)
			serverDB, chdbDB := server.Migrated(t), chdb.Migrated(t)
			half := len(events) / 2
			for _, e := range []struct {
				engine *testenv.Engine
				db     string
			}{{server, serverDB}, {chdb, chdbDB}} {
				e.engine.Load(t, e.db, events[:half])
				e.engine.PassKPIState(t, e.db)
				e.engine.Load(t, e.db, events[half:])
			}
			for i, asOf := range []time.Time{cfg.End, time.Date(2026, 2, 14, 13, 37, 11, 0, time.UTC), cfg.End} {
				if i == 2 {
					server.PassKPIState(t, serverDB)
					chdb.PassKPIState(t, chdbDB)
				}
				var want []map[string]any
				for _, w := range kpi.DefaultWindows() {
					want = append(want, referenceKPIs(events, asOf, w.Duration(), w.String()))
				}
				for _, e := range []struct {
					engine *testenv.Engine
					db     string
				}{{server, serverDB}, {chdb, chdbDB}} {
					req := kpi.Request{DB: e.db, AsOf: asOf, Attention: true, State: use}
					got, err := req.Evaluate(context.Background(), e.engine)
					if err != nil {
						t.Fatal(err)
					}
					compareJSON(t, e.engine.Name+" vs reference as of "+asOf.Format(time.RFC3339), snapshotJSON(t, got), want)
				}
			}
		})
	}
}

// TestCMS50StateOrderRewritten: a referral whose patient's earlier referral
// arrives after a KPI state pass gets a new previous-referral time from the
// writer's recompute of the patient order, though none of its own events is
// new. The view on the order (migration 0019) logs it as touched, so the
// CMS50-style query reads its rewritten row until the next pass; without it
// the state's stale row would count both referrals as the patient's first.
func TestCMS50StateOrderRewritten(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a generated dataset into two engines")
	}
	cfg := generator.DefaultConfig()
	cfg.Seed = 12
	cfg.Referrals = 600
	cfg.Days = 60
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.IDFormat = generator.IDRandom
	events := testenv.GenerateEvents(t, cfg)
	// A patient's two referrals created in the last 30 days: the earlier one
	// (first) arrives after the pass.
	type created struct {
		at time.Time
		id string
	}
	byPatient := map[string][]created{}
	for _, e := range events {
		if e.Type == event.ReferralCreated && e.Data.PatientToken != "" && e.Time.After(cfg.End.AddDate(0, 0, -30)) && !e.Time.After(cfg.End) {
			byPatient[e.Data.PatientToken] = append(byPatient[e.Data.PatientToken], created{e.Time, e.Subject})
		}
	}
	first := ""
	for _, token := range slices.Sorted(maps.Keys(byPatient)) {
		if c := byPatient[token]; len(c) >= 2 {
			slices.SortFunc(c, func(a, b created) int { return cmp.Or(a.at.Compare(b.at), strings.Compare(a.id, b.id)) })
			first = c[0].id
			break
		}
	}
	if first == "" {
		t.Fatal("the dataset has no patient with two referrals in the last 30 days")
	}
	var before, after []event.Event
	for _, e := range events {
		if e.Subject == first {
			after = append(after, e)
		} else {
			before = append(before, e)
		}
	}
	var want []map[string]any
	for _, w := range kpi.DefaultWindows() {
		want = append(want, referenceKPIs(events, cfg.End, w.Duration(), w.String()))
	}
	testenv.OnEngines(t, func(t *testing.T, e *testenv.Engine) {
		db := e.Migrated(t)
		e.Load(t, db, before)
		e.PassKPIState(t, db)
		e.Load(t, db, after)
		got, err := kpi.Request{DB: db, AsOf: cfg.End, Attention: true, State: kpi.StateAlways}.Evaluate(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		compareJSON(t, e.Name+" vs reference, the first referral after the pass", snapshotJSON(t, got), want)
	})
}

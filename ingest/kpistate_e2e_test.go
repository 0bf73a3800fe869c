package ingest_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
)

// TestIngestKeepsKPIState: an ingester with --kpi-state-interval brings the
// per-referral KPI state (migration 0018) to the facts of every referral it
// stored: the states merged per referral in each *_by_created table equal
// the facts', and its metrics say how far the passes got. Once a pass fails
// (a state table is gone), it is counted and logged and covered_to stays.
func TestIngestKeepsKPIState(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	kc := testenv.Topics(t, testenv.KafkaBrokers(t))
	ch := testenv.ClickHouse(t)
	d, _ := collect(t, kc, e2eConfig(3000, 1, 30))
	d.produce(t, kc, nil)
	group := testenv.UniqueName("g")
	p, base := ingester(t, kc, ch.DSN, group, "--kpi-state-interval", "300ms", "--kpi-state-margin", "1s")
	testenv.WaitCommitted(t, kc, group, 3*time.Minute)

	q := ch.Querier()
	ctx := context.Background()
	one := func(sql string) string {
		t.Helper()
		rows, err := q.Query(ctx, sql)
		if err != nil || len(rows) != 1 || len(rows[0]) != 1 {
			t.Fatalf("%s: %v %v", sql, rows, err)
		}
		return rows[0][0]
	}
	latest, _ := strconv.ParseFloat(one("SELECT toString(toInt64(max(touched_at))) FROM "+ch.Database+".kpi_touched"), 64)
	covered := func() float64 {
		m, err := testenv.TryScrape(base + "/metrics")
		if err != nil {
			return 0
		}
		return m.Value(t, "referralops_ingest_kpi_state_covered_timestamp_seconds")
	}
	testenv.Eventually(t, time.Minute, func() bool { return covered() >= latest },
		func() string {
			return fmt.Sprintf("the KPI state covers %v, not yet the last touch %v", covered(), latest)
		})

	testenv.CheckKPIState(t, q, ch.Database)
	m := testenv.Scrape(t, base+"/metrics")
	if n := m.Value(t, "referralops_ingest_kpi_state_passes_total", "outcome", "passed"); n < 1 {
		t.Errorf("passes passed = %v, want some", n)
	}
	touched, _ := strconv.ParseFloat(one("SELECT toString(uniqExact(referral_id)) FROM "+ch.Database+".kpi_touched"), 64)
	if n := m.Value(t, "referralops_ingest_kpi_state_referrals_total"); n < touched {
		t.Errorf("referrals passed = %v, want at least the %v touched", n, touched)
	}

	// A pass that fails: counted, logged, and the state's mark stays.
	if err := ch.Conn.Exec(ctx, "DROP TABLE "+ch.Database+".referral_stages_by_created"); err != nil {
		t.Fatal(err)
	}
	marks := one("SELECT toString(toInt64(max(covered_to))) FROM " + ch.Database + ".kpi_state_passes")
	failed := func() float64 {
		m, err := testenv.TryScrape(base + "/metrics")
		if err != nil {
			return 0
		}
		return m.Value(t, "referralops_ingest_kpi_state_passes_total", "outcome", "failed")
	}
	d2, _ := collect(t, kc, e2eConfig(50, 2, 30))
	d2.produce(t, kc, nil)
	testenv.Eventually(t, time.Minute, func() bool { return failed() >= 1 },
		func() string { return "no failed KPI state pass counted after a state table was dropped" })
	// Passes over no touch may still move the mark, never one past a touch
	// of the referrals stored since.
	if n := one("SELECT toString(count()) FROM " + ch.Database + ".kpi_touched WHERE touched_at > toDateTime(" + marks +
		", 'UTC') AND touched_at <= (SELECT max(covered_to) FROM " + ch.Database + ".kpi_state_passes)"); n != "0" {
		t.Errorf("the KPI state is marked covered over %s touches since the table was dropped", n)
	}
	p.Stop(30 * time.Second)
	if !strings.Contains(p.Output(), "KPI state pass failed") {
		t.Errorf("the failed pass is not in the log:\n%s", p.Output())
	}
}

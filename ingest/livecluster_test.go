package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/referralops/referralops/dashboards"
	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/metrics"
	"github.com/referralops/referralops/metrics/selfmetrics"
	"github.com/referralops/referralops/schema"
)

// The TestLiveCluster tests run on the local distributed stack of `make
// cluster-up`: four ClickHouse 18.16 servers (2 shards x 2 replicas, the
// replicated schema of `migrate --cluster`, ZooKeeper) and three Kafka brokers
// (replication factor 3, min.insync.replicas 2). The fault tests stop one
// server between the two halves of a stream and require exact sets.

// liveRun is one generated network streamed into a database on the cluster by
// two ingesters in one group, each writing through a server of its own shard.
type liveRun struct {
	lc       *testenv.LiveCluster
	db       *testenv.ClusterDB
	kc       broker.Config
	group    string
	halves   [2]*dataset
	produced map[string]bool // valid event ids produced so far
	bases    []string        // the ingesters' HTTP bases
}

func newLiveRun(t *testing.T, referrals int, seed int64) *liveRun {
	t.Helper()
	lc := testenv.Cluster(t)
	r := &liveRun{lc: lc, db: lc.Database(t), kc: lc.Topics(t), group: testenv.UniqueName("g-cluster-"), produced: map[string]bool{}}
	all, _ := collect(t, r.kc, e2eConfig(referrals, seed, 120))
	// Halves by position: the shuffled stream is cut mid-way, so referrals span
	// the fault, as they would in a real outage.
	n := len(all.messages) / 2
	for i, msgs := range [][]generator.Message{all.messages[:n], all.messages[n:]} {
		h := &dataset{cfg: all.cfg, messages: msgs, validIDs: map[string]bool{}}
		for _, m := range msgs {
			if m.Invalid == "" {
				h.validIDs[m.EventID] = true
			}
		}
		r.halves[i] = h
	}
	// The first replica of each shard, as docs/scaling.md has writers
	// deployed: each ingester's Distributed INSERT sends the other shard's
	// rows away synchronously, and every INSERT and patient-order recompute
	// meet on the same replicas (load_balancing in_order). Writers on other
	// replicas can miss each other's referral of one patient within the
	// replication lag (seen once in three runs with shard 2's second).
	for _, dsn := range []string{r.db.ServerDSNs[0], r.db.ServerDSNs[2]} {
		p, base := ingester(t, r.kc, dsn, r.group, "--patient-order-recheck=2s", "--kpi-state-interval=1s", "--kpi-state-margin=2s")
		testenv.WaitReady(t, p, base, "cluster ingester")
		r.bases = append(r.bases, base)
	}
	return r
}

// produce writes half i to the cluster's topics.
func (r *liveRun) produce(t *testing.T, i int) {
	t.Helper()
	r.halves[i].produce(t, r.kc, nil)
	for id := range r.halves[i].validIDs {
		r.produced[id] = true
	}
}

// settle waits until the group has committed everything produced, then
// requires exactly the produced valid events to be stored and the replicas of
// each shard to agree.
func (r *liveRun) settle(t *testing.T) {
	t.Helper()
	testenv.WaitCommitted(t, r.kc, r.group, 3*time.Minute)
	// Committed offsets imply rows stored on a replica of their shard (the
	// INSERTs were synchronous); a read may be served by the other replica,
	// so replication catches up first.
	checkReplicas(t, r.lc, r.db)
	checkStored(t, &r.db.ClickHouseDB, r.produced)
}

// awaitKPIState waits until an ingester's KPI state pass covers the latest
// touch of every shard, and the state holds rows.
func (r *liveRun) awaitKPIState(t *testing.T) {
	t.Helper()
	q := r.db.Querier()
	rows, err := q.Query(context.Background(), "SELECT toString(toInt64(max(touched_at))) FROM "+r.db.Database+".kpi_touched")
	if err != nil || len(rows) != 1 {
		t.Fatalf("the latest touch: %v %v", rows, err)
	}
	latest, _ := strconv.ParseFloat(rows[0][0], 64)
	covered := func() float64 {
		best := 0.0
		for _, base := range r.bases {
			if m, err := testenv.TryScrape(base + "/metrics"); err == nil {
				best = max(best, m.Value(t, "referralops_ingest_kpi_state_covered_timestamp_seconds"))
			}
		}
		return best
	}
	testenv.Eventually(t, time.Minute, func() bool { return covered() >= latest },
		func() string {
			return fmt.Sprintf("the KPI state covers %v, not the latest touch %v", covered(), latest)
		})
	rows, err = q.Query(context.Background(), "SELECT toString(count()) FROM "+r.db.Database+".referral_facts_by_created")
	if err != nil || len(rows) != 1 || rows[0][0] == "0" {
		t.Fatalf("the cluster's KPI state has no rows: %v %v", rows, err)
	}
}

// TestLiveClusterSameAsOneServer ingests one generated network into the
// cluster and into the single server, and requires the same distinct event
// ids and the same `referralops kpi --format json` at several as-of times for
// both windows.
func TestLiveClusterSameAsOneServer(t *testing.T) {
	r := newLiveRun(t, 1500, 16)
	single := testenv.ClickHouse(t)
	singleGroup := testenv.UniqueName("g-single-")
	p, base := ingester(t, r.kc, single.DSN, singleGroup)
	testenv.WaitReady(t, p, base, "single-server ingester")

	r.produce(t, 0)
	r.produce(t, 1)
	r.settle(t)
	testenv.WaitCommitted(t, r.kc, singleGroup, 3*time.Minute)
	checkStored(t, single, r.produced)

	checkPanelsAndViews(t, r.lc.ClickHouse[2], r.db, single)
	// The exporter runs unchanged on the cluster: ready, with the KPIs of the
	// 365-day backlog and the referrer states (the data ends months before now).
	_, exporter := testenv.StartExport(t, "", []string{"REFERRALOPS_CLICKHOUSE_DSN=" + r.db.ServerDSNs[2]})
	m := testenv.Scrape(t, exporter+"/metrics")
	if m.Sum(metrics.Referrers.Name) == 0 || m.Sum(metrics.UnscheduledBacklogReferrals.Name) == 0 {
		t.Errorf("the exporter on the cluster serves no referrers (%v) or backlog (%v)", m.Sum(metrics.Referrers.Name), m.Sum(metrics.UnscheduledBacklogReferrals.Name))
	}

	// The ingesters' KPI state passes over every shard (migration 0018), read
	// by the lookups by creation time with --kpi-state always.
	r.awaitKPIState(t)
	for _, asOf := range []string{"2026-01-15T00:00:00Z", "2026-03-01T12:00:00Z", "2026-03-31T00:00:00Z"} {
		want := kpiJSON(t, single.DSN, asOf)
		// Through a server of each shard: the Distributed tables see everything.
		for _, dsn := range []string{r.db.ServerDSNs[0], r.db.ServerDSNs[2]} {
			if got := kpiJSON(t, dsn, asOf); got != want {
				t.Errorf("kpi as of %s differs on the cluster (%s):\ncluster %s\nsingle  %s", asOf, dsn, got, want)
			}
			if got := kpiJSON(t, dsn, asOf, "--kpi-state", "always"); got != want {
				t.Errorf("kpi --kpi-state always as of %s differs on the cluster (%s):\ncluster %s\nsingle  %s", asOf, dsn, got, want)
			}
		}
	}
}

// TestLiveClusterReplicaKilled: a replica of shard 1 is SIGKILLed between the
// halves, the second half is ingested while it is down (the Distributed
// INSERTs write shard 1's rows to the other replica), then it is restarted and
// catches up.
func TestLiveClusterReplicaKilled(t *testing.T) {
	r := newLiveRun(t, 1200, 17)
	r.produce(t, 0)
	r.settle(t)

	r.lc.KillClickHouse(t, 1) // s1r2: no ingester writes through it
	r.produce(t, 1)
	testenv.WaitCommitted(t, r.kc, r.group, 3*time.Minute)
	// Shard 1 is served by its surviving replica alone now.
	checkStored(t, &r.db.ClickHouseDB, r.produced)

	r.lc.Up(t)
	r.settle(t) // SYSTEM SYNC REPLICA: the restarted replica fetched what it missed
}

// TestLiveClusterLeaderBrokerKilled: the broker leading the most partitions of
// the input topics is SIGKILLed mid-stream and restarted: nothing is lost and
// the facts hold nothing extra.
func TestLiveClusterLeaderBrokerKilled(t *testing.T) {
	r := newLiveRun(t, 1200, 18)
	r.produce(t, 0)
	r.settle(t)

	leader := busiestLeader(t, r.kc)
	r.lc.KillKafka(t, leader)
	r.produce(t, 1) // acks=all with two of three replicas in sync
	r.lc.Up(t)
	r.settle(t)

	// Nothing extra in the facts: one row per referral that has events.
	referrals := map[string]bool{}
	for _, h := range r.halves {
		for _, m := range h.messages {
			if m.Invalid == "" {
				referrals[string(m.Key)] = true
			}
		}
	}
	rows, err := testenv.ServerAt(t, r.lc.ClickHouse[0]).Query(context.Background(),
		"SELECT uniqExact(referral_id), count() FROM (SELECT referral_id FROM "+r.db.Database+".referral_facts GROUP BY referral_id)")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(len(referrals)); rows[0][0] != want || rows[0][1] != want {
		t.Fatalf("referral_facts: %s referrals in %s groups, want %s", rows[0][0], rows[0][1], want)
	}
}

// TestLiveClusterZooKeeperDown: with ZooKeeper stopped, the replicated tables
// refuse inserts; the ingesters stop committing, are not ready and say why,
// and recover by themselves once ZooKeeper is back, with exact sets.
func TestLiveClusterZooKeeperDown(t *testing.T) {
	r := newLiveRun(t, 1200, 19)
	r.produce(t, 0)
	r.settle(t)

	r.lc.StopZooKeeper(t)
	r.produce(t, 1)
	for _, base := range r.bases {
		testenv.Eventually(t, 2*time.Minute, func() bool {
			code, body := readyz(base)
			// It names where: the exception code and the shard and replica.
			return code == http.StatusServiceUnavailable &&
				strings.Contains(body, "ClickHouse refuses inserts: ClickHouse exception code ") && strings.Contains(body, " on shard ")
		}, func() string {
			code, body := readyz(base)
			return fmt.Sprintf("ingester %s stayed ready with ZooKeeper down: %d %s", base, code, body)
		})
	}
	for _, base := range r.bases {
		if n := testenv.Scrape(t, base+"/metrics").Sum(selfmetrics.IngestInsertErrors.Name); n == 0 {
			t.Errorf("ingester %s counted no insert errors with ZooKeeper down", base)
		}
	}
	lag, err := broker.GroupLag(context.Background(), r.kc, r.group, r.kc.Topics.Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	if broker.TotalLag(lag) == 0 {
		t.Fatal("the group committed the second half although ZooKeeper is down")
	}

	r.lc.Up(t)
	r.settle(t)
	for _, base := range r.bases {
		testenv.Eventually(t, time.Minute, func() bool { code, _ := readyz(base); return code == http.StatusOK },
			func() string { code, body := readyz(base); return fmt.Sprintf("not ready again: %d %s", code, body) })
	}
}

// analystView matches the views a panel reads, by unqualified name (Grafana's
// datasource names the database).
var analystView = regexp.MustCompile(`\b(FROM|JOIN)\s+(v_\w+)`)

// checkPanelsAndViews runs every analyst view and every dashboard ClickHouse
// panel query on the cluster and on the single server: the same rows (the
// same count where a LIMIT may break ties either way).
func checkPanelsAndViews(t *testing.T, clusterAddr string, cluster *testenv.ClusterDB, single *testenv.ClickHouseDB) {
	t.Helper()
	ds, err := dashboards.Build(metrics.DefaultTargets())
	if err != nil {
		t.Fatal(err)
	}
	qs, err := dashboards.Queries(ds)
	if err != nil {
		t.Fatal(err)
	}
	to := time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	var sqls []string
	for _, q := range qs {
		if q.Kind != dashboards.KindClickHouse {
			continue
		}
		sql, err := dashboards.Substitute(q.Expr, dashboards.AllSelected)
		if err == nil {
			sql, err = dashboards.ExpandMacros(sql, to.Add(-120*24*time.Hour), to, time.Hour)
		}
		if err != nil {
			t.Fatalf("%s %q: %v", q.Dashboard, q.Panel, err)
		}
		sqls = append(sqls, sql)
	}
	if len(sqls) < 8 {
		t.Fatalf("%d ClickHouse panel queries, want the dashboards' worth", len(sqls))
	}
	for _, v := range []string{"v_referrals", "v_loops", "v_referrer_scorecard", "v_unscheduled_worklist", "v_referrer_attention"} {
		sqls = append(sqls, "SELECT * FROM "+v)
	}
	onCluster, onOne := testenv.ServerAt(t, clusterAddr), testenv.Server(t)
	for _, sql := range sqls {
		got := sortedRows(t, onCluster, analystView.ReplaceAllString(sql, "$1 "+cluster.Database+".$2"))
		want := sortedRows(t, onOne, analystView.ReplaceAllString(sql, "$1 "+single.Database+".$2"))
		if strings.Contains(sql, "LIMIT") {
			if len(got) != len(want) {
				t.Errorf("%d rows on the cluster, %d on one server:\n%s", len(got), len(want), sql)
			}
		} else if !slices.Equal(got, want) {
			t.Errorf("rows differ on the cluster (%d) and one server (%d):\n%s", len(got), len(want), sql)
		}
	}
}

// sortedRows runs sql and returns its rows as tab-joined lines, sorted.
func sortedRows(t *testing.T, e *testenv.Engine, sql string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := e.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strings.Join(r, "\t")
	}
	slices.Sort(out)
	return out
}

// busiestLeader is the node id leading the most partitions of kc's input topics.
func busiestLeader(t *testing.T, kc broker.Config) int {
	t.Helper()
	client := &kafka.Client{Addr: kafka.TCP(kc.Brokers...), Timeout: 10 * time.Second}
	meta, err := client.Metadata(context.Background(), &kafka.MetadataRequest{Topics: kc.Topics.Inputs()})
	if err != nil {
		t.Fatal(err)
	}
	led := map[int]int{}
	for _, tp := range meta.Topics {
		for _, p := range tp.Partitions {
			led[p.Leader.ID]++
		}
	}
	best := -1
	for id, n := range led {
		if best < 0 || n > led[best] || (n == led[best] && id < best) {
			best = id
		}
	}
	return best
}

// readyz returns /readyz's status and body.
func readyz(base string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkReplicas requires both shards to hold events and the two replicas of
// each shard to hold the same events once replication has caught up. Distinct
// event ids, not rows: each replica merges duplicates away on its own time.
func checkReplicas(t *testing.T, lc *testenv.LiveCluster, db *testenv.ClusterDB) {
	t.Helper()
	ctx := context.Background()
	counts := make([]uint64, len(lc.ClickHouse))
	for i, addr := range lc.ClickHouse {
		e := testenv.ServerAt(t, addr)
		// Every replicated table, not only events_local: a view's output and
		// the ingester's own inserts (referral_patient_order, after the
		// events) are parts of their own, fetched on their own time.
		tables, err := e.Query(ctx, "SELECT database, table FROM system.replicas WHERE database IN ('"+db.Database+"', '"+schema.PHIDatabase(db.Database)+"') ORDER BY database, table")
		if err != nil || len(tables) == 0 {
			t.Fatalf("%s: replicated tables of %s: %v (%d)", addr, db.Database, err, len(tables))
		}
		for _, tb := range tables {
			if err := e.Exec(ctx, "SYSTEM SYNC REPLICA "+tb[0]+"."+tb[1]); err != nil {
				t.Fatalf("%s: sync replica %s.%s: %v", addr, tb[0], tb[1], err)
			}
		}
		rows, err := e.Query(ctx, "SELECT uniqExact(event_id) FROM "+schema.PHIDatabase(db.Database)+".events_local")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if counts[i], err = strconv.ParseUint(rows[0][0], 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	if counts[0] == 0 || counts[2] == 0 || counts[0] != counts[1] || counts[2] != counts[3] {
		t.Fatalf("distinct events_local event ids by server s1r1, s1r2, s2r1, s2r2 = %v: want both shards non-empty and equal replicas", counts)
	}
}

// kpiJSON runs `referralops kpi --format json` for both windows and checks
// that it is JSON with referrals in it.
func kpiJSON(t *testing.T, dsn, asOf string, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), append([]string{"kpi", "--format", "json", "--as-of", asOf, "--window", "30d,90d"}, extra...)...)
	cmd.Env = append(cmd.Environ(), "REFERRALOPS_CLICKHOUSE_DSN="+dsn)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("referralops kpi as of %s on %s: %v", asOf, dsn, err)
	}
	var windows []struct {
		Totals struct {
			Referrals int64 `json:"referrals"`
		} `json:"totals"`
	}
	if err := json.Unmarshal(out, &windows); err != nil || len(windows) != 2 || windows[0].Totals.Referrals == 0 {
		t.Fatalf("referralops kpi as of %s on %s: want two windows with referrals, got %v: %s", asOf, dsn, err, out)
	}
	return string(out)
}

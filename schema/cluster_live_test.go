package schema_test

import (
	"context"
	"fmt"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// TestLiveClusterMigrateAltersPerShard: `referralops migrate --cluster` on the
// live cluster (4 ClickHouse 18.16 servers, 2 shards x 2 replicas) leaves every
// replica with the final columns of referral_facts_local, appointment_facts
// and patient_referrals (local and Distributed), and sends none of the
// ALTERs of replicated tables through the distributed DDL queue, where 18.16
// can run one on two replicas of a shard and stop a server's DDL worker
// (schema.ShardExecutor).
func TestLiveClusterMigrateAltersPerShard(t *testing.T) {
	lc := testenv.Cluster(t)
	db := lc.Database(t) // runs `referralops migrate --cluster`
	ctx := context.Background()
	for _, addr := range lc.ClickHouse {
		e := testenv.ServerAt(t, addr)
		rows, err := e.Query(ctx, "SELECT name FROM system.columns WHERE database = '"+db.Database+"' AND table = 'referral_facts_local' AND name IN ('created_event', 'dim_service_line', 'dim_patient_token', 'last_event_at') ORDER BY name")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if len(rows) != 1 || rows[0][0] != "created_event" {
			t.Errorf("%s: referral_facts_local has %q of created_event, dim_service_line, dim_patient_token, last_event_at; want only created_event (migrations 0009 and 0012)", addr, rows)
		}
		rows, err = e.Query(ctx, "SELECT concat(table, '.', name) FROM system.columns WHERE (database = '"+db.Database+"' AND table IN ('appointment_facts', 'appointment_facts_local')) OR "+
			"(database = '"+schema.PHIDatabase(db.Database)+"' AND table IN ('patient_referrals', 'patient_referrals_local')) ORDER BY table, name")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		want := [][]string{
			{"appointment_facts.appointment_id"}, {"appointment_facts.history_list"}, {"appointment_facts.referral_id"},
			{"appointment_facts_local.appointment_id"}, {"appointment_facts_local.history_list"}, {"appointment_facts_local.referral_id"},
			{"patient_referrals.first_created"}, {"patient_referrals.patient_token"}, {"patient_referrals.referral_id"},
			{"patient_referrals_local.first_created"}, {"patient_referrals_local.patient_token"}, {"patient_referrals_local.referral_id"},
		}
		if !reflect.DeepEqual(rows, want) {
			t.Errorf("%s: columns %v, want %v (migrations 0015 and 0016, the Distributed tables made again)", addr, rows, want)
		}
	}
	queued, err := db.Querier().Query(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl' AND (value LIKE '%query: ALTER TABLE "+
		db.Database+".%' OR value LIKE '%query: ALTER TABLE "+schema.PHIDatabase(db.Database)+".%')")
	if err != nil {
		t.Fatal(err)
	}
	if queued[0][0] != "0" {
		t.Errorf("%s ALTER statements of %s went through the distributed DDL queue; want 0 (one per shard, directly)", queued[0][0], db.Database)
	}
}

// TestLiveClusterPruneKPITouched: `referralops prune --cluster` on the live
// cluster drops the covered months of kpi_touched from every replica of both
// shards, directly on one replica per shard (replication does the other, as
// for migrate's ALTERs: none goes through the distributed DDL queue), and
// keeps the touches after the latest pass's covered_to.
func TestLiveClusterPruneKPITouched(t *testing.T) {
	lc := testenv.Cluster(t)
	db := lc.Database(t)
	ctx := context.Background()
	q := db.Querier()
	old := time.Now().UTC().AddDate(0, -3, 0).Unix()
	var values []string
	for i := range 40 { // referrals of both shards
		values = append(values, fmt.Sprintf("(toDateTime(%d, 'UTC'), 'R-prune-%d')", old+int64(i), i))
	}
	for _, stmt := range []string{
		"INSERT INTO " + db.Database + ".kpi_touched SELECT t.1, t.2 FROM (SELECT arrayJoin([" + strings.Join(values, ", ") + "]) AS t) SETTINGS insert_distributed_sync = 1",
		"INSERT INTO " + db.Database + ".kpi_touched SELECT now(), 'R-prune-new' SETTINGS insert_distributed_sync = 1",
		"INSERT INTO " + db.Database + ".kpi_state_passes (covered_to, passed_at, state_version) SELECT now() - 60, now(), " + strconv.Itoa(schema.KPIStateVersion) + " SETTINGS insert_distributed_sync = 1",
	} {
		if err := db.Conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// Each row on both replicas of its shard before the prune, which reads
	// through the Distributed tables (any replica): replication, polled.
	replicated := func(table string) int {
		n := 0
		for _, addr := range lc.ClickHouse {
			rows, err := testenv.ServerAt(t, addr).Query(ctx, "SELECT count() FROM "+db.Database+"."+table+schema.LocalSuffix)
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			c, _ := strconv.Atoi(rows[0][0])
			n += c
		}
		return n
	}
	for deadline := time.Now().Add(time.Minute); replicated("kpi_touched") != 2*41 || replicated("kpi_state_passes") != 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, %d rows of kpi_touched and %d of kpi_state_passes on the replicas; want 82 and 2", replicated("kpi_touched"), replicated("kpi_state_passes"))
		}
	}
	out, err := exec.CommandContext(ctx, testenv.Binary(t), "prune", "--cluster", lc.Name, "--clickhouse-dsn", db.DSN, "--keep", "1h").CombinedOutput()
	if err != nil {
		t.Fatalf("referralops prune --cluster %s: %v\n%s", lc.Name, err, out)
	}
	if !strings.Contains(string(out), "pruned kpi_touched") || !strings.Contains(string(out), `"rows":40`) {
		t.Errorf("referralops prune said %q; want pruned kpi_touched, rows 40", out)
	}
	for i, addr := range lc.ClickHouse {
		e := testenv.ServerAt(t, addr)
		var rows [][]string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) { // replication, polled
			rows, err = e.Query(ctx, "SELECT referral_id FROM "+db.Database+".kpi_touched_local ORDER BY referral_id")
			if err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
			if len(rows) <= 1 || time.Now().After(deadline) {
				break
			}
		}
		// R-prune-new lives on one shard: on its two replicas.
		if len(rows) > 1 || (len(rows) == 1 && rows[0][0] != "R-prune-new") {
			t.Errorf("%s (%s): kpi_touched_local holds %v after the prune; want at most R-prune-new", testenv.ClickHouseName(i), addr, rows)
		}
	}
	if n := replicated("kpi_touched"); n != 2 {
		t.Errorf("the replicas hold %d touches after the prune; want 2: R-prune-new, touched after the pass, on both replicas of its shard", n)
	}
	queued, err := q.Query(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl' AND value LIKE '%ALTER TABLE "+db.Database+".kpi_touched%'")
	if err != nil {
		t.Fatal(err)
	}
	if queued[0][0] != "0" {
		t.Errorf("%s DROP PARTITION statements went through the distributed DDL queue; want 0 (one per shard, directly)", queued[0][0])
	}
}

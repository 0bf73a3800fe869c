package schema_test

import (
	"context"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
)

// TestLiveClusterMigrateAltersPerShard: `referralops migrate --cluster` on the
// live cluster (4 ClickHouse 18.16 servers, 2 shards x 2 replicas) leaves every
// replica with referral_facts_local's final columns, and sends none of the
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
	}
	queued, err := db.Querier().Query(ctx, "SELECT count() FROM system.zookeeper WHERE path = '/clickhouse/task_queue/ddl' AND value LIKE '%query: ALTER TABLE "+db.Database+".%'")
	if err != nil {
		t.Fatal(err)
	}
	if queued[0][0] != "0" {
		t.Errorf("%s ALTER statements of %s went through the distributed DDL queue; want 0 (one per shard, directly)", queued[0][0], db.Database)
	}
}

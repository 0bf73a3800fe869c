package schema_test

import (
	"context"
	"reflect"
	"testing"

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

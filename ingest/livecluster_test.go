package ingest_test

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/generator"
	"github.com/referralops/referralops/internal/testenv"
)

// The TestLiveCluster tests run on the local distributed stack of `make
// cluster-up`: four ClickHouse 18.16 servers (2 shards x 2 replicas, the
// replicated schema of `migrate --cluster`) and three Kafka brokers.

// TestLiveClusterSameAsOneServer ingests one generated network into the
// cluster (two ingesters in one group, each writing through a server of a
// different shard) and into the single server, and requires the same
// distinct event ids and the same `referralops kpi --format json` at several
// as-of times for both windows.
func TestLiveClusterSameAsOneServer(t *testing.T) {
	lc := testenv.Cluster(t)
	cluster := lc.Database(t)
	single := testenv.ClickHouse(t)
	kc := lc.Topics(t)

	cfg := generator.DefaultConfig()
	cfg.Seed = 16
	cfg.Referrals = 1500
	cfg.Days = 120
	cfg.End = time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)
	cfg.DuplicateRatio = 0.05
	cfg.InvalidRatio = 0.01
	cfg.Shuffle = true
	cfg.MaxMessageBytes = maxMessageBytes
	d := &dataset{cfg: cfg, validIDs: map[string]bool{}, invalid: map[deadLetterKey]int{}}
	if _, err := generator.Generate(context.Background(), cfg, func(m generator.Message) error {
		d.messages = append(d.messages, m)
		if m.Invalid == "" {
			d.validIDs[m.EventID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d.produce(t, kc, nil)

	// Shard 1's first replica and shard 2's second: each ingester's Distributed
	// INSERT sends the other shard's rows away synchronously.
	clusterGroup, singleGroup := testenv.UniqueName("g-cluster-"), testenv.UniqueName("g-single-")
	for _, dsn := range []string{cluster.ServerDSNs[0], cluster.ServerDSNs[3]} {
		p, base := ingester(t, kc, dsn, clusterGroup)
		testenv.WaitReady(t, p, base, "cluster ingester")
	}
	p, base := ingester(t, kc, single.DSN, singleGroup)
	testenv.WaitReady(t, p, base, "single-server ingester")

	testenv.WaitCommitted(t, kc, clusterGroup, 3*time.Minute)
	testenv.WaitCommitted(t, kc, singleGroup, 3*time.Minute)
	// Committed offsets imply stored rows: the INSERTs were synchronous.
	checkStored(t, &cluster.ClickHouseDB, d.validIDs)
	checkStored(t, single, d.validIDs)
	checkReplicas(t, lc, cluster)

	for _, asOf := range []string{"2026-01-15T00:00:00Z", "2026-03-01T12:00:00Z", "2026-03-31T00:00:00Z"} {
		want := kpiJSON(t, single.DSN, asOf)
		if !strings.Contains(want, `"referrals":`) || strings.Contains(want, `"totals":{"referrals":0,`) {
			t.Fatalf("kpi as of %s on the single server has no referrals: %s", asOf, want)
		}
		// Through a server of each shard: the Distributed tables see everything.
		for _, dsn := range []string{cluster.ServerDSNs[0], cluster.ServerDSNs[2]} {
			if got := kpiJSON(t, dsn, asOf); got != want {
				t.Errorf("kpi as of %s differs on the cluster (%s):\ncluster %s\nsingle  %s", asOf, dsn, got, want)
			}
		}
	}
}

// checkReplicas requires both shards to hold rows and the two replicas of
// each shard to hold the same rows once replication has caught up.
func checkReplicas(t *testing.T, lc *testenv.LiveCluster, db *testenv.ClusterDB) {
	t.Helper()
	ctx := context.Background()
	counts := make([]uint64, len(lc.ClickHouse))
	for i, addr := range lc.ClickHouse {
		e := testenv.ServerAt(t, addr)
		if err := e.Exec(ctx, "SYSTEM SYNC REPLICA "+db.Database+".events_local"); err != nil {
			t.Fatalf("%s: sync replica: %v", addr, err)
		}
		rows, err := e.Query(ctx, "SELECT count() FROM "+db.Database+".events_local")
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if counts[i], err = strconv.ParseUint(rows[0][0], 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	if counts[0] == 0 || counts[2] == 0 || counts[0] != counts[1] || counts[2] != counts[3] {
		t.Fatalf("events_local rows by server s1r1, s1r2, s2r1, s2r2 = %v: want both shards non-empty and equal replicas", counts)
	}
}

// kpiJSON runs `referralops kpi --format json` for both windows.
func kpiJSON(t *testing.T, dsn, asOf string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(t), "kpi", "--format", "json", "--as-of", asOf, "--window", "30d,90d")
	cmd.Env = append(cmd.Environ(), "REFERRALOPS_CLICKHOUSE_DSN="+dsn)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("referralops kpi as of %s on %s: %v", asOf, dsn, err)
	}
	return string(out)
}

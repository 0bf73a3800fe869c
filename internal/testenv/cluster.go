package testenv

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
)

// LiveCluster is the local distributed stack of `make cluster-up`
// (deploy/local/cluster.sh): four ClickHouse 18.16 servers as 2 shards x 2
// replicas with ZooKeeper, and a three-broker Kafka KRaft cluster.
type LiveCluster struct {
	// Name is the ClickHouse cluster's name in remote_servers.
	Name string
	// ClickHouse holds the native addresses by shard and replica: s1r1, s1r2,
	// s2r1, s2r2.
	ClickHouse []string
	// Kafka is the three brokers' bootstrap addresses.
	Kafka []string
}

// The defaults of deploy/local/cluster.sh; REFERRALOPS_TEST_CLUSTER_CLICKHOUSE
// and REFERRALOPS_TEST_CLUSTER_KAFKA (comma-separated) point elsewhere.
const (
	defaultClusterName       = "referralops"
	defaultClusterClickHouse = "127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103,127.0.0.1:9104"
	defaultClusterKafka      = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
)

// Cluster is the live cluster; it skips the test (fails it under
// REFERRALOPS_REQUIRE_SERVERS=1) when any of its servers does not answer.
func Cluster(t testing.TB) *LiveCluster {
	t.Helper()
	c := &LiveCluster{
		Name:       envOr("REFERRALOPS_TEST_CLUSTER_NAME", defaultClusterName),
		ClickHouse: strings.Split(envOr("REFERRALOPS_TEST_CLUSTER_CLICKHOUSE", defaultClusterClickHouse), ","),
		Kafka:      strings.Split(envOr("REFERRALOPS_TEST_CLUSTER_KAFKA", defaultClusterKafka), ","),
	}
	for _, addr := range append(append([]string{}, c.ClickHouse...), c.Kafka...) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			missing(t, "live cluster server "+addr, "make cluster-up", err)
		}
		conn.Close()
	}
	return c
}

// Database creates a fresh database on every server of the cluster, migrates
// it with `referralops migrate --cluster` (the replicated schema), and drops
// it everywhere when the test ends. DSNs are per server; Conn reads through
// the first server, whose Distributed tables see every shard.
func (c *LiveCluster) Database(t testing.TB) *ClusterDB {
	t.Helper()
	first := server(t, c.ClickHouse[0])
	db := UniqueName("rc_")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := first.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db+" ON CLUSTER "+c.Name); err != nil {
		t.Fatalf("create database %s on cluster %s: %v", db, c.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := first.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+c.Name); err != nil {
			t.Logf("drop %s on cluster %s: %v", db, c.Name, err)
		}
	})
	out := &ClusterDB{ClickHouseDB: ClickHouseDB{DSN: first.DSN(db), Database: db, Conn: first.conn}}
	for _, addr := range c.ClickHouse {
		out.ServerDSNs = append(out.ServerDSNs, "clickhouse://"+addr+"/"+db)
	}
	mctx, mcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer mcancel()
	migrate := exec.CommandContext(mctx, Binary(t), "migrate", "--cluster", c.Name, "--clickhouse-dsn", out.DSN)
	if b, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("referralops migrate --cluster %s: %v\n%s", c.Name, err, b)
	}
	return out
}

// Topics creates a fresh set of input and dead-letter topics on the cluster's
// brokers, each partition on all three brokers, deleted when the test ends.
func (c *LiveCluster) Topics(t testing.TB) broker.Config {
	t.Helper()
	cfg := TopicNames(t, c.Kafka)
	if err := createTopics(context.Background(), c.Kafka, len(c.Kafka), append(cfg.Topics.Inputs(), cfg.Topics.DeadLetters)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ClusterDB is a migrated database on the live cluster.
type ClusterDB struct {
	ClickHouseDB
	// ServerDSNs names the database on each server, in LiveCluster.ClickHouse order.
	ServerDSNs []string
}

package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/referralops/referralops/internal/broker"
	"github.com/referralops/referralops/schema"
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
	c.lock(t)
	for _, addr := range append(append([]string{}, c.ClickHouse...), c.Kafka...) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			missing(t, "live cluster server "+addr, "make cluster-up", err)
		}
		conn.Close()
	}
	return c
}

// lock gives the test the cluster to itself until it ends: the fault tests
// kill servers, which another test process (another package, another
// checkout sharing the servers) must not see as its own failure.
func (c *LiveCluster) lock(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll(c.dataDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "test.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock the live cluster: %v", err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
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
		for _, name := range []string{schema.PHIDatabase(db), db} {
			if err := first.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" ON CLUSTER "+c.Name); err != nil {
				t.Logf("drop %s on cluster %s: %v", name, c.Name, err)
			}
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

// dataDir is where deploy/local/cluster.sh keeps the cluster's files.
func (c *LiveCluster) dataDir() string {
	return filepath.Join(envOr("REFERRALOPS_DATA_DIR", filepath.Join(RepoRoot(), ".data")), "cluster")
}

// ClickHouseName names server i (0-3) as cluster.sh does: s1r1, s1r2, s2r1, s2r2.
func ClickHouseName(i int) string { return fmt.Sprintf("s%dr%d", i/2+1, i%2+1) }

// KillClickHouse SIGKILLs ClickHouse server i (0-3) and waits until it is gone.
func (c *LiveCluster) KillClickHouse(t testing.TB, i int) {
	t.Helper()
	c.kill(t, filepath.Join(c.dataDir(), ClickHouseName(i), "clickhouse", "clickhouse-server.pid"), syscall.SIGKILL)
}

// KillKafka SIGKILLs the Kafka node with that node id (1-3) and waits until it
// is gone.
func (c *LiveCluster) KillKafka(t testing.TB, nodeID int) {
	t.Helper()
	c.kill(t, filepath.Join(c.dataDir(), fmt.Sprintf("kafka-%d", nodeID), "kafka.pid"), syscall.SIGKILL)
}

// StopZooKeeper stops ZooKeeper (SIGKILL: a crash, not a goodbye to its
// sessions) and waits until it is gone.
func (c *LiveCluster) StopZooKeeper(t testing.TB) {
	t.Helper()
	c.kill(t, filepath.Join(c.dataDir(), "zookeeper", "zookeeper.pid"), syscall.SIGKILL)
}

// Up starts whatever part of the cluster is not running (cluster.sh up) and
// waits until every server answers again. Every test that stops a server
// calls it, and a cleanup calls it again so a failed test leaves the cluster
// whole for the next.
func (c *LiveCluster) Up(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "deploy", "local", "cluster.sh"), "up")
	cmd.Env = append(os.Environ(), "REFERRALOPS_DATA_DIR="+filepath.Dir(c.dataDir()))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, tail(out, 4000))
	}
}

func (c *LiveCluster) kill(t testing.TB, pidFile string, sig syscall.Signal) {
	t.Helper()
	t.Cleanup(func() { c.Up(t) })
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the live cluster's pid file: %v (was it started with another REFERRALOPS_DATA_DIR?)", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("kill %d (%s): %v", pid, pidFile, err)
	}
	Eventually(t, time.Minute, func() bool { return !alive(pid) },
		func() string { return fmt.Sprintf("process %d (%s) still alive", pid, pidFile) })
}

// alive reports whether pid runs: a zombie (dead, not yet reaped by whoever
// inherited the daemon) does not.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may hold spaces.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

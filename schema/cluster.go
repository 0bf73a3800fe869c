package schema

import (
	"context"
	"fmt"
	"net"
	"strings"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"
)

// The replicated variant of the schema, for a ClickHouse cluster (Dialect.Cluster
// set; `referralops migrate --cluster NAME`). It is rendered from the same
// migrations as the single-node schema: the templates name tables through the
// templateData methods below, which return the single-node text unchanged when
// there is no cluster. docs/scaling.md is the operator's side of this.
//
// On a cluster every CREATE carries ON CLUSTER, and each table of the single-node
// schema becomes two:
//
//   - <table>_local, on every server: the rows of its shard, in the Replicated
//     form of the same engine, with the Keeper path
//     /clickhouse/tables/{shard}/<database>/<table>_local and replica '{replica}'
//     ({shard} and {replica} are each server's macros; the database is written
//     out, not left to the {database} macro, which old releases lack);
//   - <table>, a Distributed table over <table>_local, sharded by
//     cityHash64(referral id).
//
// The Distributed tables take the original names, so everything that reads or
// writes the schema runs unchanged: the ingester's INSERT INTO events, the KPI
// SQL, the analyst views and people's queries. Sharding every table by the
// referral id (the Kafka key, too) keeps all rows of one referral on one shard:
// each shard's materialized views (events_local → <facts>_local) see all of a
// referral's events, so its facts are exact there, and a KPI that counts
// referrals is the sum of the shards' counts. That co-location is what lets the
// KPI SQL's JOINs between referral_facts and kpi_index run shard by shard
// (distributed_product_mode = 'local', see docs/scaling.md). kpi_referrers
// holds one state per referrer per shard; reads merge them (minMerge over the
// Distributed table), so it is sharded by referrer.
//
// schema_migrations is replicated to every server (one Keeper path for the whole
// cluster), so whichever server `migrate` connects to sees every version.
//
// Backfills (INSERT INTO <table> SELECT ... FROM events) go through the
// Distributed tables, so each row reaches its referral's shard whichever server
// runs them; on servers that support it they run shard-locally
// (parallel_distributed_insert_select = 2). Their states are idempotent, so
// either way a repeated backfill changes nothing.

// LocalSuffix ends the name of the table that stores a shard's rows on a
// cluster; the unsuffixed name is the Distributed table over it.
const LocalSuffix = "_local"

// Keeper paths of the replicated tables: per shard, and for schema_migrations
// one path for the whole cluster. %s: database, table.
const (
	shardReplicaPath   = "/clickhouse/tables/{shard}/%s/%s"
	clusterReplicaPath = "/clickhouse/tables/all/%s/%s"
)

// Local is the table that stores the rows on each server: `db.table`, or
// `db.table_local` on a cluster.
func (t templateData) Local(table string) string {
	if t.Cluster == "" {
		return t.DB + "." + table
	}
	return t.DB + "." + table + LocalSuffix
}

// From is the table a SELECT reads: `db.table`, which on a cluster is the
// Distributed table, except in a materialized view's SELECT (OnShard), which
// must read the shard's local table: a view fires on inserts into its source.
// WithEventsInPHI's `events` is the PHI database's.
func (t templateData) From(table string) string {
	if table == "events" && t.eventsInPHI {
		t = t.PHI()
	}
	if t.onShard {
		return t.Local(table)
	}
	return t.DB + "." + table
}

// OnShard is the data for a materialized view's SELECT; see From.
func (t templateData) OnShard() templateData {
	t.onShard = true
	return t
}

// OnCluster is " ON CLUSTER name" on a cluster, else nothing.
func (t templateData) OnCluster() string {
	if t.Cluster == "" {
		return ""
	}
	return " ON CLUSTER " + t.Cluster
}

// Engine is the engine of table: engine(params...) on a single node (no
// parentheses without params), Replicated<engine>(path, replica, params...)
// on a cluster.
func (t templateData) Engine(table, engine string, params ...string) string {
	return t.engine(shardReplicaPath, "'{replica}'", table+LocalSuffix, engine, params)
}

// ClusterWideEngine is Engine for a table replicated to every server of the
// cluster (schema_migrations): one Keeper path, a replica per server.
func (t templateData) ClusterWideEngine(table, engine string, params ...string) string {
	return t.engine(clusterReplicaPath, "'{shard}-{replica}'", table, engine, params)
}

func (t templateData) engine(pathFormat, replica, table, engine string, params []string) string {
	if t.Cluster != "" {
		path := "'" + fmt.Sprintf(pathFormat, t.DB, table) + "'"
		engine = "Replicated" + engine
		params = append([]string{path, replica}, params...)
	}
	if len(params) == 0 {
		return engine
	}
	return engine + "(" + strings.Join(params, ", ") + ")"
}

// distributedTable is the data of sql/cluster.sql's "distributed" template.
type distributedTable struct {
	DB, Cluster, Table, Local, ShardingKey string
}

// Distributed describes the Distributed table `db.table` over table_local,
// sharded by shardingKey; sql/cluster.sql renders it on a cluster only.
func (t templateData) Distributed(table, shardingKey string) distributedTable {
	return distributedTable{DB: t.DB, Cluster: t.Cluster, Table: table, Local: table + LocalSuffix, ShardingKey: shardingKey}
}

// BackfillSettings is the SETTINGS clause of a backfill's INSERT: on a cluster
// whose servers support it, run the INSERT ... SELECT between the Distributed
// tables on each shard, local table to local table, instead of pulling every
// row through the server that runs the migration. That writes each row to the
// shard it was read on, which is its referral's shard: source and target are
// sharded alike (kpi_referrers' per-shard states are what its view writes too).
func (t templateData) BackfillSettings() string {
	if t.Cluster == "" || !t.ParallelInsertSelect() {
		return ""
	}
	return " SETTINGS parallel_distributed_insert_select = 2"
}

// clusterPartials are sql/cluster.sql's templates, parsed into every migration.
const clusterPartials = "sql/cluster.sql"

// MigrateConnOnCluster is MigrateConn for the replicated variant on cluster
// (the name in the servers' remote_servers); an empty cluster is MigrateConn.
// Connect to any server of the cluster: the DDL reaches every server through
// ON CLUSTER, the backfills and the bookkeeping through replication and the
// Distributed tables. The ALTERs of replicated tables go to each shard
// directly (ShardExecutor), at the host and port remote_servers gives its
// replicas, with cfg's user, password and TLS settings: those addresses must
// be reachable from here.
func MigrateConnOnCluster(ctx context.Context, conn driver.Conn, cfg clickhouse.Config, cluster string) (clickhouse.Dialect, []int, error) {
	if cluster != "" {
		if err := clickhouse.ValidateIdentifier(cluster); err != nil {
			return clickhouse.Dialect{}, nil, fmt.Errorf("migrate: cluster: %w", err)
		}
	}
	exec := &clusterExecutor{Native: clickhouse.Native{Conn: conn}, cfg: cfg}
	defer exec.close()
	d, err := clickhouse.DetectDialect(ctx, exec)
	if err != nil {
		return clickhouse.Dialect{}, nil, err
	}
	if cfg.RetentionDays > 0 {
		d.RetentionDays = cfg.RetentionDays
	}
	d.Cluster = cluster
	applied, err := Migrate(ctx, exec, d, cfg.Database())
	return d, applied, err
}

// clusterExecutor is the ShardExecutor of MigrateConnOnCluster. It connects to
// the shards on first use and keeps the connections until close.
type clusterExecutor struct {
	clickhouse.Native
	cfg    clickhouse.Config
	shards []clickhouse.Executor
	conns  []driver.Conn
}

// Shards connects to each shard of cluster in system.clusters, to the first of
// its replicas that answers.
func (c *clusterExecutor) Shards(ctx context.Context, cluster string) ([]clickhouse.Executor, error) {
	if c.shards != nil {
		return c.shards, nil
	}
	rows, err := c.Query(ctx, "SELECT shard_num, host_name, port FROM system.clusters WHERE cluster = '"+cluster+"' ORDER BY shard_num, replica_num")
	if err != nil {
		return nil, fmt.Errorf("look up the shards of cluster %s: %w", cluster, err)
	}
	var byShard [][]string
	for i, r := range rows {
		if len(r) != 3 {
			return nil, fmt.Errorf("look up the shards of cluster %s: unexpected row %q", cluster, r)
		}
		if i == 0 || r[0] != rows[i-1][0] {
			byShard = append(byShard, nil)
		}
		byShard[len(byShard)-1] = append(byShard[len(byShard)-1], net.JoinHostPort(r[1], r[2]))
	}
	if len(byShard) == 0 {
		return nil, fmt.Errorf("cluster %s: not in system.clusters of the connected server (its remote_servers)", cluster)
	}
	shards := make([]clickhouse.Executor, 0, len(byShard))
	for i, replicas := range byShard {
		opts, err := c.cfg.Options()
		if err != nil {
			return nil, err
		}
		opts.Addr = replicas
		opts.ConnOpenStrategy = ch.ConnOpenInOrder
		conn, err := ch.Open(opts)
		if err == nil {
			c.conns = append(c.conns, conn)
			err = conn.Ping(ctx)
		}
		if err != nil {
			return nil, fmt.Errorf("cluster %s shard %d (%s): %w", cluster, i+1, strings.Join(replicas, ","), err)
		}
		shards = append(shards, clickhouse.Native{Conn: conn})
	}
	c.shards = shards // only when every shard answered: a retry connects anew
	return shards, nil
}

func (c *clusterExecutor) close() {
	for _, conn := range c.conns {
		conn.Close()
	}
}

package schema

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"
)

// kpi_touched, the KPI state's log of touched referrals (migration 0018),
// gets a row per stored event and is read only after the latest pass's
// covered_to: the readers merge the facts of the referrals touched since then,
// a pass reads those since the covered_to it started from. Every touch at or
// before covered_to is in the state already, so its rows are never needed
// again. Dropping them is DDL, which the ingesters' referralops_writer may not
// run (allow_ddl = 0); the migrator does (`referralops prune`).

// DefaultKPITouchedKeep is how long before the latest pass's covered_to
// PruneKPITouched keeps touches. A reader or a pass that read an earlier
// covered_to still reads the touches after it; a day is far longer than
// either runs (the exporter's queries stop after 30 s). Touches that old are
// in the state, so a reader that misses them reads the same facts there.
const DefaultKPITouchedKeep = 24 * time.Hour

// KPITouchedPrune is what PruneKPITouched did.
type KPITouchedPrune struct {
	// Before: every touch before it may be dropped (the first second of the
	// month of covered_to - keep); zero when no pass has run.
	Before time.Time
	// Months are the partitions (YYYYMM) dropped, Rows the touches in them.
	Months []string
	Rows   int64
}

// PruneKPITouched drops the month partitions of database db's kpi_touched
// whose every touch lies more than keep (DefaultKPITouchedKeep when 0) before
// the latest KPI state pass's covered_to. On a cluster (cluster set, as
// `migrate --cluster`) it drops them from each shard's kpi_touched_local,
// once per shard through a ShardExecutor (replication drops them on the
// shard's other replicas), else ON CLUSTER. Dropping a partition that is
// gone does nothing, so it is idempotent and safe beside a concurrent run.
// It returns ErrNoKPIState before migration 0018, an error when db does not
// exist.
func PruneKPITouched(ctx context.Context, exec clickhouse.Executor, db, cluster string, keep time.Duration) (KPITouchedPrune, error) {
	var prune KPITouchedPrune
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return prune, err
	}
	if cluster != "" {
		if err := clickhouse.ValidateIdentifier(cluster); err != nil {
			return prune, fmt.Errorf("cluster: %w", err)
		}
	}
	if keep <= 0 {
		keep = DefaultKPITouchedKeep
	}
	rows, err := exec.Query(ctx, "SELECT engine FROM system.tables WHERE database = "+clickhouse.Quote(db)+" AND name = 'kpi_touched'")
	if err != nil {
		return prune, fmt.Errorf("prune kpi_touched of %s: %w", db, err)
	}
	if len(rows) == 0 {
		if rows, err = exec.Query(ctx, "SELECT name FROM system.databases WHERE name = "+clickhouse.Quote(db)); err == nil && len(rows) == 0 {
			err = errors.New("no such database")
		}
		if err != nil {
			return prune, fmt.Errorf("prune kpi_touched of %s: %w", db, err)
		}
		return prune, ErrNoKPIState
	}
	if distributed := rows[0][0] == "Distributed"; distributed != (cluster != "") {
		if distributed {
			return prune, fmt.Errorf("prune kpi_touched of %s: it is a cluster's Distributed table: name the cluster (--cluster)", db)
		}
		return prune, fmt.Errorf("prune kpi_touched of %s: a cluster (%s) is named, but the table is not Distributed", db, cluster)
	}
	covered, err := kpiStateCovered(ctx, exec, db)
	if err != nil {
		return prune, fmt.Errorf("prune kpi_touched of %s: %w", db, err)
	}
	if covered == 0 {
		return prune, nil // no pass yet: every touch is still to be passed
	}
	last := time.Unix(covered, 0).UTC().Add(-keep)
	prune.Before = time.Date(last.Year(), last.Month(), 1, 0, 0, 0, 0, time.UTC)

	// The months before it, through the Distributed table on a cluster: each
	// shard has the touches of its own referrals.
	rows, err = exec.Query(ctx, fmt.Sprintf(`SELECT toString(toYYYYMM(touched_at)) AS month, toString(count())
		FROM %s.kpi_touched WHERE touched_at < toDateTime(%d, 'UTC') GROUP BY month ORDER BY month`, db, prune.Before.Unix()))
	if err != nil {
		return prune, fmt.Errorf("prune kpi_touched of %s: its months: %w", db, err)
	}
	table, onCluster := db+".kpi_touched", ""
	if cluster != "" {
		table, onCluster = db+".kpi_touched"+LocalSuffix, " ON CLUSTER "+cluster
	}
	for _, r := range rows {
		n, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			return prune, fmt.Errorf("prune kpi_touched of %s: month %s: %w", db, r[0], err)
		}
		// r[0] is the partition key's value (toYYYYMM), a number: the
		// literal DROP PARTITION takes on 18.16 and current servers alike.
		stmt := "ALTER TABLE " + table + onCluster + " DROP PARTITION " + r[0]
		if err := execStatement(ctx, exec, cluster, stmt); err != nil {
			return prune, fmt.Errorf("prune kpi_touched of %s: month %s: %w", db, r[0], err)
		}
		prune.Months = append(prune.Months, r[0])
		prune.Rows += n
	}
	return prune, nil
}

// PruneKPITouchedConn is PruneKPITouched through conn, the server of cfg; on
// a cluster it reaches each shard as MigrateConnOnCluster does.
func PruneKPITouchedConn(ctx context.Context, conn driver.Conn, cfg clickhouse.Config, cluster string, keep time.Duration) (KPITouchedPrune, error) {
	exec := &clusterExecutor{Native: clickhouse.Native{Conn: conn}, cfg: cfg}
	defer exec.close()
	return PruneKPITouched(ctx, exec, cfg.Database(), cluster, keep)
}

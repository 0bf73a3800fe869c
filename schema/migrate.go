package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/referralops/referralops/internal/clickhouse"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

//go:embed sql/*.sql
var sqlFiles embed.FS

// Migration is one embedded migrations/NNNN_name.sql file.
type Migration struct {
	Version int
	Name    string
	tmpl    *template.Template
}

// String names the migration as its file does, without .sql: 0007_referrer_attention.
func (m Migration) String() string { return fmt.Sprintf("%04d_%s", m.Version, m.Name) }

// Statements renders the migration for a dialect and database and splits it
// into statements.
func (m Migration) Statements(d clickhouse.Dialect, db string) ([]string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return nil, err
	}
	return render(m.tmpl, d, db)
}

var migrationName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

var loadMigrations = sync.OnceValues(func() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		match := migrationName.FindStringSubmatch(e.Name())
		if match == nil {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(match[1])
		if len(ms) > 0 && ms[len(ms)-1].Version == v {
			return nil, fmt.Errorf("migration version %04d used twice", v)
		}
		t, err := parseMigration(migrationFiles, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: match[2], tmpl: t})
	}
	return ms, nil // fs.ReadDir sorts by name, so by version
})

// Migrations are the embedded migrations in version order.
func Migrations() ([]Migration, error) { return loadMigrations() }

func parseTemplate(fsys fs.FS, path string) (*template.Template, error) {
	b, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, err
	}
	t, err := template.New(path).Option("missingkey=error").Funcs(Funcs()).Funcs(template.FuncMap{"asof": asOfSQL, "asofArgMinDims": asOfArgMinDimsSQL, "asofSetStates": asOfSetStatesSQL, "referrerAttention": ReferrerAttentionSQL}).Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// partials are the templates parsed into every migration: the cluster
// variant's (sql/cluster.sql), the analyst views' closed-loop rule
// (sql/analyst_views.sql) and the materialized views' SELECTs
// (sql/fact_selects.sql) and the patient order recompute (sql/patient_order.sql).
var partials = []string{clusterPartials, "sql/analyst_views.sql", "sql/fact_selects.sql", "sql/patient_order.sql"}

// parseMigration parses a schema template with the partials.
func parseMigration(fsys fs.FS, path string) (*template.Template, error) {
	t, err := parseTemplate(fsys, path)
	if err != nil {
		return nil, err
	}
	for _, p := range partials {
		b, err := fs.ReadFile(sqlFiles, p)
		if err != nil {
			return nil, err
		}
		if _, err := t.New(p).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
	}
	return t, nil
}

// asOfSQL renders the per-referral facts query (sql/referral_facts_asof.sql)
// for database db as of the SQL expression t, so that a migration's view can
// reuse the one definition of the facts instead of repeating it.
func asOfSQL(db, t string) (string, error) { return renderAsOf(db, t, factsNow) }

// asOfArgMinDimsSQL is asOfSQL over referral_facts as migrations 0002-0011
// left it, for the views of 0005 and 0011 (sql/analyst_views.sql), which 0012
// makes again.
func asOfArgMinDimsSQL(db, t string) (string, error) { return renderAsOf(db, t, factsArgMinDims) }

// asOfSetStatesSQL is asOfSQL over the facts as migrations 0012-0016 left
// them, for the view 0012 makes (and 0017 makes again).
func asOfSetStatesSQL(db, t string) (string, error) { return renderAsOf(db, t, factsSetStates) }

// factsVersion is a shape of the facts tables that a statement reads.
type factsVersion int

const (
	factsNow        factsVersion = iota // as the latest migration left them
	factsSetStates                      // 0012-0016: events kept in groupUniqArray states (see WithSetStates)
	factsArgMinDims                     // 0002-0011: an argMinIf state per dimension, and set states
)

func renderAsOf(db, t string, v factsVersion) (string, error) {
	tmpl, err := referralFactsTemplate()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	err = tmpl.Execute(&sb, struct {
		DB, T                 string
		ArgMinDims, SetStates bool
	}{DB: db, T: t, ArgMinDims: v == factsArgMinDims, SetStates: v != factsNow})
	return sb.String(), err
}

// templateData is what the .sql templates see. Its methods that name tables
// and engines (cluster.go) switch between the single-node schema and the
// replicated variant on Dialect.Cluster.
type templateData struct {
	clickhouse.Dialect
	DB            string
	Enum          string // the column type of enum-like strings
	RetentionDays int
	onShard       bool // rendering a materialized view's SELECT; see From
	eventsInPHI   bool // `events` is in PHIDB (since 0009); see From
	argMinDims    bool // referral_facts before 0012; see WithArgMinDims
	setStates     bool // the facts before 0017; see WithSetStates
}

// PHIDB is the database of the raw events (PHIDatabase).
func (t templateData) PHIDB() string { return PHIDatabase(t.DB) }

// PHI is the data for naming tables of the PHI database: {{.PHI.Local
// "events"}} is PHIDB's events (or events_local on a cluster).
func (t templateData) PHI() templateData {
	t.DB = t.PHIDB()
	return t
}

// WithEventsInPHI is the data for a SELECT from `events` after migration 0009
// moved it into PHIDB (sql/fact_selects.sql).
func (t templateData) WithEventsInPHI() templateData {
	t.eventsInPHI = true
	return t
}

// EventsInPHI reports whether the data is WithEventsInPHI's.
func (t templateData) EventsInPHI() bool { return t.eventsInPHI }

// WithArgMinDims is the data for a statement over referral_facts as
// migrations 0002-0011 left it, with an argMinIf state per dimension, before
// 0012 folded them into created_event (sql/analyst_views.sql's v_referrals).
func (t templateData) WithArgMinDims() templateData {
	t.argMinDims = true
	return t
}

// ArgMinDims reports whether the data is WithArgMinDims'.
func (t templateData) ArgMinDims() bool { return t.argMinDims }

// WithSetStates is the data for a statement over the facts as migrations
// before 0017 left them: the events of a referral or appointment (its
// destinations, authorization decisions, consult notes, appointment history)
// kept in groupUniqArray states, which 0017 made groupArray states (the
// *_list columns).
func (t templateData) WithSetStates() templateData {
	t.setStates = true
	return t
}

// EventListConversions are migration 0017's conversions, one per event
// list (eventLists).
func (t templateData) EventListConversions() []eventList { return eventLists }

// SetStates reports whether the data is WithSetStates' (or WithArgMinDims',
// which is older still).
func (t templateData) SetStates() bool { return t.setStates || t.argMinDims }

func render(t *template.Template, d clickhouse.Dialect, db string) ([]string, error) {
	if d.Cluster != "" {
		if err := clickhouse.ValidateIdentifier(d.Cluster); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	var sb strings.Builder
	data := templateData{Dialect: d, DB: db, Enum: d.EnumType(), RetentionDays: d.EffectiveRetentionDays()}
	if err := t.Execute(&sb, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", t.Name(), err)
	}
	return SplitStatements(sb.String()), nil
}

// SplitStatements splits SQL text into statements. A statement ends with a `;`
// at the end of a line; lines that are only a `--` comment are dropped. That is
// all the embedded files need, and it never splits inside a string literal
// unless the literal itself spans a line ending in `;`.
func SplitStatements(text string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(strings.TrimRight(line, " \t\r\n"), ";"))
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return stmts
}

var bootstrap = sync.OnceValues(func() (*template.Template, error) {
	return parseMigration(sqlFiles, "sql/schema_migrations.sql")
})

// recordSQL records migration m as applied in db.schema_migrations. INSERT ...
// SELECT, not VALUES: see Native.Exec.
func recordSQL(db string, m Migration) string {
	return fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at) SELECT %d, '%s', now()",
		db, m.Version, m.Name)
}

// Script is what Migrate runs on an empty database db, as one SQL text for
// review (`referralops migrate --print`): the bookkeeping table, then each
// migration's statements under a `-- NNNN_name` line, followed by the statement
// that records it. Every statement ends with `;` and a blank line. On a
// cluster, Migrate runs them with insert_distributed_sync = 1.
func Script(d clickhouse.Dialect, db string) (string, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return "", fmt.Errorf("database: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		return "", err
	}
	boot, err := bootstrap()
	if err != nil {
		return "", err
	}
	stmts, err := render(boot, d, db)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("-- schema_migrations\n")
	for _, s := range stmts {
		sb.WriteString(s + ";\n\n")
	}
	for _, m := range ms {
		stmts, err := m.Statements(d, db)
		if err != nil {
			return "", fmt.Errorf("%s: %w", m, err)
		}
		fmt.Fprintf(&sb, "-- %s\n", m)
		for _, s := range append(stmts, recordSQL(db, m)) {
			sb.WriteString(s + ";\n\n")
		}
	}
	return sb.String(), nil
}

// Migrate creates database db if missing and applies, in version order, the
// embedded migrations not yet recorded in db.schema_migrations, rendered for
// dialect d. It returns the versions it applied. With d.Cluster set it applies
// the replicated variant (cluster.go) through a server of that cluster.
//
// It is safe to run again and to run from several processes at once, without
// a lock, because:
//   - every statement is idempotent (CREATE ... IF NOT EXISTS; backfills insert
//     into tables of idempotent aggregate states), so applying a migration that
//     another process is applying, or has half applied, converges to the same
//     schema and data;
//   - a version is recorded only after all of its statements succeeded, in a
//     ReplacingMergeTree keyed by version, where a second record of the same
//     version is harmless;
//   - two CREATE ... IF NOT EXISTS of one object are serialized by the
//     server's DDL guard (verified on 18.16 and 26.7); should a server ever let
//     one fail with "already exists", that statement is retried, and the retry
//     is a no-op;
//   - even a second materialized view feeding a facts table could not change a
//     fact, since its states are idempotent (the names make one view per table);
//   - on a cluster, each DDL statement goes through the distributed DDL queue
//     (ON CLUSTER), which runs it on every server, where IF NOT EXISTS still
//     makes a repeat a no-op; an ALTER of a replicated table goes to one
//     replica of each shard instead when exec is a ShardExecutor.
//
// The backfill statements read all of `events`; on a first migration that table
// is empty, on an upgrade the DSN's read_timeout must cover the scan.
//
// A crash between statements leaves the version unrecorded, so the next run
// repeats the whole migration; idempotence makes that correct (execOnce for
// the two statements ClickHouse 18.16 cannot write idempotently). A statement
// that fails because a concurrent process has gone further (its migration is
// recorded by then) is not an error (runMigration).
func Migrate(ctx context.Context, exec clickhouse.Executor, d clickhouse.Dialect, db string) (applied []int, err error) {
	return MigrateTo(ctx, exec, d, db, math.MaxInt)
}

// MigrateTo is Migrate up to and including version last: a database one
// migration behind the binary, as after a deploy that skipped `migrate`.
func MigrateTo(ctx context.Context, exec clickhouse.Executor, d clickhouse.Dialect, db string, last int) (applied []int, err error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return nil, fmt.Errorf("migrate: database: %w", err)
	}
	if d.Cluster != "" {
		// An INSERT into a Distributed table returns once the shards have the
		// rows, not when they are queued: a later statement may drop the
		// table (0012) or read the shards.
		ctx = ch.Context(ctx, ch.WithSettings(ch.Settings{"insert_distributed_sync": 1}))
	}
	ms, err := Migrations()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	boot, err := bootstrap()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	stmts, err := render(boot, d, db)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, s := range stmts {
		if err := execIdempotent(ctx, exec, s); err != nil {
			return nil, fmt.Errorf("migrate %s: create schema_migrations: %w", db, err)
		}
	}
	done, err := AppliedVersions(ctx, exec, db)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if slices.Contains(done, m.Version) {
			continue
		}
		if m.Version > last {
			break
		}
		stmts, err := m.Statements(d, db)
		if err != nil {
			return applied, fmt.Errorf("migrate %s: %s: %w", db, m, err)
		}
		recorded, err := runMigration(ctx, exec, d.Cluster, db, m, stmts)
		if err != nil {
			return applied, err
		}
		if recorded {
			continue // by a concurrent process, since we read the versions
		}
		if err := exec.Exec(ctx, recordSQL(db, m)); err != nil {
			return applied, fmt.Errorf("migrate %s: record %s: %w", db, m, err)
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// AppliedVersions lists the versions recorded in db.schema_migrations, ascending.
func AppliedVersions(ctx context.Context, q clickhouse.Querier, db string) ([]int, error) {
	if err := clickhouse.ValidateIdentifier(db); err != nil {
		return nil, err
	}
	rows, err := q.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read %s.schema_migrations: %w", db, err)
	}
	vs := make([]int, 0, len(rows))
	for _, r := range rows {
		if len(r) != 1 {
			return nil, fmt.Errorf("read %s.schema_migrations: unexpected row %q", db, r)
		}
		v, err := strconv.Atoi(r[0])
		if err != nil {
			return nil, fmt.Errorf("read %s.schema_migrations: version %q: %w", db, r[0], err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// Missing lists the embedded migrations not recorded in db.schema_migrations,
// in version order: all of them when the database or the bookkeeping table does
// not exist. A binary needs none missing before it writes.
func Missing(ctx context.Context, q clickhouse.Querier, db string) ([]Migration, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	done, err := AppliedVersions(ctx, q, db)
	if code, _, ok := clickhouse.Exception(err); ok && (code == clickhouse.CodeUnknownTable || code == clickhouse.CodeUnknownDatabase) {
		done, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	var missing []Migration
	for _, m := range ms {
		if !slices.Contains(done, m.Version) {
			missing = append(missing, m)
		}
	}
	return missing, nil
}

// execIdempotent runs an idempotent statement, retrying the "already exists"
// errors that two concurrent CREATE ... IF NOT EXISTS can produce.
func execIdempotent(ctx context.Context, exec clickhouse.Executor, stmt string) error {
	const attempts = 5
	for i := 1; ; i++ {
		err := exec.Exec(ctx, stmt)
		if err == nil || i == attempts || !isAlreadyExists(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(time.Duration(i) * 100 * time.Millisecond):
		}
	}
}

// runMigration runs m's statements. When one fails and a concurrent process
// has recorded m meanwhile, it reports m as recorded instead: that process
// may already be past m, e.g. have moved `events` (0009), which m's backfill
// reads by its old name.
func runMigration(ctx context.Context, exec clickhouse.Executor, cluster, db string, m Migration, stmts []string) (recorded bool, err error) {
	for i, s := range stmts {
		if err := execStatement(ctx, exec, cluster, s); err != nil {
			if done, readErr := AppliedVersions(ctx, exec, db); readErr == nil && slices.Contains(done, m.Version) {
				return true, nil
			}
			return false, fmt.Errorf("migrate %s: %s statement %d: %w", db, m, i+1, err)
		}
	}
	return false, nil
}

// The statements of the migrations that ClickHouse 18.16 cannot make
// idempotent with IF [NOT] EXISTS (migrations/0009, 0012), and the state
// conversion of 0012, which reads columns that the same migration drops.
var (
	renameTable = regexp.MustCompile(`^RENAME TABLE (\w+\.\w+) TO (\w+\.\w+)(?: ON CLUSTER \w+)?$`)
	dropColumns = regexp.MustCompile(`^ALTER TABLE (\w+)\.(\w+)(?: ON CLUSTER \w+)? (DROP COLUMN \w+(?:, DROP COLUMN \w+)*)$`)
	addColumn   = regexp.MustCompile(`^ALTER TABLE (\w+)\.(\w+)(?: ON CLUSTER \w+)? ADD COLUMN (\w+) `)
	// A statement that reads a column a later statement of its migration
	// drops marks the column after the table it reads: FROM db.table
	// /* until column is dropped */.
	untilDropped = regexp.MustCompile(`\bFROM (\w+)\.(\w+) /\* until (\w+) is dropped \*/`)
)

// ShardExecutor is an Executor that also reaches every shard of a cluster
// directly. Migrate runs an ALTER of a replicated table through it once per
// shard, on one replica, without ON CLUSTER: replication applies it to the
// shard's other replicas. Through the distributed DDL queue, ClickHouse 18.16
// can run such an ALTER on two replicas of a shard; the second fails ("column
// already exists"), and that server's DDL worker then stops on ZooKeeper's
// "Node exists .../executed" until it restarts, so every later ON CLUSTER
// statement waits for it. Without a ShardExecutor the ALTER goes ON CLUSTER.
type ShardExecutor interface {
	clickhouse.Executor
	// Shards returns one executor per shard of cluster, each on a replica of
	// that shard, in shard order.
	Shards(ctx context.Context, cluster string) ([]clickhouse.Executor, error)
}

// onClusterAlter matches the ALTER ... ON CLUSTER of a replicated table.
var onClusterAlter = regexp.MustCompile(`^ALTER TABLE \w+\.\w+( ON CLUSTER (\w+)) `)

// execStatement runs a migration statement with execOnce: an ALTER ... ON
// CLUSTER through a ShardExecutor, once per shard (see ShardExecutor).
func execStatement(ctx context.Context, exec clickhouse.Executor, cluster, stmt string) error {
	m := onClusterAlter.FindStringSubmatchIndex(stmt)
	se, ok := exec.(ShardExecutor)
	if m == nil || !ok || stmt[m[4]:m[5]] != cluster {
		return execOnce(ctx, exec, stmt)
	}
	local := stmt[:m[2]] + stmt[m[3]:]
	shards, err := se.Shards(ctx, cluster)
	if err != nil {
		return err
	}
	for i, shard := range shards {
		if err := execOnce(ctx, shard, local); err != nil {
			return fmt.Errorf("shard %d: %w", i+1, err)
		}
	}
	return nil
}

// execOnce runs a migration statement with execIdempotent, except one whose
// effect is already there: a RENAME TABLE whose source is gone and target
// exists, an ADD COLUMN of a column that exists, a DROP COLUMN of columns that
// are gone, or a statement marked /* until column is dropped */ whose column
// is gone; a re-run after a crash, or a concurrent migration that got there
// first (checked again after an error). On a cluster the check reads the
// server exec reaches: the shard's replica for a per-shard ALTER, else the
// connected server, which ON CLUSTER changed like the others.
func execOnce(ctx context.Context, exec clickhouse.Executor, stmt string) error {
	done, err := alreadyDone(ctx, exec, stmt)
	if err != nil || done {
		return err
	}
	err = execIdempotent(ctx, exec, stmt)
	if err != nil {
		if done, checkErr := alreadyDone(ctx, exec, stmt); checkErr == nil && done {
			return nil
		}
	}
	return err
}

// alreadyDone reports whether stmt's effect is there (see execOnce). Any other
// statement is never done.
func alreadyDone(ctx context.Context, q clickhouse.Querier, stmt string) (bool, error) {
	if m := renameTable.FindStringSubmatch(stmt); m != nil {
		from, err := tableExists(ctx, q, m[1])
		if err != nil {
			return false, err
		}
		to, err := tableExists(ctx, q, m[2])
		return !from && to, err
	}
	if m := dropColumns.FindStringSubmatch(stmt); m != nil {
		for _, drop := range strings.Split(m[3], ", ") {
			n, err := columnCount(ctx, q, m[1], m[2], strings.TrimPrefix(drop, "DROP COLUMN "))
			if err != nil || n != 0 {
				return false, err
			}
		}
		return true, nil
	}
	if m := addColumn.FindStringSubmatch(stmt); m != nil {
		n, err := columnCount(ctx, q, m[1], m[2], m[3])
		return n == 1, err
	}
	if m := untilDropped.FindStringSubmatch(stmt); m != nil {
		n, err := columnCount(ctx, q, m[1], m[2], m[3])
		return n == 0, err
	}
	return false, nil
}

// columnCount is 1 when table db.table has the column, else 0.
func columnCount(ctx context.Context, q clickhouse.Querier, db, table, column string) (int, error) {
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT count() FROM system.columns WHERE database = '%s' AND table = '%s' AND name = '%s'", db, table, column))
	if err != nil {
		return 0, fmt.Errorf("look up column %s.%s.%s: %w", db, table, column, err)
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("look up column %s.%s.%s: unexpected result %q", db, table, column, rows)
	}
	return strconv.Atoi(rows[0][0])
}

func tableExists(ctx context.Context, q clickhouse.Querier, table string) (bool, error) {
	rows, err := q.Query(ctx, "EXISTS TABLE "+table)
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", table, err)
	}
	return len(rows) == 1 && len(rows[0]) == 1 && rows[0][0] == "1", nil
}

// isAlreadyExists tells the errors of a table or database that exists already.
func isAlreadyExists(err error) bool {
	code, _, ok := clickhouse.Exception(err)
	return ok && (code == clickhouse.CodeTableAlreadyExists || code == clickhouse.CodeDatabaseAlreadyExists)
}

// MigrateConn migrates the database of cfg over a native connection, with the
// dialect of the connected server and cfg's retention: what `referralops
// migrate` and the local stack run.
func MigrateConn(ctx context.Context, conn driver.Conn, cfg clickhouse.Config) (clickhouse.Dialect, []int, error) {
	return MigrateConnOnCluster(ctx, conn, cfg, "")
}

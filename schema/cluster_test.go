package schema_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

// The replicated variant cannot run here (no cluster, no Keeper), so these
// tests prove what can be proved on one machine: it is the single-node schema
// plus the cluster's parts and nothing else, it is what the golden file shows,
// and every statement parses on ClickHouse 26.7 (chDB) and 18.16 (the server).

const testCluster = "c1"

// clusterDialect is the replicated variant's dialect for a server version.
func clusterDialect(t *testing.T, version string) clickhouse.Dialect {
	t.Helper()
	d, err := clickhouse.DialectFor(version)
	if err != nil {
		t.Fatal(err)
	}
	d.Cluster = testCluster
	return d
}

func script(t *testing.T, d clickhouse.Dialect, db string) string {
	t.Helper()
	s, err := schema.Script(d, db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClusterGolden keeps the replicated variant (what `referralops migrate
// --print --cluster c1` prints) in testdata, for review. Regenerate with:
// go test ./schema -run TestClusterGolden -update
func TestClusterGolden(t *testing.T) {
	// -update is defined once for the package's golden tests.
	update := false
	if f := flag.Lookup("update"); f != nil {
		update = f.Value.String() == "true"
	}
	for _, version := range []string{"18.16.1", "26.7.2.1"} {
		got := script(t, clusterDialect(t, version), clickhouse.DefaultDatabase)
		path := filepath.Join("testdata", "schema-cluster-"+version+".sql")
		if update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("replicated variant for %s differs from %s; rerun with -update and review the diff", version, path)
		}
	}
}

var (
	replicatedNoParams = regexp.MustCompile(`Replicated(\w*MergeTree)\('[^']*', '[^']*'\)`)
	replicatedParams   = regexp.MustCompile(`Replicated(\w*MergeTree)\('[^']*', '[^']*', `)
	distributedTable   = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) ON CLUSTER c1 AS (\w+)\.(\w+)\nENGINE = Distributed\(c1, (\w+), (\w+), (.+)\)$`)
	localTable         = regexp.MustCompile(`^CREATE TABLE IF NOT EXISTS \w+\.(\w+) ON CLUSTER c1\n`)
	replicaPath        = regexp.MustCompile(`ENGINE = Replicated\w*MergeTree\('(/clickhouse/tables/[^']*)', '([^']*)'`)
)

// TestClusterVariantIsTheSingleNodeSchema: the replicated variant is the
// single-node schema with only the cluster's parts added, for each dialect.
// Taking those parts out again (ON CLUSTER, the _local suffix, Replicated and
// its Keeper arguments, the backfills' shard-local setting, the Distributed
// tables) must give back the single-node statements exactly, so the two cannot
// drift apart; and the parts themselves are checked: a Distributed table for
// each local table under its original name, sharded by referral, Keeper paths
// unique per table, materialized views reading and writing the local tables.
func TestClusterVariantIsTheSingleNodeSchema(t *testing.T) {
	const db = "ops"
	wantSharding := map[string]string{
		"events": "cityHash64(referral_id)", "referral_facts": "cityHash64(referral_id)",
		"appointment_facts": "cityHash64(referral_id)", "kpi_index": "cityHash64(referral)",
		"kpi_created": "cityHash64(referral_id)", "kpi_referrers": "cityHash64(referrer_id)",
		"referral_stages": "cityHash64(referral_id)", "patient_referrals": "cityHash64(referral_id)",
		"referral_patient_order": "cityHash64(referral_id)", "referrer_notes": "cityHash64(referral_id)",
		"kpi_touched": "cityHash64(referral_id)", "referral_facts_by_created": "cityHash64(referral_id)",
		"referral_stages_by_created": "cityHash64(referral_id)", "appointment_facts_by_created": "cityHash64(referral_id)",
		"kpi_state_passes": "rand()", "kpi_state_index": "cityHash64(referral_id)",
		"referral_patient_order_by_created": "cityHash64(referral_id)", "referrer_notes_by_created": "cityHash64(referral_id)",
	}
	for _, version := range []string{"18.16.1", "26.7.2.1"} {
		t.Run(version, func(t *testing.T) {
			single, err := clickhouse.DialectFor(version)
			if err != nil {
				t.Fatal(err)
			}
			singleText := script(t, single, db)
			if strings.Contains(singleText, schema.LocalSuffix) || strings.Contains(singleText, "ON CLUSTER") ||
				strings.Contains(singleText, "Replicated") || strings.Contains(singleText, "Distributed") {
				t.Fatal("the single-node schema mentions a cluster's parts")
			}
			clustered := schema.SplitStatements(script(t, clusterDialect(t, version), db))

			var stripped []string
			sharding := map[string]string{}
			paths := map[string]bool{}
			// 0009's DDL of the Distributed tables alone: the old `events`
			// goes (it is made again in the PHI database), and so do
			// referral_facts (0012), appointment_facts (0015) and
			// patient_referrals (0016), kpi_state_passes and
			// referral_facts_by_created (0020), made again with the columns
			// of their local tables.
			distributedOnly := []string{
				"DROP TABLE IF EXISTS " + db + ".events ON CLUSTER " + testCluster,
				"DROP TABLE IF EXISTS " + db + ".referral_facts ON CLUSTER " + testCluster,
				"DROP TABLE IF EXISTS " + db + ".appointment_facts ON CLUSTER " + testCluster,
				"DROP TABLE IF EXISTS " + schema.PHIDatabase(db) + ".patient_referrals ON CLUSTER " + testCluster,
				"DROP TABLE IF EXISTS " + db + ".kpi_state_passes ON CLUSTER " + testCluster,
				"DROP TABLE IF EXISTS " + db + ".referral_facts_by_created ON CLUSTER " + testCluster,
			}
			phi := schema.PHIDatabase(db)
			for _, s := range clustered {
				if slices.Contains(distributedOnly, s) {
					continue
				}
				if m := distributedTable.FindStringSubmatch(s); m != nil {
					table, local := m[2], m[4]
					if (m[1] != db && m[1] != phi) || m[3] != m[1] || m[5] != m[1] || m[6] != local || local != table+schema.LocalSuffix {
						t.Errorf("Distributed table not over its own local table in %s:\n%s", m[1], s)
					}
					sharding[table] = m[7]
					continue
				}
				if strings.HasPrefix(s, "CREATE") && !strings.Contains(s, " ON CLUSTER "+testCluster) {
					t.Errorf("DDL without ON CLUSTER:\n%s", s)
				}
				if m := localTable.FindStringSubmatch(s); m != nil {
					p := replicaPath.FindStringSubmatch(s)
					if p == nil {
						t.Errorf("table %s is not replicated:\n%s", m[1], s)
					} else if paths[p[1]] {
						t.Errorf("Keeper path %s used twice", p[1])
					} else {
						paths[p[1]] = true
						// A table made in the PHI database (0010) has its Keeper path
						// there; events_local kept the one it was created with.
						pathDB := db
						if strings.Contains(s, " "+phi+"."+m[1]+" ") {
							pathDB = phi
						}
						wantPath, wantReplica := "/clickhouse/tables/{shard}/"+pathDB+"/"+m[1], "{replica}"
						if m[1] == "schema_migrations" { // one replica set for the whole cluster
							wantPath, wantReplica = "/clickhouse/tables/all/"+db+"/"+m[1], "{shard}-{replica}"
						} else if !strings.HasSuffix(m[1], schema.LocalSuffix) {
							t.Errorf("sharded table %s has no %s suffix", m[1], schema.LocalSuffix)
						}
						if p[1] != wantPath || p[2] != wantReplica {
							t.Errorf("table %s: Keeper path %q replica %q, want %q %q", m[1], p[1], p[2], wantPath, wantReplica)
						}
					}
				}
				// Views fire on inserts into a shard's table: events, or (0019)
				// the writer's patient order.
				if strings.HasPrefix(s, "CREATE MATERIALIZED VIEW") &&
					(!strings.Contains(s, schema.LocalSuffix+" AS\n") ||
						(!strings.Contains(s, "FROM "+db+".events_local\n") && !strings.Contains(s, "FROM "+phi+".events_local\n") &&
							!strings.Contains(s, "FROM "+db+".referral_patient_order_local\n"))) {
					t.Errorf("materialized view not from events_local or referral_patient_order_local to a local table:\n%s", s)
				}
				if strings.HasPrefix(s, "INSERT INTO") && strings.Contains(s, schema.LocalSuffix) {
					t.Errorf("backfill or record bypasses the Distributed tables:\n%s", s)
				}
				s = strings.ReplaceAll(s, " ON CLUSTER "+testCluster, "")
				s = strings.ReplaceAll(s, schema.LocalSuffix, "")
				s = replicatedNoParams.ReplaceAllString(s, "$1")
				s = replicatedParams.ReplaceAllString(s, "$1(")
				s = strings.ReplaceAll(s, " SETTINGS parallel_distributed_insert_select = 2", "")
				stripped = append(stripped, s)
			}
			if want := schema.SplitStatements(singleText); !slices.Equal(stripped, want) {
				for i := range min(len(stripped), len(want)) {
					if stripped[i] != want[i] {
						t.Fatalf("statement %d of the variant, less its cluster parts:\n%s\n\nsingle-node:\n%s", i+1, stripped[i], want[i])
					}
				}
				t.Fatalf("the variant less its cluster parts has %d statements, the single-node schema %d", len(stripped), len(want))
			}
			if !maps(sharding, wantSharding) {
				t.Errorf("Distributed tables and sharding keys %v, want %v", sharding, wantSharding)
			}
			// 18.16 has no parallel_distributed_insert_select: its backfills go
			// through the server that runs the migration. Six backfills,
			// 0010's two, 0012's and 0016's conversions, 0017's four, 0018's
			// log of touched referrals, 0019's two more, 0020's created_key.
			want := 8 + 1 + 1 + 4 + 1 + 2 + 1
			if single.Major < 21 {
				want = 0
			}
			if got := strings.Count(strings.Join(clustered, "\n"), "parallel_distributed_insert_select = 2"); got != want {
				t.Errorf("%d shard-local backfills on %s, want %d", got, version, want)
			}
		})
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// missing fails the test, or skips it unless REFERRALOPS_REQUIRE_SERVERS=1.
func missing(t *testing.T, what string, err error) {
	t.Helper()
	if testenv.RequireServers() {
		t.Fatalf("%s: %v (REFERRALOPS_REQUIRE_SERVERS=1, so this is a failure)", what, err)
	}
	t.Skipf("%s: %v; set REFERRALOPS_REQUIRE_SERVERS=1 to make this a failure", what, err)
}

// TestClusterSQLParsesOnChDB: every statement of the replicated variant, for
// chDB's own version (26.7), parses there (EXPLAIN AST) into the kind of query
// it is, with its replicated or Distributed engine, and keeps its ON CLUSTER
// (formatQuery prints the parsed query back). chDB has no cluster and no
// Keeper, so parsing is as far as it can go.
func TestClusterSQLParsesOnChDB(t *testing.T) {
	q := testenv.ChDB(t)
	ctx := context.Background()
	d, err := clickhouse.DetectDialect(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	d.Cluster = testCluster
	if _, err := q.Query(ctx, "EXPLAIN AST CREATE TABLE t ON CLUSTER c1 (a String) ENGINE = Memory garbage"); err == nil {
		t.Fatal("EXPLAIN AST accepted a syntax error: the check below would prove nothing")
	}
	stmts := schema.SplitStatements(script(t, d, clickhouse.DefaultDatabase))
	var creates, inserts, others int
	for i, stmt := range stmts {
		rows, err := q.Query(ctx, "EXPLAIN AST "+stmt)
		if err != nil {
			t.Errorf("statement %d does not parse on chDB %s: %v\n%s", i+1, d.Version, err, stmt)
			continue
		}
		ast := joinRows(rows)
		head := strings.Fields(stmt)[0]
		wantKind := map[string]string{"CREATE": "CreateQuery", "INSERT": "InsertQuery",
			"DROP": "DropQuery", "RENAME": "Rename", "ALTER": "AlterQuery"}[head]
		if wantKind == "" || !strings.HasPrefix(ast, wantKind) {
			t.Errorf("statement %d parsed as %.40q, want %s:\n%s", i+1, ast, wantKind, stmt)
		}
		if m := regexp.MustCompile(`ENGINE = (\w+)\(`).FindStringSubmatch(stmt); m != nil && !strings.Contains(ast, "Function "+m[1]) {
			t.Errorf("statement %d: engine %s not in its AST:\n%s", i+1, m[1], ast)
		}
		if head != "INSERT" {
			if head == "CREATE" {
				creates++
			} else {
				others++
			}
			lit := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(stmt) + "'"
			out, err := q.Query(ctx, "SELECT formatQuerySingleLine("+lit+")")
			if err != nil {
				t.Errorf("statement %d: formatQuery: %v", i+1, err)
			} else if f := joinRows(out); !strings.Contains(f, " ON CLUSTER "+testCluster) {
				t.Errorf("statement %d lost ON CLUSTER in parsing: %s", i+1, f)
			}
		} else {
			inserts++
		}
	}
	// schema_migrations (database, table); 7 tables × (local, Distributed) +
	// 6 views + 5 analyst views + 0009's PHI database, its Distributed events
	// and referral_facts and 6 views + 0010's 3 tables × 2 and 2 views +
	// 0011's v_referrals; 8 backfills, 0010's patient order + 11 records;
	// 0009's DROPs of the Distributed events and referral_facts, RENAME, 6
	// DROPs of views, an ALTER; 0011's DROP of v_referrals; 0012's
	// Distributed referral_facts twice, view, analyst view, its conversion and
	// record, 2 ALTERs, 2 DROPs of the Distributed table, DROPs of a view and
	// an analyst view; 0013's view, record and DROP of a view; 0014's 2
	// views, record and DROP of a view; 0015's view, Distributed table and
	// record, DROP of a view, ALTER and DROP of the Distributed table; 0016's
	// Distributed patient_referrals twice, view, conversion and record, 2
	// ALTERs, 2 DROPs of the Distributed table and a DROP of a view; 0017's
	// 2 Distributed tables twice each, 2 views, analyst view, 4 conversions
	// and record, 4 ADD and 2 DROP COLUMN ALTERs, 4 DROPs of the Distributed
	// tables, DROPs of 2 views and an analyst view; 0018's 6 tables and their
	// Distributed tables, view, backfill and record; 0019's 2 tables and
	// their Distributed tables, view, 2 backfills and record; 0020's 2
	// Distributed tables, backfill and record, 2 ALTERs and 2 DROPs of the
	// Distributed tables.
	if creates != 2+14+6+5+9+8+1+4+1+2+2+3+7+13+5+2 || inserts != 20+2+1+1+1+2+5+2+3+2 || others != 11+6+1+1+3+5+13+4 {
		t.Errorf("%d CREATE, %d INSERT and %d other statements, want 84, 39 and 44", creates, inserts, others)
	}
}

func joinRows(rows [][]string) string {
	lines := make([]string, len(rows))
	for i, r := range rows {
		lines[i] = strings.Join(r, "\t")
	}
	return strings.Join(lines, "\n")
}

// ClickHouse error codes that show a statement got past the parser on a
// server without the cluster (18.16: BAD_GET; current: CLUSTER_DOESNT_EXIST)
// or the database, and the one that says it did not (SYNTAX_ERROR).
const (
	codeBadGet             = 170
	codeClusterDoesntExist = 701
	codeUnknownDatabase    = 81
	codeSyntaxError        = 62
)

// TestClusterSQLParsesOnServer: ClickHouse 18.16 has no EXPLAIN, so each
// statement of the variant for the server's own dialect is sent to the server,
// which has no cluster c1 and no such database: a statement that parses fails
// on the cluster lookup (ON CLUSTER DDL) or the missing database (INSERT),
// before anything runs; one that does not parse fails with a syntax error.
func TestClusterSQLParsesOnServer(t *testing.T) {
	addr := os.Getenv("REFERRALOPS_TEST_CLICKHOUSE_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9000"
	}
	db := testenv.UniqueName("zz_cluster_parse_")
	cfg := clickhouse.DefaultConfig()
	cfg.DSN = "clickhouse://" + addr + "/" + db
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := clickhouse.Open(ctx, cfg)
	if err != nil {
		missing(t, "ClickHouse server at "+addr, err)
	}
	defer conn.Close()
	exec := clickhouse.Native{Conn: conn}
	d, err := clickhouse.DetectDialect(ctx, exec)
	if err != nil {
		t.Fatal(err)
	}
	d.Cluster = testCluster
	code := func(err error) int32 {
		if ex, ok := errors.AsType[*proto.Exception](err); ok {
			return ex.Code
		}
		return -1
	}
	if err := exec.Exec(ctx, "CREATE TABLE t ON CLUSTER c1 (a String) ENGINE = Memory garbage"); code(err) != codeSyntaxError {
		t.Fatalf("a syntax error gave %v, want code %d: the check below would prove nothing", err, codeSyntaxError)
	}
	stmts := schema.SplitStatements(script(t, d, db))
	for i, stmt := range stmts {
		err := exec.Exec(ctx, stmt)
		want := []int32{codeBadGet, codeClusterDoesntExist}
		if strings.HasPrefix(stmt, "INSERT") {
			want = []int32{codeUnknownDatabase}
		}
		if !slices.Contains(want, code(err)) {
			t.Errorf("statement %d on %s: got %v, want an error with code in %v:\n%s", i+1, d.Version, err, want, stmt)
		}
	}
	rows, err := exec.Query(ctx, "SELECT count() FROM system.databases WHERE name = '"+db+"'")
	if err != nil {
		t.Fatal(err)
	}
	if rows[0][0] != "0" {
		exec.Exec(ctx, "DROP DATABASE IF EXISTS "+db)
		t.Fatalf("the parse check created database %s", db)
	}
	t.Logf("%d statements parse on %s", len(stmts), d.Version)
}

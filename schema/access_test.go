package schema_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/testenv"
	"github.com/referralops/referralops/schema"
)

func accessConfig() schema.AccessConfig {
	return schema.AccessConfig{
		Database: "referralops", Host: "ANY",
		ExporterPassword: "exporter-secret", GrafanaPassword: "grafana-secret", AnalystPassword: "analyst-secret",
		GrafanaMaxResultRows: 100000, GrafanaMaxExecutionSeconds: 30,
	}
}

// TestAccessStatements pins the rendered access SQL (golden; -update rewrites)
// and checks what matters for least privilege in it.
func TestAccessStatements(t *testing.T) {
	for _, cluster := range []string{"", "c1"} {
		c := accessConfig()
		c.Cluster = cluster
		stmts, err := schema.AccessStatements(c)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(stmts, ";\n") + ";\n"
		golden := filepath.Join("testdata", "access.sql")
		if cluster != "" {
			golden = filepath.Join("testdata", "access-cluster.sql")
		}
		if *update {
			if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if text != string(want) {
			t.Errorf("access SQL differs from %s (run go test -run TestAccessStatements -update):\n%s", golden, text)
		}
		for _, secret := range []string{c.ExporterPassword, c.GrafanaPassword, c.AnalystPassword} {
			if strings.Contains(text, secret) {
				t.Errorf("a clear-text password is in the SQL")
			}
		}
		for _, s := range stmts {
			up := strings.ToUpper(s)
			if strings.HasPrefix(up, "GRANT") && strings.Contains(up, " ON ") &&
				(strings.Contains(up, "INSERT") || strings.Contains(up, "ALTER") || strings.Contains(up, " ALL") || strings.Contains(up, "CREATE")) {
				t.Errorf("a grant beyond SELECT: %s", s)
			}
			if cluster != "" && !strings.Contains(s, "ON CLUSTER c1") {
				t.Errorf("statement without ON CLUSTER c1: %s", s)
			}
		}
		if got := strings.Count(text, "distributed_product_mode = 'local'"); (cluster != "") != (got == 3) || (cluster == "" && got != 0) {
			t.Errorf("cluster %q: distributed_product_mode in %d profiles, want 3 on a cluster and none otherwise", cluster, got)
		}
		if !strings.Contains(text, "max_execution_time = 30, max_result_rows = 100000") {
			t.Errorf("the grafana profile lost its limits:\n%s", text)
		}
	}
}

func TestAccessConfigValidate(t *testing.T) {
	c := accessConfig()
	c.ExporterPassword, c.Host, c.Database = "", "ANY; DROP", "bad name"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid access config accepted")
	}
	for _, want := range []string{"password of referralops_exporter", "host:", "bad name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestAccessSQLParsesOnChDB: chDB runs as clickhouse-local, which has no
// writable access storage, so CREATE USER cannot run there; every statement
// must at least parse on 26.7. (18.16 has no SQL user management at all.)
func TestAccessSQLParsesOnChDB(t *testing.T) {
	q := testenv.ChDB(t)
	ctx := context.Background()
	if _, err := q.Query(ctx, "EXPLAIN AST CREATE USER x IDENTIFIED WITH sha256_hash BY 'ab' garbage"); err == nil {
		t.Fatal("EXPLAIN AST accepted a syntax error: the check below would prove nothing")
	}
	for _, cluster := range []string{"", "c1"} {
		c := accessConfig()
		c.Cluster = cluster
		stmts, err := schema.AccessStatements(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts {
			if _, err := q.Query(ctx, "EXPLAIN AST "+s); err != nil {
				t.Errorf("does not parse on chDB %s: %v\n%s", q.Dialect.Version, err, s)
			}
		}
	}
}

func TestApplyAccessRefusesOldServer(t *testing.T) {
	e := testenv.Server(t)
	if e.Dialect.SQLAccess() {
		t.Skipf("server %s manages users with SQL", e.Dialect.Version)
	}
	err := schema.ApplyAccess(context.Background(), e, accessConfig())
	if !errors.Is(err, schema.ErrNoSQLAccess) {
		t.Fatalf("ApplyAccess on %s: %v, want ErrNoSQLAccess", e.Dialect.Version, err)
	}
}

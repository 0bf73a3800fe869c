package clickhouse_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/clickhouse"
)

func accessConfig() clickhouse.AccessConfig {
	return clickhouse.AccessConfig{
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
		stmts, err := clickhouse.AccessStatements(c)
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

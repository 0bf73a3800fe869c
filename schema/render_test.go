package schema_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/clickhouse"

	"github.com/referralops/referralops/schema"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestRenderGolden keeps the DDL each dialect gets in testdata, for review.
// Regenerate with: go test ./schema -run TestRenderGolden -update
func TestRenderGolden(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"18.16.1", "26.7.2.1"} {
		d, err := clickhouse.DialectFor(version)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, m := range ms {
			stmts, err := m.Statements(d, clickhouse.DefaultDatabase)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range stmts {
				sb.WriteString("-- " + m.Name + "\n" + s + ";\n\n")
			}
		}
		path := filepath.Join("testdata", "schema-"+version+".sql")
		if *update {
			if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if sb.String() != string(want) {
			t.Errorf("rendered DDL for %s differs from %s; rerun with -update and review the diff", version, path)
		}
	}
}

func TestStatementsRejectBadDatabase(t *testing.T) {
	ms, _ := schema.Migrations()
	d, _ := clickhouse.DialectFor("26.7")
	if _, err := ms[0].Statements(d, "x; DROP DATABASE y"); err == nil {
		t.Error("a database name with SQL in it was accepted")
	}
	if _, err := schema.ReferralFactsSQL("a.b", asOf); err == nil {
		t.Error("ReferralFactsSQL accepted a qualified name")
	}
}

func TestSplitStatements(t *testing.T) {
	got := schema.SplitStatements("-- a comment;\nCREATE TABLE a\n(x UInt8);\n\n-- another\nSELECT 'a;b' ;  \nSELECT 1")
	want := []string{"CREATE TABLE a\n(x UInt8)", "SELECT 'a;b'", "SELECT 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SplitStatements = %q, want %q", got, want)
	}
}

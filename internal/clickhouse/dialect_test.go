package clickhouse_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/clickhouse"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

func TestDialectFor(t *testing.T) {
	for _, tc := range []struct {
		version      string
		lowCard, ttl bool
		wantErr      bool
	}{
		{version: "18.16.1"},
		{version: "19.17.9.60"},
		{version: "20.3.1.1", lowCard: true, ttl: true},
		{version: "24.8.14.39", lowCard: true, ttl: true},
		{version: "26.7.2.1", lowCard: true, ttl: true},
		{version: "", wantErr: true},
		{version: "26", wantErr: true},
		{version: "x.y.z", wantErr: true},
	} {
		d, err := clickhouse.DialectFor(tc.version)
		if (err != nil) != tc.wantErr {
			t.Errorf("DialectFor(%q) error = %v, want error %v", tc.version, err, tc.wantErr)
			continue
		}
		if d.LowCardinality != tc.lowCard || d.TTL != tc.ttl {
			t.Errorf("DialectFor(%q) = %+v, want LowCardinality %v, TTL %v", tc.version, d, tc.lowCard, tc.ttl)
		}
	}
}

// TestRenderGolden keeps the DDL each dialect gets in testdata, for review.
// Regenerate with: go test ./internal/clickhouse -run TestRenderGolden -update
func TestRenderGolden(t *testing.T) {
	ms, err := clickhouse.Migrations()
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
	ms, _ := clickhouse.Migrations()
	d, _ := clickhouse.DialectFor("26.7")
	if _, err := ms[0].Statements(d, "x; DROP DATABASE y"); err == nil {
		t.Error("a database name with SQL in it was accepted")
	}
	if _, err := clickhouse.ReferralFactsSQL("a.b", asOf); err == nil {
		t.Error("ReferralFactsSQL accepted a qualified name")
	}
}

func TestSplitStatements(t *testing.T) {
	got := clickhouse.SplitStatements("-- a comment;\nCREATE TABLE a\n(x UInt8);\n\n-- another\nSELECT 'a;b' ;  \nSELECT 1")
	want := []string{"CREATE TABLE a\n(x UInt8)", "SELECT 'a;b'", "SELECT 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("SplitStatements = %q, want %q", got, want)
	}
}

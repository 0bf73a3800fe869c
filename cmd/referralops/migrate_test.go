package main

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/referralops/referralops/schema"
)

// runPrint runs `referralops args...` with stdout captured. The DSN points at
// a port where nothing listens, so a command that tried to connect would fail.
func runPrint(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stdout")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved := os.Stdout
	os.Stdout = f
	var errBuf bytes.Buffer
	code = run(append(args, "--clickhouse-dsn", "clickhouse://127.0.0.1:1/referralops"), io.Discard, &errBuf)
	os.Stdout = saved
	out, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(out), errBuf.String()
}

// TestMigratePrintCluster: `migrate --print --cluster c1` prints the
// replicated variant, exactly the reviewed golden file of the current dialect,
// without connecting to ClickHouse.
func TestMigratePrintCluster(t *testing.T) {
	code, out, errOut := runPrint(t, "migrate", "--print", "--cluster", "c1")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, err := os.ReadFile("../../schema/testdata/schema-cluster-26.7.2.1.sql")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("migrate --print --cluster c1 differs from schema/testdata/schema-cluster-26.7.2.1.sql:\n%.2000s", out)
	}
}

// TestMigratePrintSingleNode: without --cluster, --print shows the single-node
// schema of the chosen server version: the reviewed golden file's statements,
// in order, between the bookkeeping that Migrate adds.
func TestMigratePrintSingleNode(t *testing.T) {
	for _, version := range []string{"18.16.1", "26.7.2.1"} {
		code, out, errOut := runPrint(t, "migrate", "--print", "--server-version", version)
		if code != exitOK {
			t.Fatalf("%s: exit %d: %s", version, code, errOut)
		}
		golden, err := os.ReadFile("../../schema/testdata/schema-" + version + ".sql")
		if err != nil {
			t.Fatal(err)
		}
		var stmts []string
		for _, s := range schema.SplitStatements(out) {
			if !strings.Contains(s, ".schema_migrations") && s != "CREATE DATABASE IF NOT EXISTS referralops" {
				stmts = append(stmts, s)
			}
		}
		if want := schema.SplitStatements(string(golden)); !slices.Equal(stmts, want) {
			t.Errorf("%s: migrate --print has %d schema statements, differing from the %d of schema-%s.sql", version, len(stmts), len(want), version)
		}
		if strings.Contains(out, "ON CLUSTER") || strings.Contains(out, "_local") {
			t.Errorf("%s: the single-node schema mentions a cluster", version)
		}
		if !strings.HasPrefix(out, "-- schema_migrations\nCREATE DATABASE IF NOT EXISTS referralops;\n") {
			t.Errorf("%s: does not start by creating the database:\n%.200s", version, out)
		}
	}
}

func TestMigrateInvalidFlagsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster", "prod-1"}, `cluster: "prod-1" is not a plain identifier`},
		{[]string{"--print", "--server-version", "latest"}, "server-version"},
	} {
		code, out, errOut := runPrint(t, append([]string{"migrate"}, tc.args...)...)
		if code != exitBadConfig || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("migrate %v: exit %d, stdout %q, stderr %q; want exit %d naming %q", tc.args, code, out, errOut, exitBadConfig, tc.want)
		}
	}
}

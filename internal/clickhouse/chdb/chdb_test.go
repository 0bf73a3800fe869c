package chdb_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/referralops/referralops/internal/clickhouse/chdb"
)

func TestSession(t *testing.T) {
	if err := chdb.Load(); err != nil {
		if os.Getenv("REFERRALOPS_REQUIRE_SERVERS") == "1" {
			t.Fatalf("%v (REFERRALOPS_REQUIRE_SERVERS=1, so this is a failure)", err)
		}
		t.Skipf("%v; set REFERRALOPS_REQUIRE_SERVERS=1 to make this a failure", err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	s, err := chdb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chdb.Open(t.TempDir()); !errors.Is(err, chdb.ErrSessionOpen) {
		t.Errorf("second Open: %v, want ErrSessionOpen", err)
	}
	out, err := s.Query(ctx, "SELECT 1 + 1, 'a\tb'", "TSV")
	if err != nil || string(out) != "2\ta\\tb\n" {
		t.Errorf("Query = %q, %v", out, err)
	}
	if _, err := s.Query(ctx, "SELECT no_such_function()", "TSV"); err == nil || !strings.Contains(err.Error(), "UNKNOWN_FUNCTION") {
		t.Errorf("bad query error = %v, want UNKNOWN_FUNCTION", err)
	}
	if out, err := s.Query(ctx, "CREATE DATABASE IF NOT EXISTS x", "TSV"); err != nil || len(out) != 0 {
		t.Errorf("DDL = %q, %v", out, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Query(cancelled, "SELECT 1", "TSV"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, "SELECT 1", "TSV"); err == nil {
		t.Error("query after Close succeeded")
	}
}

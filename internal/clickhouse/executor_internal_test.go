package clickhouse

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

func TestParseTSV(t *testing.T) {
	got, err := parseTSV([]byte("a\\tb\t1\t\\N\nx\\\\y\\n\\'q\\'\t\t2026-03-01 00:00:00\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"a\tb", "1", `\N`}, {"x\\y\n'q'", "", "2026-03-01 00:00:00"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("parseTSV = %q, want %q", got, want)
	}
	if _, err := parseTSV([]byte("bad\\")); err == nil {
		t.Error("a dangling backslash was accepted")
	}
	if rows, _ := parseTSV(nil); len(rows) != 0 {
		t.Errorf("empty output gave %q", rows)
	}
}

func TestIsAlreadyExists(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("wrapped: %w", &proto.Exception{Code: 57, Message: "Table x.y already exists"}), true},
		{&proto.Exception{Code: 82, Message: "Database x already exists"}, true},
		{&proto.Exception{Code: 60, Message: "Table x.y doesn't exist"}, false},
		{errors.New("Code: 57. DB::Exception: Table x.y already exists. (TABLE_ALREADY_EXISTS)"), true},
		{errors.New("Code: 570. DB::Exception: something else"), false},
	} {
		if got := isAlreadyExists(tc.err); got != tc.want {
			t.Errorf("isAlreadyExists(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestInsertValuesRefused(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO db.t (a, b) VALUES (1, 2)":      true,
		"insert into t values (1)":                   true,
		"INSERT INTO t(a) VALUES (1)":                true,
		"INSERT INTO db.t (a) SELECT 1":              false,
		"INSERT INTO db.t\nSELECT x FROM db.values":  false,
		"SELECT 'INSERT INTO t VALUES' AS something": false,
	} {
		if got := insertValues.MatchString(q); got != want {
			t.Errorf("%q: refused = %v, want %v", q, got, want)
		}
	}
}

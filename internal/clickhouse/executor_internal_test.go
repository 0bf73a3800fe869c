package clickhouse

import (
	"slices"
	"testing"
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

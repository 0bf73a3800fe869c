package ingest

import "testing"

func TestInsertFailureString(t *testing.T) {
	for _, c := range []struct {
		f    InsertFailure
		want string
	}{
		{InsertFailure{}, "no answer from ClickHouse"},
		{InsertFailure{Code: "242"}, "ClickHouse exception code 242"},
		{InsertFailure{Code: "242", Shard: "01", Replica: "s1r1"}, "ClickHouse exception code 242 on shard 01 replica s1r1"},
		{InsertFailure{Code: "242", Server: "10.0.0.4:9000", Shard: "2", Replica: "1"}, "ClickHouse exception code 242 on shard 2 replica 1 (10.0.0.4:9000)"},
		{InsertFailure{Code: "210", Server: "10.0.0.4:9000"}, "ClickHouse exception code 210 on 10.0.0.4:9000"},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.f, got, c.want)
		}
	}
	m := receivedFrom.FindStringSubmatch("Table is in readonly mode. Received from 127.0.0.1:9104. DB::Exception: ...")
	if m == nil || m[1] != "127.0.0.1" || m[2] != "9104" {
		t.Errorf("receivedFrom: %q", m)
	}
}

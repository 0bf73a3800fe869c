package metrics

import (
	"errors"
	"fmt"
	"testing"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// TestLoggable: ClickHouse server messages lose what follows their first
// colon, which can quote a query and the ids in it.
func TestLoggable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("dial tcp 127.0.0.1:9000: connect: connection refused"), "dial tcp 127.0.0.1:9000: connect: connection refused"},
		{fmt.Errorf("kpi cohort as of T in db: %w", &ch.Exception{Code: 81, Message: "Database db doesn't exist"}),
			"kpi cohort as of T in db: clickhouse exception 81: Database db doesn't exist"},
		{fmt.Errorf("kpi referrers: %w", &ch.Exception{Code: 62, Message: "Syntax error: failed at position 9 ('NPI-1234567'): 'NPI-1234567')"}),
			"kpi referrers: clickhouse exception 62: Syntax error"},
	} {
		if got := loggable(tc.err); got != tc.want {
			t.Errorf("loggable(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

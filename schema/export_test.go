package schema

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/referralops/referralops/internal/clickhouse"
)

// ExecOnce is Migrate's statement runner, for tests that re-run a
// migration's statements the way Migrate does after a crash.
var ExecOnce = execOnce

// SetKPIStateReferralsPerStatement sets the bound of a pass's statements, for
// a test of a pass in several buckets; it returns the previous one.
func SetKPIStateReferralsPerStatement(n int64) int64 {
	old := kpiStateReferralsPerStatement
	kpiStateReferralsPerStatement = n
	return old
}

// PassKPIStateVersion0 passes every touch of db up to the server's now as the
// ingesters of the release before migration 0020 did: each state table's
// statement and the index's, no created_key, recorded without a state
// version.
func PassKPIStateVersion0(ctx context.Context, exec clickhouse.Executor, db string) error {
	rows, err := exec.Query(ctx, "SELECT toString(toInt64(now()))")
	if err != nil {
		return err
	}
	now, err := strconv.ParseInt(rows[0][0], 10, 64)
	if err != nil {
		return err
	}
	tmpl, err := kpiStateTemplate()
	if err != nil {
		return err
	}
	d := kpiStateData{DB: db, To: now, Buckets: 1}
	names := append(slices.Clone(KPIStateTables), "index_referral_facts", "index_appointment_facts")
	if name, err := execKPIStateStatements(ctx, exec, tmpl, d, names); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return exec.Exec(ctx, fmt.Sprintf("INSERT INTO %s.kpi_state_passes (covered_to, passed_at) SELECT toDateTime(%d, 'UTC'), now()", db, now))
}

package schema

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
